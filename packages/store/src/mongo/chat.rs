//! [`ChatStore`] on MongoDB.
//!
//! - `rooms`: one document per room, `_id` = room id, with its `members` as an array of user
//!   ids in join order and the counters `last_seq` / `last_activity`, which only ever move up
//!   (`$max`). `direct_key` is present on direct rooms only, under a unique index partial to
//!   documents that have it.
//! - `messages`: `_id` = message id; unique on `(room_id, seq)` and on
//!   `(room_id, sender_id, client_id)`, which is what makes inserts idempotent.
//! - `read_pointers`: `_id` = `"<room_id>:<user_id>"` (ids contain no `:`, as
//!   [`RoomRecord::direct_key`] already relies on), `seq` moved forward with `$max`.
//!
//! There are no multi-document transactions: each write is one atomic document update, and the
//! few two-step writes are ordered so that a crash in between is repaired by the retry the
//! queue makes anyway.

use std::collections::{HashMap, HashSet};

use async_trait::async_trait;
use models::Timestamp;
use models::chat::{
    FileRef, Message, Notifications, NotifyLevel, Reaction, RoomKind, ThreadSummary,
};
use mongodb::IndexModel;
use mongodb::bson::{Bson, Document, doc};
use mongodb::error::ErrorKind;
use mongodb::options::IndexOptions;
use serde::de::Error as _;
use serde::{Deserialize, Deserializer, Serialize};

use super::{DUPLICATE_KEY, MongoStore, map_err};
use crate::chat::{ChatStore, Inserted, MemberRoom, Page, RoomRecord};
use crate::{Error, Result};

/// A room as stored.
#[derive(Debug, Serialize, Deserialize)]
pub(super) struct RoomDoc {
    #[serde(rename = "_id")]
    id: String,
    kind: RoomKind,
    name: String,
    created_by: String,
    created_at: i64,
    /// Absent (not null) on groups: the unique index only covers documents that have it.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    direct_key: Option<String>,
    members: Vec<String>,
    last_seq: i64,
    last_activity: i64,
    /// The highest change stored; absent on rooms stored before changes were counted.
    #[serde(default)]
    rev: i64,
}

impl RoomDoc {
    fn new(room: &RoomRecord) -> Result<Self> {
        let mut seen = HashSet::new();
        let members = room
            .members
            .iter()
            .filter(|m| seen.insert(m.as_str()))
            .cloned()
            .collect();
        Ok(RoomDoc {
            id: room.id.clone(),
            kind: room.kind,
            name: room.name.clone(),
            created_by: room.created_by.clone(),
            created_at: room.created_at.millis(),
            direct_key: room.direct_key.clone(),
            members,
            last_seq: to_i64(room.last_seq, "last_seq")?,
            last_activity: room.last_activity.millis(),
            rev: to_i64(room.rev, "rev")?,
        })
    }

    fn into_record(self) -> Result<RoomRecord> {
        Ok(RoomRecord {
            id: self.id,
            kind: self.kind,
            name: self.name,
            created_by: self.created_by,
            created_at: Timestamp::from_millis(self.created_at),
            direct_key: self.direct_key,
            members: self.members,
            last_seq: to_u64(self.last_seq, "last_seq")?,
            last_activity: Timestamp::from_millis(self.last_activity),
            rev: to_u64(self.rev, "rev")?,
        })
    }
}

/// A message as stored.
#[derive(Debug, Serialize, Deserialize)]
pub(super) struct MessageDoc {
    #[serde(rename = "_id")]
    id: String,
    room_id: String,
    seq: i64,
    sender_id: String,
    client_id: String,
    body: String,
    attachments: Vec<FileDoc>,
    reply_to: Option<String>,
    created_at: i64,
    edited_at: Option<i64>,
    /// The room's `rev` when the message last changed (0: never): the key changes are ordered
    /// by. Always present (messages stored before it are given 0 when the indexes are made), so
    /// one `{rev: {$lt: r}}` is exact; "missing or lower" would need an `$or`, which nx-27017
    /// mis-applies in `update_one`.
    #[serde(default)]
    rev: i64,
    /// Read leniently: nx-27017 hands back a `$set` `true` as the integer 1.
    #[serde(deserialize_with = "lenient_bool")]
    deleted: bool,
    /// Absent on messages without reactions (and on those stored before reactions existed).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    reactions: Vec<ReactionDoc>,
    /// Absent on messages that mention nobody.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    mentions: Vec<String>,
    #[serde(
        default,
        skip_serializing_if = "is_false",
        deserialize_with = "lenient_bool"
    )]
    mentions_room: bool,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    thread_id: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    thread: Option<ThreadDoc>,
}

