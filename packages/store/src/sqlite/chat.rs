//! [`ChatStore`] on the SQLite file, and the embedded sequencer
//! [`SqliteStore::sequence_message`].
//!
//! A room's `last_seq` and `last_activity` are updated in the same transaction as the message
//! that moves them, so they never disagree with the `messages` table.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};

use async_trait::async_trait;
use models::Timestamp;
use models::chat::{FileRef, Message, Notifications, NotifyLevel, RoomKind};
use rusqlite::types::Type;
use rusqlite::{Connection, OptionalExtension, Row, TransactionBehavior, params};

use super::{SqliteStore, map_err, search};
use crate::chat::{
    ChangeOutcome, ChatStore, Inserted, MemberRoom, MessageChange, NewMessage, Page, RoomRecord,
};
use crate::{Error, Result};

const ROOM_COLUMNS: &str =
    "id, kind, name, created_by, created_at, direct_key, last_seq, last_activity, rev";

pub(super) const MESSAGE_COLUMNS: &str = "id, room_id, seq, sender_id, client_id, body, attachments, \
     reply_to, created_at, edited_at, deleted, rev, reactions, mentions, mentions_room, thread_id, \
     thread";

const INSERT_MESSAGE: &str = "INSERT INTO messages (id, room_id, seq, sender_id, client_id, body, \
     attachments, reply_to, created_at, edited_at, deleted, rev, reactions, mentions, mentions_room, \
     thread_id, thread)
     VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?12, ?13, ?14, ?15, ?16, ?17)";

/// Moves a room's change counter up to a stored change; never down.
const BUMP_ROOM_REV: &str = "UPDATE rooms SET rev = max(rev, ?2) WHERE id = ?1";

/// Moves a room's counters up to one stored message; never down, so the order in which
/// messages arrive does not matter.
const BUMP_ROOM: &str = "UPDATE rooms SET last_seq = max(last_seq, ?2),
     last_activity = max(last_activity, ?3) WHERE id = ?1";

/// The members of recently read rooms, so the per-message reader of members (the push sender)
/// does not queue a query behind the sequencing transactions on the connection's thread.
///
/// Kept exact by this handle's own membership writes: each drops the room's entry once it is
/// committed and bumps `generation`, and a read stores what it found only if no change happened
/// meanwhile, so an answer read before a change is never kept after it. Another connection to
/// the file (another process) is noticed by SQLite's `data_version` before each call on the
/// connection's thread, which empties the cache (see `notice_other_writers`).
#[derive(Default)]
pub(super) struct MembersCache {
    rooms: HashMap<String, Vec<String>>,
    generation: u64,
    /// The file's `data_version` last seen by the connection's thread.
    data_version: i64,
}

/// Entries kept before the cache starts over.
const MEMBERS_CACHE_ROOMS: usize = 50_000;

pub(super) type SharedMembersCache = Arc<Mutex<MembersCache>>;

/// Empties `cache` when another connection committed to the file since the last call: what
/// it changed may include memberships. Run on the connection's thread before each call.
pub(super) fn notice_other_writers(conn: &Connection, cache: &SharedMembersCache) {
    let version = conn
        .prepare_cached("PRAGMA data_version")
        .and_then(|mut stmt| stmt.query_row([], |row| row.get::<_, i64>(0)));
    let mut cache = cache.lock().unwrap_or_else(|e| e.into_inner());
    match version {
        Ok(version) if version == cache.data_version => {}
        Ok(version) => {
            cache.data_version = version;
            cache.forget(None);
        }
        // Unknown: assume the worst.
        Err(_) => cache.forget(None),
    }
}

impl MembersCache {
    /// Drops one room's entry, or every entry, and makes reads begun before this keep nothing.
    fn forget(&mut self, room_id: Option<&str>) {
        self.generation += 1;
        match room_id {
            Some(room_id) => {
                self.rooms.remove(room_id);
            }
            None => self.rooms.clear(),
        }
    }
}

impl SqliteStore {
    fn cached_members(&self, room_id: &str) -> (Option<Vec<String>>, u64) {
        let cache = self.members.lock().unwrap_or_else(|e| e.into_inner());
        (cache.rooms.get(room_id).cloned(), cache.generation)
    }

    fn keep_members(&self, room_id: &str, members: &[String], generation: u64) {
        let mut cache = self.members.lock().unwrap_or_else(|e| e.into_inner());
        if cache.generation != generation {
            return;
        }
        if cache.rooms.len() >= MEMBERS_CACHE_ROOMS {
            cache.rooms.clear();
        }
        cache.rooms.insert(room_id.to_owned(), members.to_vec());
    }

