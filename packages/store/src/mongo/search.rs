//! The distributed mode's search index: the collection `message_search`, one document per
//! message, `{_id: message id, room_id, at: created_at, terms: [..], rev}`, where `terms` are
//! the message's [`text::index_terms`] (word prefixes, characters and pairs of characters of
//! runs). A query needs every one of its [`text::query_terms`]; the multikey index
//! `{terms: 1, at: -1}` serves it. Only equality, `$in`, `$and`, `$or`, `$lt`/`$lte` and sorts
//! on indexed fields are used: each means the same on MongoDB and on nx-27017 (which mis-reads
//! equality on an array field, hence one `$in` per term rather than `$all`).
//!
//! Writes are ordered by the message's `rev`: a document is replaced only by a `rev` at least
//! its own (the filter `rev <= r` with an upsert; a newer stored `rev` makes the upsert hit the
//! `_id` and fail as a duplicate, which is the "already newer" answer). A delete leaves a
//! tombstone with no terms at the greatest `rev`, so nothing can bring the message back.

use std::collections::HashMap;

use async_trait::async_trait;
use futures_util::TryStreamExt;
use models::chat::Message;
use mongodb::IndexModel;
use mongodb::bson::{Document, doc};
use mongodb::options::UpdateOptions;

use super::chat::{MessageDoc, collect_messages};
use super::{DUPLICATE_KEY, MongoStore, map_err};
use crate::search::{Candidate, SearchCursor, SearchQuery, SearchStore, text};
use crate::{Error, Result};

/// The `rev` of a deleted message's tombstone: above any change's.
const DELETED_REV: i64 = i64::MAX;

/// The most statements in one `update` command. A statement's terms take at most about 80 KiB
/// (a body of 4,000 characters of a script without spaces: each character and pair), so a
/// command stays under the server's 16 MiB limit.
const STATEMENTS_PER_COMMAND: usize = 100;

impl MongoStore {
    fn search_index(&self) -> mongodb::Collection<Document> {
        self.db.collection("message_search")
    }

    /// The search index's index; called by [`MongoStore::connect`].
    pub(super) async fn create_search_indexes(&self) -> Result<()> {
        self.search_index()
            .create_index(
                IndexModel::builder()
                    .keys(doc! { "terms": 1, "at": -1 })
                    .build(),
            )
            .await
            .map_err(map_err)?;
        Ok(())
    }

    /// Writes each message's document unless a newer `rev` of it (or its delete) is there:
    /// one `update` command of many statements, unordered, so a batch costs one round trip.
    /// A statement that fails as a duplicate found a newer state already indexed.
    async fn index_texts(&self, messages: &[&Message]) -> Result<()> {
        let mut updates = Vec::with_capacity(messages.len());
        for message in messages {
            let rev = i64::try_from(message.rev)
                .map_err(|_| Error::Internal(format!("rev {} out of range", message.rev)))?;
            let terms = text::index_terms(&text::tokens(&message.body));
            updates.push(doc! {
                "q": { "_id": &message.id, "rev": { "$lte": rev } },
                "u": { "$set": {
                    "room_id": &message.room_id,
                    "at": message.created_at.millis(),
                    "terms": terms,
                    "rev": rev,
                } },
                "upsert": true,
            });
        }
        let reply = self
            .db
            .run_command(doc! {
                "update": self.search_index().name(),
                "updates": updates,
                "ordered": false,
            })
            .await
            .map_err(map_err)?;
        if let Ok(errors) = reply.get_array("writeErrors") {
            for error in errors {
                let code = error.as_document().and_then(|e| e.get_i32("code").ok());
                if code != Some(DUPLICATE_KEY) {
                    return Err(Error::Internal(format!("indexing for search: {error}")));
                }
            }
        }
        if let Ok(concern) = reply.get_document("writeConcernError") {
            return Err(Error::Unavailable(format!(
                "indexing for search: {concern}"
            )));
        }
        Ok(())
    }