/// A thread's summary as stored: a [`ThreadSummary`] with its numbers as BSON's.
#[derive(Debug, Serialize, Deserialize)]
pub(super) struct ThreadDoc {
    reply_count: i64,
    last_reply_at: i64,
    participant_ids: Vec<String>,
}

impl ThreadDoc {
    fn new(t: &ThreadSummary) -> Result<Self> {
        Ok(ThreadDoc {
            reply_count: to_i64(t.reply_count, "reply_count")?,
            last_reply_at: t.last_reply_at.millis(),
            participant_ids: t.participant_ids.clone(),
        })
    }

    fn into_summary(self) -> Result<ThreadSummary> {
        Ok(ThreadSummary {
            reply_count: to_u64(self.reply_count, "reply_count")?,
            last_reply_at: Timestamp::from_millis(self.last_reply_at),
            participant_ids: self.participant_ids,
        })
    }
}

fn is_false(b: &bool) -> bool {
    !*b
}

/// A reaction as stored: a [`Reaction`] without its count (the number of its users).
#[derive(Debug, Serialize, Deserialize)]
pub(super) struct ReactionDoc {
    emoji: String,
    user_ids: Vec<String>,
}

impl ReactionDoc {
    fn new(r: &Reaction) -> Self {
        ReactionDoc {
            emoji: r.emoji.clone(),
            user_ids: r.user_ids.clone(),
        }
    }

    fn into_reaction(self) -> Reaction {
        Reaction {
            emoji: self.emoji,
            count: self.user_ids.len() as u32,
            user_ids: self.user_ids,
        }
    }
}

/// The reactions of a message as a `$set` value.
fn reactions_bson(reactions: &[Reaction]) -> Result<Bson> {
    let docs: Vec<ReactionDoc> = reactions.iter().map(ReactionDoc::new).collect();
    mongodb::bson::to_bson(&docs).map_err(|e| Error::Internal(format!("encoding reactions: {e}")))
}

impl MessageDoc {
    fn new(m: &Message) -> Result<Self> {
        Ok(MessageDoc {
            id: m.id.clone(),
            room_id: m.room_id.clone(),
            seq: to_i64(m.seq, "seq")?,
            sender_id: m.sender_id.clone(),
            client_id: m.client_id.clone(),
            body: m.body.clone(),
            attachments: m
                .attachments
                .iter()
                .map(FileDoc::new)
                .collect::<Result<_>>()?,
            reply_to: m.reply_to.clone(),
            created_at: m.created_at.millis(),
            edited_at: m.edited_at.map(Timestamp::millis),
            rev: to_i64(m.rev, "rev")?,
            deleted: m.deleted,
            reactions: m.reactions.iter().map(ReactionDoc::new).collect(),
            mentions: m.mentions.clone(),
            mentions_room: m.mentions_room,
            thread_id: m.thread_id.clone(),
            thread: m.thread.as_ref().map(ThreadDoc::new).transpose()?,
        })
    }

    pub(super) fn into_message(self) -> Result<Message> {
        Ok(Message {
            id: self.id,
            room_id: self.room_id,
            seq: to_u64(self.seq, "seq")?,
            sender_id: self.sender_id,
            client_id: self.client_id,
            body: self.body,
            attachments: self
                .attachments
                .into_iter()
                .map(FileDoc::into_file_ref)
                .collect::<Result<_>>()?,
            reply_to: self.reply_to,
            created_at: Timestamp::from_millis(self.created_at),
            edited_at: self.edited_at.map(Timestamp::from_millis),
            deleted: self.deleted,
            rev: to_u64(self.rev, "rev")?,
            reactions: self
                .reactions
                .into_iter()
                .map(ReactionDoc::into_reaction)
                .collect(),
            mentions: self.mentions,
            mentions_room: self.mentions_room,
            thread_id: self.thread_id,
            thread: self.thread.map(ThreadDoc::into_summary).transpose()?,
            reply_preview: None,
        })
    }
}