    /// Runs `f`, a change of the room's members, like [`SqliteStore::call`], then drops the
    /// room's cached members, whatever `f` returned (a failed call may still have committed).
    async fn change_members<T, F>(&self, room_id: &str, f: F) -> Result<T>
    where
        F: FnOnce(&mut Connection) -> rusqlite::Result<T> + Send + 'static,
        T: Send + 'static,
    {
        let changed = self.call(f).await;
        self.members
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .forget(Some(room_id));
        changed
    }

    /// The embedded sequencer: stores `message` as the room's next `seq`, or returns the message
    /// this sender already sent with the same `client_id` and `false` (a retry).
    ///
    /// One `BEGIN IMMEDIATE` transaction takes the write lock before reading `last_seq`, so
    /// concurrent callers, in this process or another one on the same file, get contiguous
    /// numbers without gaps or repeats. Calls that arrive while one is waiting for the
    /// connection share its transaction (group commit: one write of the log for all of them),
    /// each in a savepoint of its own, so one failing call fails only itself. An unknown room
    /// is [`Error::Internal`]: callers check membership first.
    pub async fn sequence_message(&self, message: NewMessage) -> Result<(Message, bool)> {
        let attachments = attachments_json(&message.attachments)?;
        let room_id = message.room_id.clone();
        let (reply, answer) = tokio::sync::oneshot::channel();
        let first = {
            let mut queue = self.sequencing.lock().unwrap_or_else(|e| e.into_inner());
            queue.push(ToSequence {
                message,
                attachments,
                reply,
            });
            queue.len() == 1
        };
        if first {
            // The first of a group queues the transaction; it takes whatever has gathered by
            // the time the connection is free.
            let queue = self.sequencing.clone();
            self.submit(move |conn| sequence_group(conn, &queue))?;
        }
        let outcome = answer
            .await
            .map_err(|_| Error::Internal("the sequencing transaction failed".into()))??;
        outcome.ok_or_else(|| Error::Internal(format!("sequencing into unknown room {room_id}")))
    }
}

impl SqliteStore {
    /// The embedded sequencer's change: gives the room's next `rev` to `change` and stores the
    /// message's new state in one transaction, if the message is still at `base_rev` and not
    /// deleted.
    pub async fn change_message(&self, change: MessageChange) -> Result<ChangeOutcome> {
        let encoded = Changeable::of(&change.message)?;
        self.call(move |conn| {
            let tx = conn.transaction_with_behavior(TransactionBehavior::Immediate)?;
            let mut message = change.message;
            let current: Option<(u64, bool, i64, String)> = tx
                .prepare_cached(
                    "SELECT rev, deleted, rowid, body FROM messages WHERE id = ?1 AND room_id = ?2",
                )?
                .query_row([&message.id, &message.room_id], |row| {
                    Ok((row.get(0)?, row.get(1)?, row.get(2)?, row.get(3)?))
                })
                .optional()?;
            let outcome = match current {
                None | Some((_, true, _, _)) => ChangeOutcome::Gone,
                Some((rev, false, _, _)) if rev != change.base_rev => ChangeOutcome::Stale,
                Some((_, _, rowid, old_body)) => {
                    message.rev = tx
                        .prepare_cached(
                            "UPDATE rooms SET rev = rev + 1 WHERE id = ?1 RETURNING rev",
                        )?
                        .query_row([&message.room_id], |row| row.get(0))?;
                    if message.deleted {
                        delete_one(&tx, &message.room_id, &message.id, message.rev)?;
                    } else {
                        tx.prepare_cached(
                            "UPDATE messages SET body = ?3, attachments = ?4, edited_at = ?5,
                                                 rev = ?6, reactions = ?7, mentions = ?8,
                                                 mentions_room = ?9, thread = ?10
                             WHERE id = ?1 AND room_id = ?2",
                        )?
                        .execute(params![
                            message.id,
                            message.room_id,
                            message.body,
                            encoded.attachments,
                            message.edited_at.map(Timestamp::millis),
                            message.rev,
                            encoded.reactions,
                            encoded.mentions,
                            message.mentions_room,
                            encoded.thread
                        ])?;
                        if message.body != old_body {
                            search::index_row(&tx, rowid, &message.body)?;
                        }
                    }
                    ChangeOutcome::Applied(Box::new(message))
                }
            };
            tx.commit()?;
            Ok(outcome)
        })
        .await
    }
}

