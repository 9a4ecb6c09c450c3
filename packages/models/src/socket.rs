//! The Socket.IO events of namespace `/`: what clients send (with an acknowledgement) and what
//! the server emits to them, with their event names.

use serde::{Deserialize, Serialize};

use crate::UserId;
use crate::chat::{Message, MessageId, Room, RoomId, RoomInfo};

/// Names of the events clients send.
pub mod client {
    pub const SEND: &str = "message:send";
    pub const EDIT: &str = "message:edit";
    pub const DELETE: &str = "message:delete";
    pub const READ: &str = "read";
    pub const SYNC: &str = "sync";
    pub const TYPING: &str = "typing";
    pub const REACTION_ADD: &str = "reaction:add";
    pub const REACTION_REMOVE: &str = "reaction:remove";
}

/// Names of the events the server emits.
pub mod server {
    pub const MESSAGE: &str = "message";
    pub const MESSAGE_UPDATED: &str = "message:updated";
    pub const MESSAGE_DELETED: &str = "message:deleted";
    pub const TYPING: &str = "typing";
    pub const READ: &str = "read";
    pub const PRESENCE: &str = "presence";
    pub const ROOM_ADDED: &str = "room:added";
    pub const ROOM_REMOVED: &str = "room:removed";
    pub const ROOM_UPDATED: &str = "room:updated";
}

/// `message:send`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct SendPayload {
    pub room_id: RoomId,
    pub client_id: String,
    #[serde(default)]
    pub body: String,
    #[serde(default)]
    pub attachments: Vec<String>,
    #[serde(default)]
    pub reply_to: Option<MessageId>,
    /// A reply in the thread of this message.
    #[serde(default)]
    pub thread_id: Option<MessageId>,
}

/// `message:edit`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct EditPayload {
    pub room_id: RoomId,
    pub message_id: MessageId,
    pub body: String,
}

/// `reaction:add` and `reaction:remove`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ReactionPayload {
    pub room_id: RoomId,
    pub message_id: MessageId,
    pub emoji: String,
}

/// `message:delete`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct DeletePayload {
    pub room_id: RoomId,
    pub message_id: MessageId,
}

/// `read`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ReadPayload {
    pub room_id: RoomId,
    pub seq: u64,
}

/// `typing`, from the client.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct TypingPayload {
    pub room_id: RoomId,
    pub typing: bool,
}

/// `sync`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct SyncPayload {
    pub rooms: Vec<SyncCursor>,
}

/// Where a client stands in one room: the highest `seq` it has and the highest `rev` it saw.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct SyncCursor {
    pub room_id: RoomId,
    #[serde(default)]
    pub after_seq: u64,
    #[serde(default)]
    pub after_rev: u64,
}

/// One room's answer to `sync`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct SyncRoom {
    pub room_id: RoomId,
    /// Messages after the cursor's `seq`, ascending, in their current state.
    pub messages: Vec<Message>,
    pub has_more: bool,
    /// Messages up to the cursor's `seq` that changed after its `rev`, ascending by `rev`.
    pub changed: Vec<Message>,
    pub changed_more: bool,
    /// The room's current `rev`.
    pub rev: u64,
    /// Set when the room could not be synced (not a member); the rest is empty then.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub error: Option<crate::error::ErrorDetail>,
}

/// `message:deleted`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct MessageDeleted {
    pub room_id: RoomId,
    pub message_id: MessageId,
    pub seq: u64,
}

/// `typing`, to the room's other members.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Typing {
    pub room_id: RoomId,
    pub user_id: UserId,
    pub typing: bool,
}

/// `read`, to the room's members.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Read {
    pub room_id: RoomId,
    pub user_id: UserId,
    pub seq: u64,
}

/// `presence`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Presence {
    pub user_id: UserId,
    pub online: bool,
}

/// `room:removed`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct RoomRemoved {
    pub room_id: RoomId,
}

/// Everything the server emits, each with its payload: the one list of server-to-client events.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ServerEvent {
    Message(Message),
    MessageUpdated(Message),
    MessageDeleted(MessageDeleted),
    Typing(Typing),
    Read(Read),
    Presence(Presence),
    RoomAdded(Room),
    RoomRemoved(RoomRemoved),
    RoomUpdated(RoomInfo),
}

impl ServerEvent {
    /// The event's name on the wire.
    pub fn name(&self) -> &'static str {
        match self {
            ServerEvent::Message(_) => server::MESSAGE,
            ServerEvent::MessageUpdated(_) => server::MESSAGE_UPDATED,
            ServerEvent::MessageDeleted(_) => server::MESSAGE_DELETED,
            ServerEvent::Typing(_) => server::TYPING,
            ServerEvent::Read(_) => server::READ,
            ServerEvent::Presence(_) => server::PRESENCE,
            ServerEvent::RoomAdded(_) => server::ROOM_ADDED,
            ServerEvent::RoomRemoved(_) => server::ROOM_REMOVED,
            ServerEvent::RoomUpdated(_) => server::ROOM_UPDATED,
        }
    }
}

impl Serialize for ServerEvent {
    /// The payload alone, as it goes on the wire after the event's name.
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        match self {
            ServerEvent::Message(m) | ServerEvent::MessageUpdated(m) => m.serialize(s),
            ServerEvent::MessageDeleted(e) => e.serialize(s),
            ServerEvent::Typing(e) => e.serialize(s),
            ServerEvent::Read(e) => e.serialize(s),
            ServerEvent::Presence(e) => e.serialize(s),
            ServerEvent::RoomAdded(r) => r.serialize(s),
            ServerEvent::RoomRemoved(e) => e.serialize(s),
            ServerEvent::RoomUpdated(r) => r.serialize(s),
        }
    }
}