/// An attachment as stored: a [`FileRef`] with its size as BSON's signed integer.
#[derive(Debug, Serialize, Deserialize)]
struct FileDoc {
    id: String,
    filename: String,
    content_type: String,
    size: i64,
}

impl FileDoc {
    fn new(f: &FileRef) -> Result<Self> {
        Ok(FileDoc {
            id: f.id.clone(),
            filename: f.filename.clone(),
            content_type: f.content_type.clone(),
            size: to_i64(f.size, "size")?,
        })
    }

    fn into_file_ref(self) -> Result<FileRef> {
        Ok(FileRef {
            id: self.id,
            filename: self.filename,
            content_type: self.content_type,
            size: to_u64(self.size, "size")?,
        })
    }
}

/// One member's read pointer in one room.
#[derive(Debug, Serialize, Deserialize)]
pub(super) struct ReadPointerDoc {
    /// [`pointer_id`].
    #[serde(rename = "_id")]
    id: String,
    room_id: String,
    user_id: String,
    seq: i64,
}

fn pointer_id(room_id: &str, user_id: &str) -> String {
    format!("{room_id}:{user_id}")
}

/// A boolean that may come back as a number (nx-27017 returns a `$set` `true` as 1).
fn lenient_bool<'de, D: Deserializer<'de>>(d: D) -> std::result::Result<bool, D::Error> {
    match Bson::deserialize(d)? {
        Bson::Boolean(b) => Ok(b),
        Bson::Int32(n) => Ok(n != 0),
        Bson::Int64(n) => Ok(n != 0),
        Bson::Double(n) => Ok(n != 0.0),
        other => Err(D::Error::custom(format!(
            "expected a boolean, found {other}"
        ))),
    }
}

fn to_i64(n: u64, what: &str) -> Result<i64> {
    i64::try_from(n).map_err(|_| Error::Internal(format!("{what} {n} does not fit in BSON")))
}

fn to_u64(n: i64, what: &str) -> Result<u64> {
    u64::try_from(n).map_err(|_| Error::Internal(format!("stored {what} {n} is negative")))
}

/// Matches documents whose array `field` holds `value`.
///
/// `{field: value}` means the same on a real server, but nx-27017 answers it with nothing once
/// `field` is indexed (it compares the whole array); the `$in` form works on both.
fn has(field: &str, value: &str) -> Document {
    doc! { field: { "$in": [value] } }
}

impl MongoStore {
    /// The indexes of the chat collections; called by [`MongoStore::connect`].
    pub(super) async fn create_chat_indexes(&self) -> Result<()> {
        let unique = || IndexOptions::builder().unique(true);
        let indexes = [
            (
                self.rooms.clone_with_type::<Document>(),
                // `rooms_of`: the rooms whose members include a user (multikey).
                IndexModel::builder().keys(doc! { "members": 1 }).build(),
            ),
            (
                self.rooms.clone_with_type(),
                // Partial, so groups (which have no `direct_key`) are not all "the same null".
                // nx-27017 ignores the filter but never indexes a missing field, which gives
                // the same result for documents shaped like ours.
                IndexModel::builder()
                    .keys(doc! { "direct_key": 1 })
                    .options(
                        unique()
                            .partial_filter_expression(doc! {
                                "direct_key": { "$type": "string" }
                            })
                            .build(),
                    )
                    .build(),
            ),
            (
                self.messages.clone_with_type(),
                IndexModel::builder()
                    .keys(doc! { "room_id": 1, "seq": 1 })
                    .options(unique().build())
                    .build(),
            ),
            (
                self.messages.clone_with_type(),
                IndexModel::builder()
                    .keys(doc! { "room_id": 1, "sender_id": 1, "client_id": 1 })
                    .options(unique().build())
                    .build(),
            ),
            (
                self.messages.clone_with_type(),
                // `changed_messages`: a room's changes in `rev` order.
                IndexModel::builder()
                    .keys(doc! { "room_id": 1, "rev": 1 })
                    .build(),
            ),
            (
                self.messages.clone_with_type(),
                // `thread_messages`: a thread's replies in `seq` order (sparse: only replies
                // have a `thread_id`).
                IndexModel::builder()
                    .keys(doc! { "room_id": 1, "thread_id": 1, "seq": 1 })
                    .options(IndexOptions::builder().sparse(true).build())
                    .build(),
            ),
        ];
        for (collection, index) in indexes {
            collection.create_index(index).await.map_err(map_err)?;
        }
        // Messages stored before changes were counted get `rev: 0`, so `{rev: {$lt: r}}`
        // matches them.
        self.messages
            .update_many(
                doc! { "rev": { "$exists": false } },
                doc! { "$set": { "rev": 0_i64 } },
            )
            .await
            .map_err(map_err)?;
        Ok(())
    }

