//! The embedded search index: an FTS5 table, `message_search`, with one row per stored message
//! that is not deleted. Its `rowid` is the message's row in `messages` (the order messages were
//! stored in, which is newest first when walked down), and its one column is the message's
//! text as [`text::fts_text`] writes it. The table is contentless: it keeps the index, not a
//! second copy of the text.
//!
//! Every write of a message's text writes its index row in the same transaction (see
//! [`index_row`], [`reindex_message`] and [`unindex_message`], called from the chat module),
//! so a search never misses a stored message. A `VACUUM` may renumber the `messages` rows the index points at:
//! rebuild the index after one (`SearchStore::reindex`).

use async_trait::async_trait;
use models::chat::Message;
use rusqlite::{Connection, OptionalExtension, params};

use super::SqliteStore;
use super::chat::{MESSAGE_COLUMNS, message_from_row};
use crate::Result;
use crate::search::{Candidate, SearchCursor, SearchQuery, SearchStore, text};

/// The migration that creates the table. Words keep their marks out (the text is normalised
/// before it gets here); runs are one character a token, so a phrase of characters finds a run
/// inside a run.
pub(super) const CREATE_TABLE: &str = "
    CREATE VIRTUAL TABLE IF NOT EXISTS message_search USING fts5 (
        terms,
        content = '',
        contentless_delete = 1,
        tokenize = \"unicode61 remove_diacritics 0 categories 'L* N* Co M*'\"
    );
";

/// The column after the message's in a search's rows: the index row.
const POSITION_COLUMN: usize = 17;

/// Indexes `body` as the text of the message stored at `rowid`, replacing what was there.
pub(super) fn index_row(conn: &Connection, rowid: i64, body: &str) -> rusqlite::Result<()> {
    conn.prepare_cached("DELETE FROM message_search WHERE rowid = ?1")?
        .execute([rowid])?;
    let terms = text::fts_text(&text::tokens(body));
    if terms.is_empty() {
        return Ok(());
    }
    conn.prepare_cached("INSERT INTO message_search (rowid, terms) VALUES (?1, ?2)")?
        .execute(params![rowid, terms])?;
    Ok(())
}

/// Takes message `id` out of the index (nothing if it is not there).
pub(super) fn unindex_message(conn: &Connection, id: &str) -> rusqlite::Result<()> {
    conn.prepare_cached(
        "DELETE FROM message_search WHERE rowid = (SELECT rowid FROM messages WHERE id = ?1)",
    )?
    .execute([id])?;
    Ok(())
}

/// Indexes message `id` as it is stored: its text, or nothing once it is deleted.
pub(super) fn reindex_message(conn: &Connection, id: &str) -> rusqlite::Result<()> {
    let stored: Option<(i64, bool, String)> = conn
        .prepare_cached("SELECT rowid, deleted, body FROM messages WHERE id = ?1")?
        .query_row([id], |row| Ok((row.get(0)?, row.get(1)?, row.get(2)?)))
        .optional()?;
    match stored {
        Some((_, true, _)) => unindex_message(conn, id),
        Some((rowid, false, body)) => index_row(conn, rowid, &body),
        None => Ok(()),
    }
}

/// Empties the index and indexes every stored message that is not deleted; how many.
pub(super) fn rebuild(conn: &Connection) -> rusqlite::Result<u64> {
    conn.execute("DELETE FROM message_search", [])?;
    let mut rows = conn.prepare("SELECT rowid, body FROM messages WHERE deleted = 0")?;
    let mut rows = rows.query([])?;
    let mut indexed = 0;
    while let Some(row) = rows.next()? {
        let body: String = row.get(1)?;
        index_row(conn, row.get(0)?, &body)?;
        indexed += 1;
    }
    Ok(indexed)
}

#[async_trait]
impl SearchStore for SqliteStore {
    async fn search(&self, query: &SearchQuery) -> Result<Vec<Candidate>> {
        let fts = text::fts_query(&query.text);
        let rooms = serde_json::to_string(&query.rooms)
            .map_err(|e| crate::Error::Internal(format!("encoding rooms: {e}")))?;
        let before = query.before.as_ref().map_or(i64::MAX, |c| c.position);
        let limit = i64::try_from(query.limit).unwrap_or(i64::MAX);
        self.call(move |conn| {
            // FTS5 walks its rows in descending rowid order itself, so the LIMIT stops the
            // walk early rather than sorting every match.
            let mut stmt = conn.prepare_cached(&format!(
                "SELECT {MESSAGE_COLUMNS}, message_search.rowid
                 FROM message_search JOIN messages ON messages.rowid = message_search.rowid
                 WHERE message_search MATCH ?1 AND message_search.rowid < ?2
                   AND room_id IN (SELECT value FROM json_each(?3)) AND deleted = 0
                 ORDER BY message_search.rowid DESC LIMIT ?4"
            ))?;
            let candidates = stmt
                .query_map(params![fts, before, rooms, limit], |row| {
                    let message = message_from_row(row)?;
                    let position: i64 = row.get(POSITION_COLUMN)?;
                    Ok(Candidate {
                        cursor: SearchCursor {
                            position,
                            message_id: message.id.clone(),
                        },
                        message,
                    })
                })?
                .collect::<rusqlite::Result<Vec<_>>>()?;
            Ok(candidates)
        })
        .await
    }

    async fn index_messages(&self, messages: &[Message]) -> Result<()> {
        let ids: Vec<String> = messages.iter().map(|m| m.id.clone()).collect();
        self.call(move |conn| {
            let tx = conn.transaction()?;
            // The stored message is the truth here: its own writes keep its row current, so
            // this only repairs a row, from the text as stored.
            for id in &ids {
                reindex_message(&tx, id)?;
            }
            tx.commit()
        })
        .await
    }

    async fn unindex_message(&self, message_id: &str) -> Result<()> {
        let id = message_id.to_owned();
        self.call(move |conn| unindex_message(conn, &id)).await
    }

    async fn reindex(&self) -> Result<u64> {
        self.call(|conn| {
            let tx = conn.transaction()?;
            let indexed = rebuild(&tx)?;
            tx.commit()?;
            Ok(indexed)
        })
        .await
    }
}
