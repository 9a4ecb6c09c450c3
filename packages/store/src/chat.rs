//! Rooms, memberships, messages and read pointers.
//!
//! Writes of messages, edits, deletes and read pointers are idempotent and order-insensitive,
//! because in the distributed mode they arrive from a queue that may redeliver and reorder:
//! inserting a message twice is a no-op, an older edit never overwrites a newer one, a delete
//! is final, and a read pointer only moves forward.
//!
//! Every change to an existing message carries the room's change counter `rev`, given where
//! `seq` is given (the sequencer); a change applies only over an older `rev`, so the newest one
//! wins whatever order changes arrive in.

use async_trait::async_trait;
use models::Timestamp;
use std::collections::HashMap;

use models::chat::{FileRef, Message, Notifications, RoomKind};

use crate::Result;

/// A stored room.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RoomRecord {
    pub id: String,
    pub kind: RoomKind,
    pub name: String,
    pub created_by: String,
    pub created_at: Timestamp,
    /// For direct rooms, the two user ids sorted and joined by `:`; unique, so one pair has one
    /// room however many times it is asked for.
    pub direct_key: Option<String>,
    /// Member user ids, in the order they joined.
    pub members: Vec<String>,
    /// The highest `seq` stored for the room (0 when none).
    pub last_seq: u64,
    /// The highest change `rev` stored for the room (0 when none).
    pub rev: u64,
    /// The later of the room's creation and its newest stored message.
    pub last_activity: Timestamp,
}

/// A room as one member sees it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MemberRoom {
    pub room: RoomRecord,
    /// That member's read pointer (0 when none).
    pub last_read_seq: u64,
}

/// Which page of a room's history.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Page {
    /// The newest `limit` messages with `seq < before` (or the newest of all when `None`),
    /// returned ascending.
    Before(Option<u64>),
    /// The oldest `limit` messages with `seq > after`, ascending.
    After(u64),
}

/// A message before it has its `seq`: what the embedded sequencer
/// ([`crate::SqliteStore::sequence_message`]) numbers and stores in one step.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NewMessage {
    pub id: String,
    pub room_id: String,
    pub sender_id: String,
    /// Chosen by the sender; a second message with the same sender and client id in the room
    /// is a retry, answered with the first one.
    pub client_id: String,
    pub body: String,
    pub attachments: Vec<FileRef>,
    pub reply_to: Option<String>,
    pub created_at: Timestamp,
    /// The members the body mentions, and whether it mentions the whole room.
    pub mentions: Vec<String>,
    pub mentions_room: bool,
    /// The thread's root, for a reply in a thread.
    pub thread_id: Option<String>,
}

impl NewMessage {
    /// The stored form once sequenced: never edited, not deleted.
    pub fn into_message(self, seq: u64) -> Message {
        Message {
            id: self.id,
            room_id: self.room_id,
            seq,
            sender_id: self.sender_id,
            client_id: self.client_id,
            body: self.body,
            attachments: self.attachments,
            reply_to: self.reply_to,
            created_at: self.created_at,
            edited_at: None,
            deleted: false,
            rev: 0,
            reactions: Vec::new(),
            mentions: self.mentions,
            mentions_room: self.mentions_room,
            thread_id: self.thread_id,
            thread: None,
            reply_preview: None,
        }
    }
}

/// A change to an existing message, as its sender's node made it from the state it read.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MessageChange {
    /// The message's whole new state; its `rev` is ignored (the change gets the room's next).
    pub message: Message,
    /// The `rev` of the state the change was made from: if the message changed since, the
    /// change is refused as [`ChangeOutcome::Stale`] and the caller reads and tries again.
    pub base_rev: u64,
}

/// What became of a [`MessageChange`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ChangeOutcome {
    /// Applied: the message's new state with its new `rev`.
    Applied(Box<Message>),
    /// The message changed after the state the change was made from.
    Stale,
    /// The message is deleted (a delete is final) or unknown.
    Gone,
}

/// What an idempotent batch insert did.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Inserted {
    pub inserted: usize,
    /// Already stored (same room and seq, or same room, sender and client id).
    pub duplicates: usize,
}