    /// `writer_barriers`: `_id` = the barrier's id, `at` = when it was recorded.
    fn barriers(&self) -> mongodb::Collection<Document> {
        self.db.collection("writer_barriers")
    }

    /// A page of the messages `filter` selects, ascending by `seq`, at most `limit` long.
    async fn page_of(
        &self,
        mut filter: Document,
        page: Page,
        limit: usize,
    ) -> Result<Vec<Message>> {
        // MongoDB reads `limit(0)` as "no limit".
        if limit == 0 {
            return Ok(Vec::new());
        }
        // A bound past the largest storable seq acts as that largest one.
        let bound = |seq: u64| i64::try_from(seq).unwrap_or(i64::MAX);
        let newest_first = match page {
            Page::Before(None) => true,
            Page::Before(Some(before)) => {
                filter.insert("seq", doc! { "$lt": bound(before) });
                true
            }
            Page::After(after) => {
                filter.insert("seq", doc! { "$gt": bound(after) });
                false
            }
        };
        let cursor = self
            .messages
            .find(filter)
            .sort(doc! { "seq": if newest_first { -1 } else { 1 } })
            .limit(i64::try_from(limit).unwrap_or(i64::MAX))
            .await
            .map_err(map_err)?;
        let mut messages = collect_messages(cursor).await?;
        if newest_first {
            messages.reverse();
        }
        Ok(messages)
    }

    /// Members' notification settings, `_id` = `room_id:user_id`.
    fn notification_settings(&self) -> mongodb::Collection<Document> {
        self.db.collection("notification_settings")
    }

    /// Raises a room's change counter to at least `rev`.
    async fn raise_room_rev(&self, room_id: &str, rev: u64) -> Result<()> {
        self.rooms
            .update_one(
                doc! { "_id": room_id },
                doc! { "$max": { "rev": to_i64(rev, "rev")? } },
            )
            .await
            .map_err(map_err)?;
        Ok(())
    }

    async fn read_pointer(&self, room_id: &str, user_id: &str) -> Result<u64> {
        let pointer = self
            .read_pointers
            .find_one(doc! { "_id": pointer_id(room_id, user_id) })
            .await
            .map_err(map_err)?;
        pointer.map_or(Ok(0), |p| to_u64(p.seq, "read pointer"))
    }

    async fn is_member(&self, room_id: &str, user_id: &str) -> Result<bool> {
        let mut filter = has("members", user_id);
        filter.insert("_id", room_id);
        let found = self
            .rooms
            .clone_with_type::<Document>()
            .find_one(filter)
            .projection(doc! { "_id": 1 })
            .await
            .map_err(map_err)?;
        Ok(found.is_some())
    }

    /// Deletes a read pointer: on leaving, and on joining, in case a leave was interrupted
    /// between its two steps.
    async fn drop_read_pointer(&self, room_id: &str, user_id: &str) -> Result<()> {
        self.read_pointers
            .delete_one(doc! { "_id": pointer_id(room_id, user_id) })
            .await
            .map_err(map_err)?;
        Ok(())
    }

