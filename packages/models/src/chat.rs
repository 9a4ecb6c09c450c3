//! Rooms, messages and files as clients see them.

use serde::{Deserialize, Serialize};

use crate::{Timestamp, UserId};

pub type RoomId = String;
pub type MessageId = String;
pub type FileId = String;

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum RoomKind {
    Direct,
    Group,
}

/// `Room`; `last_read_seq` and `unread` are for the caller.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Room {
    pub id: RoomId,
    pub kind: RoomKind,
    pub name: String,
    pub created_by: UserId,
    pub created_at: Timestamp,
    pub members: Vec<UserId>,
    pub last_seq: u64,
    /// The room's change counter: raised by every change to an existing message.
    pub rev: u64,
    pub last_read_seq: u64,
    pub unread: u64,
}

/// `RoomInfo`: a [`Room`] without the caller's fields, as `room:updated` carries it to every
/// member.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct RoomInfo {
    pub id: RoomId,
    pub kind: RoomKind,
    pub name: String,
    pub created_by: UserId,
    pub created_at: Timestamp,
    pub members: Vec<UserId>,
    pub last_seq: u64,
    pub rev: u64,
}

impl From<Room> for RoomInfo {
    fn from(room: Room) -> Self {
        RoomInfo {
            id: room.id,
            kind: room.kind,
            name: room.name,
            created_by: room.created_by,
            created_at: room.created_at,
            members: room.members,
            last_seq: room.last_seq,
            rev: room.rev,
        }
    }
}

/// A file as a message shows it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct FileRef {
    pub id: FileId,
    pub filename: String,
    pub content_type: String,
    pub size: u64,
}

/// `Message`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Message {
    pub id: MessageId,
    pub room_id: RoomId,
    pub seq: u64,
    pub sender_id: UserId,
    pub client_id: String,
    pub body: String,
    pub attachments: Vec<FileRef>,
    pub reply_to: Option<MessageId>,
    pub created_at: Timestamp,
    pub edited_at: Option<Timestamp>,
    pub deleted: bool,
    /// The room's `rev` when this message last changed; 0 if it never did.
    #[serde(default)]
    pub rev: u64,
}

impl Message {
    /// The message as deleted: it keeps its place (`seq`) but loses its body and files.
    pub fn into_deleted(mut self) -> Message {
        self.deleted = true;
        self.body.clear();
        self.attachments.clear();
        self
    }
}

/// Whether a file's bytes are in place: `pending` until `complete` has checked the stored
/// object, `ready` after.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum FileStatus {
    Pending,
    Ready,
}

/// `File`: an attachment's metadata. `filename` is only a label (sanitized), never a path.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct File {
    pub id: FileId,
    pub room_id: RoomId,
    pub uploader_id: UserId,
    pub filename: String,
    pub content_type: String,
    pub size: u64,
    pub status: FileStatus,
    pub created_at: Timestamp,
}

impl File {
    /// The file as a message shows it.
    pub fn to_ref(&self) -> FileRef {
        FileRef {
            id: self.id.clone(),
            filename: self.filename.clone(),
            content_type: self.content_type.clone(),
            size: self.size,
        }
    }
}