/// Marks a message deleted at `rev` (a delete is final); whether it was not deleted before.
fn delete_one(
    conn: &Connection,
    room_id: &str,
    message_id: &str,
    rev: u64,
) -> rusqlite::Result<bool> {
    let changed = conn
        .prepare_cached(
            "UPDATE messages SET deleted = 1, body = '', attachments = '[]', reactions = '[]',
                                 mentions = '[]', mentions_room = 0, rev = max(rev, ?3)
             WHERE id = ?1 AND room_id = ?2 AND deleted = 0",
        )?
        .execute(params![message_id, room_id, rev])?;
    if changed == 1 {
        search::unindex_message(conn, message_id)?;
    }
    Ok(changed == 1)
}

/// One call to [`SqliteStore::sequence_message`] waiting for its group's transaction.
pub(super) struct ToSequence {
    message: NewMessage,
    attachments: String,
    reply: tokio::sync::oneshot::Sender<Result<Option<(Message, bool)>>>,
}

/// The calls gathered so far, taken by the next group transaction.
pub(super) type SequenceQueue = std::sync::Arc<std::sync::Mutex<Vec<ToSequence>>>;

/// Sequences every gathered call in one transaction and answers each after the commit.
fn sequence_group(conn: &mut Connection, queue: &SequenceQueue) {
    let group = std::mem::take(&mut *queue.lock().unwrap_or_else(|e| e.into_inner()));
    let mut answers = Vec::with_capacity(group.len());
    let committed = (|| {
        let mut tx = conn.transaction_with_behavior(TransactionBehavior::Immediate)?;
        for call in group {
            let outcome = {
                let sp = tx.savepoint()?;
                let outcome = sequence_one(&sp, call.message, &call.attachments);
                if outcome.is_ok() {
                    sp.commit()?;
                }
                outcome
            };
            answers.push((call.reply, outcome));
        }
        tx.commit()
    })();
    match committed {
        Ok(()) => {
            for (reply, outcome) in answers {
                let _ = reply.send(outcome.map_err(map_err));
            }
        }
        Err(e) => {
            // Nothing of the group is stored: every call fails (their senders retry). The
            // calls not answered yet fail with it as they are dropped.
            let error = map_err(e);
            for (reply, _) in answers {
                let _ = reply.send(Err(error.clone()));
            }
        }
    }
}

/// One message of a group: the original of a retry, or the message stored as the room's next
/// `seq`; `None` for an unknown room.
fn sequence_one(
    tx: &Connection,
    message: NewMessage,
    attachments: &str,
) -> rusqlite::Result<Option<(Message, bool)>> {
    if let Some(original) =
        by_client_id(tx, &message.room_id, &message.sender_id, &message.client_id)?
    {
        return Ok(Some((original, false)));
    }
    let last_seq: Option<u64> = tx
        .prepare_cached("SELECT last_seq FROM rooms WHERE id = ?1")?
        .query_row([&message.room_id], |row| row.get(0))
        .optional()?;
    let Some(last_seq) = last_seq else {
        return Ok(None);
    };
    let message = message.into_message(last_seq + 1);
    insert_message(tx, &message, attachments)?;
    tx.prepare_cached(BUMP_ROOM)?.execute(params![
        message.room_id,
        message.seq,
        message.created_at.millis()
    ])?;
    Ok(Some((message, true)))
}

/// `value` as the JSON text a column holds.
fn to_json<T: serde::Serialize + ?Sized>(what: &str, value: &T) -> Result<String> {
    serde_json::to_string(value).map_err(|e| Error::Internal(format!("encoding {what}: {e}")))
}

fn attachments_json(attachments: &[FileRef]) -> Result<String> {
    to_json("attachments", attachments)
}

/// What a change may alter in a message, encoded for its JSON columns.
struct Changeable {
    attachments: String,
    reactions: String,
    mentions: String,
    thread: Option<String>,
}

impl Changeable {
    fn of(message: &Message) -> Result<Self> {
        Ok(Changeable {
            attachments: attachments_json(&message.attachments)?,
            reactions: to_json("reactions", &message.reactions)?,
            mentions: to_json("mentions", &message.mentions)?,
            thread: message
                .thread
                .as_ref()
                .map(|t| to_json("a thread", t))
                .transpose()?,
        })
    }
}

fn level_name(level: NotifyLevel) -> &'static str {
    match level {
        NotifyLevel::All => "all",
        NotifyLevel::Mentions => "mentions",
        NotifyLevel::None => "none",
    }
}

fn level_of(name: &str) -> NotifyLevel {
    match name {
        "mentions" => NotifyLevel::Mentions,
        "none" => NotifyLevel::None,
        _ => NotifyLevel::All,
    }
}

fn kind_name(kind: RoomKind) -> &'static str {
    match kind {
        RoomKind::Direct => "direct",
        RoomKind::Group => "group",
    }
}