    /// Raises a room's `last_seq` and `last_activity` to at least these.
    async fn raise_room(&self, room_id: &str, seq: u64, activity: i64) -> Result<()> {
        let seq = to_i64(seq, "seq")?;
        self.rooms
            .update_one(
                doc! { "_id": room_id },
                doc! { "$max": { "last_seq": seq, "last_activity": activity } },
            )
            .await
            .map_err(map_err)?;
        Ok(())
    }

    /// Raises a room's counters to its newest stored message (and `activity`, the newest
    /// `created_at` just inserted). Derived from what is stored rather than from the batch, so
    /// a retry also repairs an earlier attempt that stopped between insert and update.
    async fn bump_room(&self, room_id: &str, activity: Option<i64>) -> Result<()> {
        let newest = self
            .messages
            .find_one(doc! { "room_id": room_id })
            .sort(doc! { "seq": -1 })
            .await
            .map_err(map_err)?;
        let Some(newest) = newest else {
            return Ok(());
        };
        let activity = activity.map_or(newest.created_at, |a| a.max(newest.created_at));
        self.rooms
            .update_one(
                doc! { "_id": room_id },
                doc! { "$max": { "last_seq": newest.seq, "last_activity": activity } },
            )
            .await
            .map_err(map_err)?;
        Ok(())
    }
}

/// Collects a cursor of stored messages into [`Message`]s.
pub(super) async fn collect_messages(
    mut cursor: mongodb::Cursor<MessageDoc>,
) -> Result<Vec<Message>> {
    let mut messages = Vec::new();
    while cursor.advance().await.map_err(map_err)? {
        let doc = cursor.deserialize_current().map_err(map_err)?;
        messages.push(doc.into_message()?);
    }
    Ok(messages)
}

#[async_trait]
impl ChatStore for MongoStore {
    async fn create_room(&self, room: &RoomRecord) -> Result<()> {
        // One document: the direct key's uniqueness and the members land together or not at all.
        self.rooms
            .insert_one(RoomDoc::new(room)?)
            .await
            .map_err(map_err)?;
        Ok(())
    }

    async fn room(&self, room_id: &str) -> Result<Option<RoomRecord>> {
        let found = self
            .rooms
            .find_one(doc! { "_id": room_id })
            .await
            .map_err(map_err)?;
        found.map(RoomDoc::into_record).transpose()
    }

    async fn direct_room(&self, direct_key: &str) -> Result<Option<RoomRecord>> {
        let found = self
            .rooms
            .find_one(doc! { "direct_key": direct_key })
            .await
            .map_err(map_err)?;
        found.map(RoomDoc::into_record).transpose()
    }

    async fn rooms_of(&self, user_id: &str) -> Result<Vec<MemberRoom>> {
        let mut cursor = self
            .rooms
            .find(has("members", user_id))
            .sort(doc! { "last_activity": -1, "_id": 1 })
            .await
            .map_err(map_err)?;
        let mut rooms = Vec::new();
        while cursor.advance().await.map_err(map_err)? {
            rooms.push(
                cursor
                    .deserialize_current()
                    .map_err(map_err)?
                    .into_record()?,
            );
        }
        if rooms.is_empty() {
            return Ok(Vec::new());
        }

        let ids: Vec<String> = rooms.iter().map(|r| pointer_id(&r.id, user_id)).collect();
        let mut cursor = self
            .read_pointers
            .find(doc! { "_id": { "$in": ids } })
            .await
            .map_err(map_err)?;
        let mut pointers = HashMap::new();
        while cursor.advance().await.map_err(map_err)? {
            let p = cursor.deserialize_current().map_err(map_err)?;
            pointers.insert(p.room_id, to_u64(p.seq, "read pointer")?);
        }
        Ok(rooms
            .into_iter()
            .map(|room| MemberRoom {
                last_read_seq: pointers.get(&room.id).copied().unwrap_or(0),
                room,
            })
            .collect())
    }

    async fn membership(&self, room_id: &str, user_id: &str) -> Result<Option<u64>> {
        if !self.is_member(room_id, user_id).await? {
            return Ok(None);
        }
        self.read_pointer(room_id, user_id).await.map(Some)
    }