    /// The messages of `ids` (those stored), by id.
    async fn messages_by_ids(&self, ids: &[String]) -> Result<HashMap<String, Message>> {
        let cursor = self
            .messages
            .find(doc! { "_id": { "$in": ids } })
            .await
            .map_err(map_err)?;
        Ok(collect_messages(cursor)
            .await?
            .into_iter()
            .map(|m| (m.id.clone(), m))
            .collect())
    }
}

#[async_trait]
impl SearchStore for MongoStore {
    async fn search(&self, query: &SearchQuery) -> Result<Vec<Candidate>> {
        let terms = text::query_terms(&query.text);
        if terms.is_empty() || query.rooms.is_empty() || query.limit == 0 {
            return Ok(Vec::new());
        }
        let mut all = vec![doc! { "room_id": { "$in": &query.rooms } }];
        all.extend(terms.iter().map(|t| doc! { "terms": { "$in": [t] } }));
        if let Some(before) = &query.before {
            all.push(doc! { "$or": [
                { "at": { "$lt": before.position } },
                { "at": before.position, "_id": { "$lt": &before.message_id } },
            ] });
        }
        let limit = i64::try_from(query.limit).unwrap_or(i64::MAX);
        let hits: Vec<Document> = self
            .search_index()
            .find(doc! { "$and": all })
            .sort(doc! { "at": -1, "_id": -1 })
            .limit(limit)
            .projection(doc! { "_id": 1, "at": 1 })
            .await
            .map_err(map_err)?
            .try_collect()
            .await
            .map_err(map_err)?;
        let mut order = Vec::with_capacity(hits.len());
        for hit in &hits {
            let (Ok(id), Ok(at)) = (hit.get_str("_id"), hit.get_i64("at")) else {
                return Err(Error::Internal(format!("malformed search document {hit}")));
            };
            order.push((id.to_owned(), at));
        }
        let ids: Vec<String> = order.iter().map(|(id, _)| id.clone()).collect();
        let mut messages = self.messages_by_ids(&ids).await?;
        // A message the writer has not stored yet, or deleted since, is no candidate.
        Ok(order
            .into_iter()
            .filter_map(|(id, at)| {
                let message = messages.remove(&id).filter(|m| !m.deleted)?;
                Some(Candidate {
                    message,
                    cursor: SearchCursor {
                        position: at,
                        message_id: id,
                    },
                })
            })
            .collect())
    }

    async fn index_messages(&self, messages: &[Message]) -> Result<()> {
        let (deleted, texts): (Vec<&Message>, Vec<&Message>) =
            messages.iter().partition(|m| m.deleted);
        for chunk in texts.chunks(STATEMENTS_PER_COMMAND) {
            self.index_texts(chunk).await?;
        }
        for message in deleted {
            self.unindex_message(&message.id).await?;
        }
        Ok(())
    }

    async fn unindex_message(&self, message_id: &str) -> Result<()> {
        self.search_index()
            .update_one(
                doc! { "_id": message_id },
                doc! { "$set": { "terms": Vec::<String>::new(), "rev": DELETED_REV } },
            )
            .with_options(UpdateOptions::builder().upsert(true).build())
            .await
            .map_err(map_err)?;
        Ok(())
    }

    async fn reindex(&self) -> Result<u64> {
        // Over what is there, in `rev` order like every other write, so it may run while the
        // consumer does.
        let mut cursor = self.messages.find(doc! {}).await.map_err(map_err)?;
        let mut batch = Vec::new();
        let mut indexed = 0;
        loop {
            let more = cursor.advance().await.map_err(map_err)?;
            if more {
                let doc: MessageDoc = cursor.deserialize_current().map_err(map_err)?;
                batch.push(doc.into_message()?);
            }
            if batch.len() == 500 || (!more && !batch.is_empty()) {
                indexed += batch.iter().filter(|m| !m.deleted).count() as u64;
                self.index_messages(&std::mem::take(&mut batch)).await?;
            }
            if !more {
                return Ok(indexed);
            }
        }
    }
}