/// A room row without its members, which [`members_of`] adds.
fn room_from_row(row: &Row<'_>) -> rusqlite::Result<RoomRecord> {
    let kind = match row.get_ref(1)?.as_str()? {
        "direct" => RoomKind::Direct,
        "group" => RoomKind::Group,
        other => {
            return Err(rusqlite::Error::FromSqlConversionFailure(
                1,
                Type::Text,
                format!("unknown room kind {other:?}").into(),
            ));
        }
    };
    Ok(RoomRecord {
        id: row.get(0)?,
        kind,
        name: row.get(2)?,
        created_by: row.get(3)?,
        created_at: Timestamp::from_millis(row.get(4)?),
        direct_key: row.get(5)?,
        members: Vec::new(),
        last_seq: row.get(6)?,
        last_activity: Timestamp::from_millis(row.get(7)?),
        rev: row.get(8)?,
    })
}

fn members_of(conn: &Connection, room_id: &str) -> rusqlite::Result<Vec<String>> {
    let mut stmt =
        conn.prepare_cached("SELECT user_id FROM room_members WHERE room_id = ?1 ORDER BY joined")?;
    let rows = stmt.query_map([room_id], |row| row.get(0))?;
    rows.collect()
}

/// A room with its members, where `filter` is a condition on `rooms` with one parameter.
fn load_room(conn: &Connection, filter: &str, value: &str) -> rusqlite::Result<Option<RoomRecord>> {
    let room = conn
        .query_row(
            &format!("SELECT {ROOM_COLUMNS} FROM rooms WHERE {filter} = ?1"),
            [value],
            room_from_row,
        )
        .optional()?;
    room.map(|mut room| {
        room.members = members_of(conn, &room.id)?;
        Ok(room)
    })
    .transpose()
}

pub(super) fn message_from_row(row: &Row<'_>) -> rusqlite::Result<Message> {
    let attachments = serde_json::from_str(row.get_ref(6)?.as_str()?)
        .map_err(|e| rusqlite::Error::FromSqlConversionFailure(6, Type::Text, e.into()))?;
    Ok(Message {
        id: row.get(0)?,
        room_id: row.get(1)?,
        seq: row.get(2)?,
        sender_id: row.get(3)?,
        client_id: row.get(4)?,
        body: row.get(5)?,
        attachments,
        reply_to: row.get(7)?,
        created_at: Timestamp::from_millis(row.get(8)?),
        edited_at: row.get::<_, Option<i64>>(9)?.map(Timestamp::from_millis),
        deleted: row.get(10)?,
        rev: row.get(11)?,
        reactions: serde_json::from_str(row.get_ref(12)?.as_str()?)
            .map_err(|e| rusqlite::Error::FromSqlConversionFailure(12, Type::Text, e.into()))?,
        mentions: serde_json::from_str(row.get_ref(13)?.as_str()?)
            .map_err(|e| rusqlite::Error::FromSqlConversionFailure(13, Type::Text, e.into()))?,
        mentions_room: row.get(14)?,
        thread_id: row.get(15)?,
        thread: match row.get_ref(16)?.as_str_or_null()? {
            Some(json) => Some(serde_json::from_str(json).map_err(|e| {
                rusqlite::Error::FromSqlConversionFailure(16, Type::Text, e.into())
            })?),
            None => None,
        },
        reply_preview: None,
    })
}

fn by_client_id(
    conn: &Connection,
    room_id: &str,
    sender_id: &str,
    client_id: &str,
) -> rusqlite::Result<Option<Message>> {
    conn.prepare_cached(&format!(
        "SELECT {MESSAGE_COLUMNS} FROM messages
         WHERE room_id = ?1 AND sender_id = ?2 AND client_id = ?3"
    ))?
    .query_row([room_id, sender_id, client_id], message_from_row)
    .optional()
}

/// Inserts one message unless a uniqueness constraint already holds it (same id, same room and
/// seq, or same room, sender and client id); says whether it did.
fn insert_message_if_new(
    conn: &Connection,
    message: &Message,
    attachments: &str,
) -> rusqlite::Result<bool> {
    let sql = format!("{INSERT_MESSAGE} ON CONFLICT DO NOTHING");
    Ok(execute_insert(conn, &sql, message, attachments)? == 1)
}