    async fn add_member(&self, room_id: &str, user_id: &str) -> Result<bool> {
        // `$addToSet` appends (join order) unless present; `modified_count` says which.
        let added = self
            .rooms
            .update_one(
                doc! { "_id": room_id },
                doc! { "$addToSet": { "members": user_id } },
            )
            .await
            .map_err(map_err)?;
        if added.modified_count == 0 {
            return Ok(false);
        }
        self.drop_read_pointer(room_id, user_id).await?;
        Ok(true)
    }

    async fn remove_member(&self, room_id: &str, user_id: &str) -> Result<bool> {
        let removed = self
            .rooms
            .update_one(
                doc! { "_id": room_id },
                doc! { "$pull": { "members": user_id } },
            )
            .await
            .map_err(map_err)?;
        if removed.modified_count == 0 {
            return Ok(false);
        }
        self.drop_read_pointer(room_id, user_id).await?;
        Ok(true)
    }

    async fn insert_messages(&self, messages: &[Message]) -> Result<Inserted> {
        if messages.is_empty() {
            return Ok(Inserted::default());
        }
        let docs = messages
            .iter()
            .map(MessageDoc::new)
            .collect::<Result<Vec<_>>>()?;
        // Unordered: one duplicate does not stop the rest. What was stored is read from the
        // write errors, not from the inserted ids: nx-27017 reports no inserted ids at all when
        // some of the batch failed, though it wrote the others.
        let duplicates: HashSet<usize> = match self.messages.insert_many(docs).ordered(false).await
        {
            Ok(_) => HashSet::new(),
            Err(e) => match e.kind.as_ref() {
                ErrorKind::InsertMany(failure)
                    if failure.write_concern_error.is_none()
                        && failure
                            .write_errors
                            .iter()
                            .flatten()
                            .all(|w| w.code == DUPLICATE_KEY) =>
                {
                    failure
                        .write_errors
                        .iter()
                        .flatten()
                        .map(|w| w.index)
                        .collect()
                }
                _ => return Err(map_err(e)),
            },
        };

        // Per room: the newest seq and `created_at` this call stored, and whether some of its
        // messages were already there.
        #[derive(Default)]
        struct Stored {
            seq: Option<u64>,
            activity: Option<i64>,
            duplicates: bool,
        }
        let mut rooms: HashMap<&str, Stored> = HashMap::new();
        for (i, m) in messages.iter().enumerate() {
            let room = rooms.entry(m.room_id.as_str()).or_default();
            if duplicates.contains(&i) {
                room.duplicates = true;
            } else {
                room.seq = room.seq.max(Some(m.seq));
                room.activity = room.activity.max(Some(m.created_at.millis()));
            }
        }
        for (room_id, stored) in rooms {
            match (stored.duplicates, stored.seq, stored.activity) {
                // Everything new: the batch itself says how far the room got.
                (false, Some(seq), Some(activity)) => {
                    self.raise_room(room_id, seq, activity).await?
                }
                // A redelivery: read what is stored, which also repairs an earlier attempt
                // that stopped between the insert and the room's update.
                _ => self.bump_room(room_id, stored.activity).await?,
            }
        }
        Ok(Inserted {
            inserted: messages.len() - duplicates.len(),
            duplicates: duplicates.len(),
        })
    }

    async fn message(&self, room_id: &str, message_id: &str) -> Result<Option<Message>> {
        let found = self
            .messages
            .find_one(doc! { "_id": message_id, "room_id": room_id })
            .await
            .map_err(map_err)?;
        found.map(MessageDoc::into_message).transpose()
    }

    async fn set_notifications(
        &self,
        room_id: &str,
        user_id: &str,
        setting: &Notifications,
    ) -> Result<()> {
        let level = mongodb::bson::to_bson(&setting.level)
            .map_err(|e| Error::Internal(format!("encoding a level: {e}")))?;
        self.notification_settings()
            .update_one(
                doc! { "_id": pointer_id(room_id, user_id) },
                doc! { "$set": {
                    "room_id": room_id,
                    "user_id": user_id,
                    "level": level,
                    "muted_until": setting.muted_until.map(Timestamp::millis),
                } },
            )
            .upsert(true)
            .await
            .map_err(map_err)?;
        Ok(())
    }