#[async_trait]
pub trait ChatStore: Send + Sync + 'static {
    /// Stores a new room with its members; [`crate::Error::Duplicate`] when a direct room for
    /// the same pair exists.
    ///
    /// A member listed twice is stored once, at its first place.
    async fn create_room(&self, room: &RoomRecord) -> Result<()>;
    /// The room with this id, members included.
    async fn room(&self, room_id: &str) -> Result<Option<RoomRecord>>;
    /// The room's member ids in join order, `None` for an unknown room: what a reader that needs
    /// only the members (the push sender, once per message) asks for. A store may answer it
    /// from memory, kept exact by its own membership writes.
    async fn room_members(&self, room_id: &str) -> Result<Option<Vec<String>>> {
        Ok(self.room(room_id).await?.map(|room| room.members))
    }
    /// The direct room of a pair, by its [`RoomRecord::direct_key`].
    async fn direct_room(&self, direct_key: &str) -> Result<Option<RoomRecord>>;
    /// The user's rooms with their read pointers, most recent activity first.
    async fn rooms_of(&self, user_id: &str) -> Result<Vec<MemberRoom>>;
    /// The user's read pointer in one room, or `None` when not a member.
    async fn membership(&self, room_id: &str, user_id: &str) -> Result<Option<u64>>;
    /// Adds a member, last in join order, with read pointer 0; `false` when already one (or
    /// when the room does not exist).
    async fn add_member(&self, room_id: &str, user_id: &str) -> Result<bool>;
    /// Removes a member and their read pointer; `false` when not one.
    async fn remove_member(&self, room_id: &str, user_id: &str) -> Result<bool>;

    /// Inserts messages, skipping those already stored, and moves each room's `last_seq` and
    /// `last_activity` up to what it now holds.
    async fn insert_messages(&self, messages: &[Message]) -> Result<Inserted>;
    /// One message of a room, deleted ones included.
    async fn message(&self, room_id: &str, message_id: &str) -> Result<Option<Message>>;
    /// A page of a thread's replies, ascending by `seq`, at most `limit` long.
    async fn thread_messages(
        &self,
        room_id: &str,
        root_id: &str,
        page: Page,
        limit: usize,
    ) -> Result<Vec<Message>>;
    /// Those of `ids` that are messages of the room, in no particular order.
    async fn messages_by_id(&self, room_id: &str, ids: &[String]) -> Result<Vec<Message>>;
    /// The message a sender already sent with this client id, if any.
    async fn message_by_client_id(
        &self,
        room_id: &str,
        sender_id: &str,
        client_id: &str,
    ) -> Result<Option<Message>>;
    /// A page of history, ascending by `seq`, at most `limit` long.
    async fn messages(&self, room_id: &str, page: Page, limit: usize) -> Result<Vec<Message>>;
    /// Takes `message`'s body, `edited_at`, reactions, mentions, thread summary and `rev` if its
    /// `rev` is newer than the stored one and the message is not deleted; stores the whole message when it is not
    /// stored yet (its creation may come later, and is then a duplicate). Moves the room's
    /// `rev` up to it. `false` when nothing changed (older `rev`, deleted).
    async fn apply_change(&self, message: &Message) -> Result<bool>;
    /// Marks the message deleted at `rev` and clears its body, attachments and reactions; moves
    /// the room's `rev` up to it. `false` when unknown or already deleted.
    async fn apply_delete(&self, room_id: &str, message_id: &str, rev: u64) -> Result<bool>;
    /// The messages with `seq <= max_seq` that changed after `after_rev`, ascending by `rev`, at
    /// most `limit`.
    async fn changed_messages(
        &self,
        room_id: &str,
        after_rev: u64,
        max_seq: u64,
        limit: usize,
    ) -> Result<Vec<Message>>;
    /// How many messages after `after_seq` not sent by `user_id` and not deleted mention the
    /// user or the whole room.
    async fn unread_mentions(&self, room_id: &str, user_id: &str, after_seq: u64) -> Result<u64>;
    /// The member's notification setting for the room (the default, `all`, until set).
    async fn notifications(&self, room_id: &str, user_id: &str) -> Result<Notifications> {
        let ids = [user_id.to_string()];
        Ok(self
            .notifications_of(room_id, &ids)
            .await?
            .remove(user_id)
            .unwrap_or_default())
    }
    /// Sets the member's notification setting for the room.
    async fn set_notifications(
        &self,
        room_id: &str,
        user_id: &str,
        setting: &Notifications,
    ) -> Result<()>;
    /// The settings of those of `user_ids` who set one for the room.
    async fn notifications_of(
        &self,
        room_id: &str,
        user_ids: &[String],
    ) -> Result<HashMap<String, Notifications>>;
    /// Every member's read pointer, in join order.
    async fn reads(&self, room_id: &str) -> Result<Vec<(String, u64)>>;

    /// Records that the writer stored every event handed off before the barrier `id`.
    async fn record_barrier(&self, id: &str) -> Result<()>;
    /// Whether the barrier `id` was recorded.
    async fn barrier_recorded(&self, id: &str) -> Result<bool>;
    /// Moves the read pointer forward to `seq`; a lower `seq` changes nothing (`false`), nor
    /// does a user who is not a member.
    async fn set_read(&self, room_id: &str, user_id: &str, seq: u64) -> Result<bool>;
}