/// A page of a room's messages (of one thread's replies, with `thread`), ascending by `seq`, at
/// most `limit` long. Both directions walk the (room_id, seq) index, or the thread index, from
/// the bound outwards.
fn page_of(
    conn: &Connection,
    room_id: &str,
    thread: Option<&str>,
    page: Page,
    limit: usize,
) -> rusqlite::Result<Vec<Message>> {
    let limit = i64::try_from(limit).unwrap_or(i64::MAX);
    // A bound past the largest storable seq acts as that largest one.
    let bound = |seq: u64| i64::try_from(seq).unwrap_or(i64::MAX);
    let (condition, bound, newest_first) = match page {
        Page::Before(None) => ("", None, true),
        Page::Before(Some(before)) => ("AND seq < ?2", Some(bound(before)), true),
        Page::After(after) => ("AND seq > ?2", Some(bound(after)), false),
    };
    let order = if newest_first { "DESC" } else { "ASC" };
    let in_thread = if thread.is_some() {
        "AND thread_id = ?4"
    } else {
        ""
    };
    let mut stmt = conn.prepare_cached(&format!(
        "SELECT {MESSAGE_COLUMNS} FROM messages
         WHERE room_id = ?1 {in_thread} {condition}
         ORDER BY seq {order} LIMIT ?3"
    ))?;
    // `Before(None)` has no `?2`, but a statement's parameter count is its highest number
    // (`?3` or `?4`), so binding one is harmless.
    let rows = match thread {
        Some(root) => stmt.query_map(params![room_id, bound, limit, root], message_from_row)?,
        None => stmt.query_map(params![room_id, bound, limit], message_from_row)?,
    };
    let mut messages = rows.collect::<rusqlite::Result<Vec<_>>>()?;
    if newest_first {
        messages.reverse();
    }
    Ok(messages)
}

/// `[]` without encoding for the usual empty list.
fn json_or_empty<T: serde::Serialize>(items: &[T]) -> rusqlite::Result<String> {
    if items.is_empty() {
        return Ok("[]".to_string());
    }
    serde_json::to_string(items).map_err(|e| rusqlite::Error::ToSqlConversionFailure(e.into()))
}

fn insert_message(conn: &Connection, message: &Message, attachments: &str) -> rusqlite::Result<()> {
    execute_insert(conn, INSERT_MESSAGE, message, attachments).map(drop)
}

/// Runs an insert of `message` and indexes its text once stored; how many rows it stored.
fn execute_insert(
    conn: &Connection,
    sql: &str,
    message: &Message,
    attachments: &str,
) -> rusqlite::Result<usize> {
    let stored = conn.prepare_cached(sql)?.execute(params![
        message.id,
        message.room_id,
        message.seq,
        message.sender_id,
        message.client_id,
        message.body,
        attachments,
        message.reply_to,
        message.created_at.millis(),
        message.edited_at.map(Timestamp::millis),
        message.deleted,
        message.rev,
        // New messages have none; a change stored before its message carries them.
        json_or_empty(&message.reactions)?,
        json_or_empty(&message.mentions)?,
        message.mentions_room,
        message.thread_id,
        message
            .thread
            .as_ref()
            .map(serde_json::to_string)
            .transpose()
            .map_err(|e| rusqlite::Error::ToSqlConversionFailure(e.into()))?,
    ])?;
    if stored == 1 && !message.deleted {
        search::index_row(conn, conn.last_insert_rowid(), &message.body)?;
    }
    Ok(stored)
}