    async fn notifications_of(
        &self,
        room_id: &str,
        user_ids: &[String],
    ) -> Result<HashMap<String, Notifications>> {
        if user_ids.is_empty() {
            return Ok(HashMap::new());
        }
        let ids: Vec<String> = user_ids.iter().map(|u| pointer_id(room_id, u)).collect();
        let mut cursor = self
            .notification_settings()
            .find(doc! { "_id": { "$in": ids } })
            .await
            .map_err(map_err)?;
        let mut found = HashMap::new();
        while cursor.advance().await.map_err(map_err)? {
            let doc = cursor.deserialize_current().map_err(map_err)?;
            let user_id = doc.get_str("user_id").unwrap_or_default().to_string();
            let level = doc
                .get("level")
                .and_then(|b| mongodb::bson::from_bson::<NotifyLevel>(b.clone()).ok())
                .unwrap_or_default();
            let muted_until = match doc.get("muted_until") {
                Some(Bson::Int64(ms)) => Some(Timestamp::from_millis(*ms)),
                Some(Bson::Int32(ms)) => Some(Timestamp::from_millis(i64::from(*ms))),
                _ => None,
            };
            found.insert(user_id, Notifications { level, muted_until });
        }
        Ok(found)
    }

    async fn unread_mentions(&self, room_id: &str, user_id: &str, after_seq: u64) -> Result<u64> {
        let after = i64::try_from(after_seq).unwrap_or(i64::MAX);
        self.messages
            .count_documents(doc! {
                "room_id": room_id,
                "seq": { "$gt": after },
                "deleted": false,
                "sender_id": { "$ne": user_id },
                "$or": [ { "mentions": user_id }, { "mentions_room": true } ],
            })
            .await
            .map_err(map_err)
    }

    async fn messages_by_id(&self, room_id: &str, ids: &[String]) -> Result<Vec<Message>> {
        if ids.is_empty() {
            return Ok(Vec::new());
        }
        let cursor = self
            .messages
            .find(doc! { "_id": { "$in": ids }, "room_id": room_id })
            .await
            .map_err(map_err)?;
        collect_messages(cursor).await
    }

    async fn message_by_client_id(
        &self,
        room_id: &str,
        sender_id: &str,
        client_id: &str,
    ) -> Result<Option<Message>> {
        let found = self
            .messages
            .find_one(doc! { "room_id": room_id, "sender_id": sender_id, "client_id": client_id })
            .await
            .map_err(map_err)?;
        found.map(MessageDoc::into_message).transpose()
    }

    async fn thread_messages(
        &self,
        room_id: &str,
        root_id: &str,
        page: Page,
        limit: usize,
    ) -> Result<Vec<Message>> {
        self.page_of(
            doc! { "room_id": room_id, "thread_id": root_id },
            page,
            limit,
        )
        .await
    }

    async fn messages(&self, room_id: &str, page: Page, limit: usize) -> Result<Vec<Message>> {
        self.page_of(doc! { "room_id": room_id }, page, limit).await
    }

    async fn apply_change(&self, message: &Message) -> Result<bool> {
        let rev = to_i64(message.rev, "rev")?;
        let applied = self
            .messages
            .update_one(
                doc! {
                    "_id": &message.id,
                    "room_id": &message.room_id,
                    "deleted": false,
                    "rev": { "$lt": rev },
                },
                doc! { "$set": {
                    "body": &message.body,
                    "edited_at": message.edited_at.map(Timestamp::millis),
                    "rev": rev,
                    "reactions": reactions_bson(&message.reactions)?,
                    "mentions": &message.mentions,
                    "mentions_room": message.mentions_room,
                    "thread": match &message.thread {
                        Some(t) => mongodb::bson::to_bson(&ThreadDoc::new(t)?)
                            .map_err(|e| Error::Internal(format!("encoding a thread: {e}")))?,
                        None => Bson::Null,
                    },
                } },
            )
            .await
            .map_err(map_err)?;
        let mut changed = applied.matched_count == 1;
        if !changed {
            // Not stored yet (its creation comes later and is then a duplicate), or already at
            // this change or a newer one, or deleted: the insert is a no-op for the last two.
            changed = self
                .insert_messages(std::slice::from_ref(message))
                .await?
                .inserted
                == 1;
        }
        if changed {
            self.raise_room_rev(&message.room_id, message.rev).await?;
        }
        Ok(changed)
    }

