//! Rooms, memberships, messages and read pointers.
//!
//! Writes of messages, edits, deletes and read pointers are idempotent and order-insensitive,
//! because in the distributed mode they arrive from a queue that may redeliver and reorder:
//! inserting a message twice is a no-op, an older edit never overwrites a newer one, a delete
//! is final, and a read pointer only moves forward.

use async_trait::async_trait;
use models::Timestamp;
use models::chat::{Message, RoomKind};

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
    async fn create_room(&self, room: &RoomRecord) -> Result<()>;
    async fn room(&self, room_id: &str) -> Result<Option<RoomRecord>>;
    async fn direct_room(&self, direct_key: &str) -> Result<Option<RoomRecord>>;
    /// The user's rooms with their read pointers, most recent activity first.
    async fn rooms_of(&self, user_id: &str) -> Result<Vec<MemberRoom>>;
    /// The user's read pointer in one room, or `None` when not a member.
    async fn membership(&self, room_id: &str, user_id: &str) -> Result<Option<u64>>;
    /// Adds a member; `false` when already one.
    async fn add_member(&self, room_id: &str, user_id: &str) -> Result<bool>;
    /// Removes a member; `false` when not one.
    async fn remove_member(&self, room_id: &str, user_id: &str) -> Result<bool>;

    /// Inserts messages, skipping those already stored.
    async fn insert_messages(&self, messages: &[Message]) -> Result<Inserted>;
    async fn message(&self, room_id: &str, message_id: &str) -> Result<Option<Message>>;
    /// The message a sender already sent with this client id, if any.
    async fn message_by_client_id(
        &self,
        room_id: &str,
        sender_id: &str,
        client_id: &str,
    ) -> Result<Option<Message>>;
    /// A page of history, ascending by `seq`, at most `limit` long.
    async fn messages(&self, room_id: &str, page: Page, limit: usize) -> Result<Vec<Message>>;
    /// Replaces the body if `edited_at` is newer than the stored edit and the message is not
    /// deleted; `false` when nothing changed (unknown message, older edit, deleted).
    async fn apply_edit(
        &self,
        room_id: &str,
        message_id: &str,
        body: &str,
        edited_at: Timestamp,
    ) -> Result<bool>;
    /// Marks the message deleted and clears its body and attachments; `false` when unknown or
    /// already deleted.
    async fn apply_delete(&self, room_id: &str, message_id: &str) -> Result<bool>;
    /// Moves the read pointer forward to `seq`; a lower `seq` changes nothing (`false`).
    async fn set_read(&self, room_id: &str, user_id: &str, seq: u64) -> Result<bool>;
}