#[async_trait]
impl ChatStore for SqliteStore {
    async fn create_room(&self, room: &RoomRecord) -> Result<()> {
        let room = room.clone();
        let room_id = room.id.clone();
        self.change_members(&room_id, move |conn| {
            let tx = conn.transaction()?;
            tx.execute(
                "INSERT INTO rooms (id, kind, name, created_by, created_at, direct_key, last_seq,
                                    last_activity)
                 VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8)",
                params![
                    room.id,
                    kind_name(room.kind),
                    room.name,
                    room.created_by,
                    room.created_at.millis(),
                    room.direct_key,
                    room.last_seq,
                    room.last_activity.millis(),
                ],
            )?;
            let mut add = tx.prepare_cached(
                "INSERT INTO room_members (room_id, user_id, joined) VALUES (?1, ?2, ?3)
                 ON CONFLICT DO NOTHING",
            )?;
            let mut joined = 0_i64;
            for member in &room.members {
                if add.execute(params![room.id, member, joined + 1])? == 1 {
                    joined += 1;
                }
            }
            drop(add);
            tx.commit()
        })
        .await
    }

    async fn room(&self, room_id: &str) -> Result<Option<RoomRecord>> {
        let room_id = room_id.to_owned();
        self.call(move |conn| {
            let tx = conn.transaction()?;
            let room = load_room(&tx, "id", &room_id)?;
            tx.commit()?;
            Ok(room)
        })
        .await
    }

    async fn room_members(&self, room_id: &str) -> Result<Option<Vec<String>>> {
        let (cached, generation) = self.cached_members(room_id);
        if cached.is_some() {
            return Ok(cached);
        }
        let id = room_id.to_owned();
        let members = self
            .call(move |conn| {
                let tx = conn.transaction()?;
                let exists = tx
                    .query_row("SELECT 1 FROM rooms WHERE id = ?1", [&id], |_| Ok(()))
                    .optional()?
                    .is_some();
                let members = if exists {
                    Some(members_of(&tx, &id)?)
                } else {
                    None
                };
                tx.commit()?;
                Ok(members)
            })
            .await?;
        if let Some(members) = &members {
            self.keep_members(room_id, members, generation);
        }
        Ok(members)
    }

    async fn direct_room(&self, direct_key: &str) -> Result<Option<RoomRecord>> {
        let direct_key = direct_key.to_owned();
        self.call(move |conn| {
            let tx = conn.transaction()?;
            let room = load_room(&tx, "direct_key", &direct_key)?;
            tx.commit()?;
            Ok(room)
        })
        .await
    }

    async fn rooms_of(&self, user_id: &str) -> Result<Vec<MemberRoom>> {
        let user_id = user_id.to_owned();
        self.call(move |conn| {
            // One read transaction: the list and each room's members come from one snapshot.
            let tx = conn.transaction()?;
            let mut stmt = tx.prepare_cached(
                "SELECT r.id, r.kind, r.name, r.created_by, r.created_at, r.direct_key,
                        r.last_seq, r.last_activity, r.rev, m.last_read_seq
                 FROM room_members m JOIN rooms r ON r.id = m.room_id
                 WHERE m.user_id = ?1
                 ORDER BY r.last_activity DESC, r.id",
            )?;
            let rooms = stmt
                .query_map([&user_id], |row| {
                    Ok(MemberRoom {
                        room: room_from_row(row)?,
                        last_read_seq: row.get(9)?,
                    })
                })?
                .map(|room| {
                    let mut room = room?;
                    room.room.members = members_of(&tx, &room.room.id)?;
                    Ok(room)
                })
                .collect::<rusqlite::Result<Vec<_>>>()?;
            drop(stmt);
            tx.commit()?;
            Ok(rooms)
        })
        .await
    }

    async fn membership(&self, room_id: &str, user_id: &str) -> Result<Option<u64>> {
        let (room_id, user_id) = (room_id.to_owned(), user_id.to_owned());
        self.call(move |conn| {
            conn.query_row(
                "SELECT last_read_seq FROM room_members WHERE room_id = ?1 AND user_id = ?2",
                [room_id, user_id],
                |row| row.get(0),
            )
            .optional()
        })
        .await
    }

    async fn add_member(&self, room_id: &str, user_id: &str) -> Result<bool> {
        let (id, user_id) = (room_id.to_owned(), user_id.to_owned());
        self.change_members(room_id, move |conn| {
            // One statement, so the join number is computed under the write lock. The WHERE on
            // the SELECT is also what SQLite needs to parse an upsert after INSERT ... SELECT.
            let added = conn.execute(
                "INSERT INTO room_members (room_id, user_id, joined)
                 SELECT ?1, ?2,
                        coalesce((SELECT max(joined) FROM room_members WHERE room_id = ?1), 0) + 1
                 WHERE EXISTS (SELECT 1 FROM rooms WHERE id = ?1)
                 ON CONFLICT DO NOTHING",
                [id, user_id],
            )?;
            Ok(added == 1)
        })
        .await
    }

    async fn remove_member(&self, room_id: &str, user_id: &str) -> Result<bool> {
        let (id, user_id) = (room_id.to_owned(), user_id.to_owned());
        self.change_members(room_id, move |conn| {
            let removed = conn.execute(
                "DELETE FROM room_members WHERE room_id = ?1 AND user_id = ?2",
                [id, user_id],
            )?;
            Ok(removed == 1)
        })
        .await
    }

    async fn insert_messages(&self, messages: &[Message]) -> Result<Inserted> {
        let batch = messages
            .iter()
            .map(|m| Ok((m.clone(), attachments_json(&m.attachments)?)))
            .collect::<Result<Vec<_>>>()?;
        self.call(move |conn| {
            let tx = conn.transaction_with_behavior(TransactionBehavior::Immediate)?;
            let mut outcome = Inserted::default();
            for (message, attachments) in &batch {
                if insert_message_if_new(&tx, message, attachments)? {
                    tx.prepare_cached(BUMP_ROOM)?.execute(params![
                        message.room_id,
                        message.seq,
                        message.created_at.millis()
                    ])?;
                    outcome.inserted += 1;
                } else {
                    outcome.duplicates += 1;
                }
            }
            tx.commit()?;
            Ok(outcome)
        })
        .await
    }

    async fn message(&self, room_id: &str, message_id: &str) -> Result<Option<Message>> {
        let (room_id, message_id) = (room_id.to_owned(), message_id.to_owned());
        self.call(move |conn| {
            conn.query_row(
                &format!("SELECT {MESSAGE_COLUMNS} FROM messages WHERE id = ?1 AND room_id = ?2"),
                [message_id, room_id],
                message_from_row,
            )
            .optional()
        })
        .await
    }

    async fn set_notifications(
        &self,
        room_id: &str,
        user_id: &str,
        setting: &Notifications,
    ) -> Result<()> {
        let (room_id, user_id) = (room_id.to_owned(), user_id.to_owned());
        let (level, muted_until) = (level_name(setting.level), setting.muted_until);
        self.call(move |conn| {
            conn.prepare_cached(
                "INSERT INTO notification_settings (room_id, user_id, level, muted_until)
                 VALUES (?1, ?2, ?3, ?4)
                 ON CONFLICT (room_id, user_id)
                 DO UPDATE SET level = excluded.level, muted_until = excluded.muted_until",
            )?
            .execute(params![
                room_id,
                user_id,
                level,
                muted_until.map(Timestamp::millis)
            ])
            .map(drop)
        })
        .await
    }

    async fn notifications_of(
        &self,
        room_id: &str,
        user_ids: &[String],
    ) -> Result<HashMap<String, Notifications>> {
        let (room_id, user_ids) = (room_id.to_owned(), user_ids.to_vec());
        self.call(move |conn| {
            let mut stmt = conn.prepare_cached(
                "SELECT level, muted_until FROM notification_settings
                 WHERE room_id = ?1 AND user_id = ?2",
            )?;
            let mut found = HashMap::new();
            for user_id in user_ids {
                let row = stmt
                    .query_row(params![room_id, user_id], |row| {
                        Ok((row.get::<_, String>(0)?, row.get::<_, Option<i64>>(1)?))
                    })
                    .optional()?;
                if let Some((level, muted_until)) = row {
                    found.insert(
                        user_id,
                        Notifications {
                            level: level_of(&level),
                            muted_until: muted_until.map(Timestamp::from_millis),
                        },
                    );
                }
            }
            Ok(found)
        })
        .await
    }

    async fn unread_mentions(&self, room_id: &str, user_id: &str, after_seq: u64) -> Result<u64> {
        let (room_id, user_id) = (room_id.to_owned(), user_id.to_owned());
        self.call(move |conn| {
            conn.prepare_cached(
                "SELECT COUNT(*) FROM messages
                 WHERE room_id = ?1 AND seq > ?2 AND deleted = 0 AND sender_id != ?3
                   AND (mentions_room = 1
                        OR EXISTS (SELECT 1 FROM json_each(messages.mentions) WHERE value = ?3))",
            )?
            .query_row(params![room_id, after_seq, user_id], |row| row.get(0))
        })
        .await
    }

    async fn messages_by_id(&self, room_id: &str, ids: &[String]) -> Result<Vec<Message>> {
        if ids.is_empty() {
            return Ok(Vec::new());
        }
        let (room_id, ids) = (room_id.to_owned(), ids.to_vec());
        self.call(move |conn| {
            let mut stmt = conn.prepare_cached(&format!(
                "SELECT {MESSAGE_COLUMNS} FROM messages WHERE id = ?1 AND room_id = ?2"
            ))?;
            let mut found = Vec::with_capacity(ids.len());
            for id in &ids {
                if let Some(m) = stmt
                    .query_row([id, &room_id], message_from_row)
                    .optional()?
                {
                    found.push(m);
                }
            }
            Ok(found)
        })
        .await
    }

    async fn message_by_client_id(
        &self,
        room_id: &str,
        sender_id: &str,
        client_id: &str,
    ) -> Result<Option<Message>> {
        let (room_id, sender_id, client_id) = (
            room_id.to_owned(),
            sender_id.to_owned(),
            client_id.to_owned(),
        );
        self.call(move |conn| by_client_id(conn, &room_id, &sender_id, &client_id))
            .await
    }

    async fn thread_messages(
        &self,
        room_id: &str,
        root_id: &str,
        page: Page,
        limit: usize,
    ) -> Result<Vec<Message>> {
        let (room_id, root_id) = (room_id.to_owned(), root_id.to_owned());
        self.call(move |conn| page_of(conn, &room_id, Some(&root_id), page, limit))
            .await
    }

    async fn messages(&self, room_id: &str, page: Page, limit: usize) -> Result<Vec<Message>> {
        let room_id = room_id.to_owned();
        self.call(move |conn| page_of(conn, &room_id, None, page, limit))
            .await
    }

    async fn apply_change(&self, message: &Message) -> Result<bool> {
        let message = message.clone();
        let encoded = Changeable::of(&message)?;
        self.call(move |conn| {
            let tx = conn.transaction_with_behavior(TransactionBehavior::Immediate)?;
            let mut changed =
                tx.prepare_cached(
                    "UPDATE messages SET body = ?3, edited_at = ?4, rev = ?5, reactions = ?6,
                                     mentions = ?7, mentions_room = ?8, thread = ?9
                 WHERE id = ?1 AND room_id = ?2 AND deleted = 0 AND rev < ?5",
                )?
                .execute(params![
                    message.id,
                    message.room_id,
                    message.body,
                    message.edited_at.map(Timestamp::millis),
                    message.rev,
                    encoded.reactions,
                    encoded.mentions,
                    message.mentions_room,
                    encoded.thread
                ])? == 1;
            if changed {
                search::reindex_message(&tx, &message.id)?;
            }
            if !changed && insert_message_if_new(&tx, &message, &encoded.attachments)? {
                tx.prepare_cached(BUMP_ROOM)?.execute(params![
                    message.room_id,
                    message.seq,
                    message.created_at.millis()
                ])?;
                changed = true;
            }
            if changed {
                tx.prepare_cached(BUMP_ROOM_REV)?
                    .execute(params![message.room_id, message.rev])?;
            }
            tx.commit()?;
            Ok(changed)
        })
        .await
    }

    async fn apply_delete(&self, room_id: &str, message_id: &str, rev: u64) -> Result<bool> {
        let (room_id, message_id) = (room_id.to_owned(), message_id.to_owned());
        self.call(move |conn| {
            let tx = conn.transaction_with_behavior(TransactionBehavior::Immediate)?;
            let changed = delete_one(&tx, &room_id, &message_id, rev)?;
            if changed {
                tx.prepare_cached(BUMP_ROOM_REV)?
                    .execute(params![room_id, rev])?;
            }
            tx.commit()?;
            Ok(changed)
        })
        .await
    }

    async fn changed_messages(
        &self,
        room_id: &str,
        after_rev: u64,
        max_seq: u64,
        limit: usize,
    ) -> Result<Vec<Message>> {
        let room_id = room_id.to_owned();
        let limit = i64::try_from(limit).unwrap_or(i64::MAX);
        let bound = |n: u64| i64::try_from(n).unwrap_or(i64::MAX);
        self.call(move |conn| {
            // `rev > 0` lets SQLite use the partial index on (room_id, rev).
            let mut stmt = conn.prepare_cached(&format!(
                "SELECT {MESSAGE_COLUMNS} FROM messages
                 WHERE room_id = ?1 AND rev > 0 AND rev > ?2 AND seq <= ?3
                 ORDER BY rev LIMIT ?4"
            ))?;
            let rows = stmt.query_map(
                params![room_id, bound(after_rev), bound(max_seq), limit],
                message_from_row,
            )?;
            rows.collect()
        })
        .await
    }

    async fn reads(&self, room_id: &str) -> Result<Vec<(String, u64)>> {
        let room_id = room_id.to_owned();
        self.call(move |conn| {
            let mut stmt = conn.prepare_cached(
                "SELECT user_id, last_read_seq FROM room_members WHERE room_id = ?1
                 ORDER BY joined",
            )?;
            let rows = stmt.query_map([room_id], |row| Ok((row.get(0)?, row.get(1)?)))?;
            rows.collect()
        })
        .await
    }

    async fn record_barrier(&self, id: &str) -> Result<()> {
        let id = id.to_owned();
        self.call(move |conn| {
            conn.execute(
                "INSERT INTO writer_barriers (id, at) VALUES (?1, ?2) ON CONFLICT DO NOTHING",
                params![id, Timestamp::now().millis()],
            )
            .map(drop)
        })
        .await
    }

    async fn barrier_recorded(&self, id: &str) -> Result<bool> {
        let id = id.to_owned();
        self.call(move |conn| {
            Ok(conn
                .query_row("SELECT 1 FROM writer_barriers WHERE id = ?1", [id], |_| {
                    Ok(())
                })
                .optional()?
                .is_some())
        })
        .await
    }

    async fn set_read(&self, room_id: &str, user_id: &str, seq: u64) -> Result<bool> {
        let (room_id, user_id) = (room_id.to_owned(), user_id.to_owned());
        self.call(move |conn| {
            let moved = conn.execute(
                "UPDATE room_members SET last_read_seq = ?3
                 WHERE room_id = ?1 AND user_id = ?2 AND last_read_seq < ?3",
                params![room_id, user_id, seq],
            )?;
            Ok(moved == 1)
        })
        .await
    }
}