    async fn apply_delete(&self, room_id: &str, message_id: &str, rev: u64) -> Result<bool> {
        // `deleted: false` matches neither `true` nor nx-27017's stored 1. A delete is the
        // message's last change, so its `rev` is the highest it will have.
        let deleted = self
            .messages
            .update_one(
                doc! { "_id": message_id, "room_id": room_id, "deleted": false },
                doc! { "$set": {
                    "deleted": true,
                    "body": "",
                    "attachments": [],
                    "reactions": [],
                    "mentions": [],
                    "mentions_room": false,
                    "rev": to_i64(rev, "rev")?,
                } },
            )
            .await
            .map_err(map_err)?;
        let changed = deleted.matched_count == 1;
        if changed {
            self.raise_room_rev(room_id, rev).await?;
        }
        Ok(changed)
    }

    async fn changed_messages(
        &self,
        room_id: &str,
        after_rev: u64,
        max_seq: u64,
        limit: usize,
    ) -> Result<Vec<Message>> {
        if limit == 0 {
            return Ok(Vec::new());
        }
        let cursor = self
            .messages
            .find(doc! {
                "room_id": room_id,
                "rev": { "$gt": to_i64(after_rev, "rev")? },
                "seq": { "$lte": i64::try_from(max_seq).unwrap_or(i64::MAX) },
            })
            .sort(doc! { "rev": 1 })
            .limit(i64::try_from(limit).unwrap_or(i64::MAX))
            .await
            .map_err(map_err)?;
        collect_messages(cursor).await
    }

    async fn reads(&self, room_id: &str) -> Result<Vec<(String, u64)>> {
        let Some(room) = self.room(room_id).await? else {
            return Ok(Vec::new());
        };
        let mut cursor = self
            .read_pointers
            .find(doc! { "room_id": room_id })
            .await
            .map_err(map_err)?;
        let mut by_user: HashMap<String, i64> = HashMap::new();
        while cursor.advance().await.map_err(map_err)? {
            let pointer = cursor.deserialize_current().map_err(map_err)?;
            by_user.insert(pointer.user_id, pointer.seq);
        }
        room.members
            .into_iter()
            .map(|user| {
                let seq = by_user.get(&user).copied().unwrap_or(0);
                Ok((user, to_u64(seq, "read pointer")?))
            })
            .collect()
    }

    async fn record_barrier(&self, id: &str) -> Result<()> {
        let barriers = self.barriers();
        match barriers
            .insert_one(doc! { "_id": id, "at": Timestamp::now().millis() })
            .await
        {
            Ok(_) => Ok(()),
            Err(e) => match map_err(e) {
                // Recorded already: a redelivered barrier.
                Error::Duplicate(_) => Ok(()),
                other => Err(other),
            },
        }
    }

    async fn barrier_recorded(&self, id: &str) -> Result<bool> {
        let found = self
            .barriers()
            .find_one(doc! { "_id": id })
            .await
            .map_err(map_err)?;
        Ok(found.is_some())
    }

    async fn set_read(&self, room_id: &str, user_id: &str, seq: u64) -> Result<bool> {
        // Every pointer starts at 0, so 0 never moves one; and only members have one.
        if seq == 0 || !self.is_member(room_id, user_id).await? {
            return Ok(false);
        }
        let seq = to_i64(seq, "seq")?;
        let id = pointer_id(room_id, user_id);
        let update = doc! {
            "$max": { "seq": seq },
            "$setOnInsert": { "room_id": room_id, "user_id": user_id },
        };
        let first = self
            .read_pointers
            .update_one(doc! { "_id": &id }, update.clone())
            .upsert(true)
            .await
            .map_err(map_err);
        let moved = match first {
            Ok(r) => r,
            // Two first reads racing to create the pointer: the loser updates the winner's.
            Err(Error::Duplicate(_)) => self
                .read_pointers
                .update_one(doc! { "_id": &id }, update)
                .await
                .map_err(map_err)?,
            Err(e) => return Err(e),
        };
        Ok(moved.upserted_id.is_some() || moved.modified_count == 1)
    }
}
