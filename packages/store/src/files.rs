//! File metadata: what was declared at upload, where the bytes are, and which message (if any)
//! carries the file.
//!
//! A file's life: `pending` (declared, upload URL handed out) → `ready` (the stored object was
//! checked) → attached to one message → `deleted` when that message is deleted. Pending files
//! never completed become `deleted` after a while. A `deleted` file is invisible to clients;
//! the sweeper removes its object from storage and then its record.

use async_trait::async_trait;
use models::Timestamp;
use models::chat::{File, FileStatus};

use crate::Result;

/// A file's state as stored; clients only ever see the first two.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum FileState {
    Pending,
    Ready,
    /// Waiting for its object to be removed from storage.
    Deleted,
}

impl FileState {
    pub fn as_str(self) -> &'static str {
        match self {
            FileState::Pending => "pending",
            FileState::Ready => "ready",
            FileState::Deleted => "deleted",
        }
    }

    pub fn parse(s: &str) -> Option<Self> {
        match s {
            "pending" => Some(FileState::Pending),
            "ready" => Some(FileState::Ready),
            "deleted" => Some(FileState::Deleted),
            _ => None,
        }
    }
}

/// A stored file.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FileRecord {
    pub id: String,
    pub room_id: String,
    pub uploader_id: String,
    /// Sanitized before it is stored.
    pub filename: String,
    pub content_type: String,
    pub size: u64,
    pub state: FileState,
    /// Where the bytes are in object storage; made by the server, never from the filename.
    pub object_key: String,
    /// The message that carries the file, once attached.
    pub message_id: Option<String>,
    pub created_at: Timestamp,
}

impl FileRecord {
    /// The file as clients see it; `None` once deleted.
    pub fn to_file(&self) -> Option<File> {
        let status = match self.state {
            FileState::Pending => FileStatus::Pending,
            FileState::Ready => FileStatus::Ready,
            FileState::Deleted => return None,
        };
        Some(File {
            id: self.id.clone(),
            room_id: self.room_id.clone(),
            uploader_id: self.uploader_id.clone(),
            filename: self.filename.clone(),
            content_type: self.content_type.clone(),
            size: self.size,
            status,
            created_at: self.created_at,
        })
    }
}

#[async_trait]
pub trait FileStore: Send + Sync + 'static {
    /// Stores a new file; [`crate::Error::Duplicate`] when the id exists.
    async fn create_file(&self, file: &FileRecord) -> Result<()>;
    /// The file with this id, whatever its state.
    async fn file(&self, id: &str) -> Result<Option<FileRecord>>;
    /// `pending` → `ready`; `false` when the file is not pending (unknown, already ready,
    /// deleted).
    async fn mark_ready(&self, id: &str) -> Result<bool>;
    /// Binds each file to `message_id` if it is `ready` and not attached yet; returns the ids
    /// that were bound (one message per file, so deleting it may remove the file).
    async fn attach_files(&self, ids: &[String], message_id: &str) -> Result<Vec<String>>;
    /// Marks the files attached to the message `deleted`; returns how many.
    async fn delete_message_files(&self, message_id: &str) -> Result<usize>;
    /// Marks `pending` files created before `before` `deleted`: uploads never completed.
    /// Returns how many.
    async fn expire_pending(&self, before: Timestamp) -> Result<usize>;
    /// Up to `limit` `deleted` files, oldest first: what the sweeper removes from storage.
    async fn deleted_files(&self, limit: usize) -> Result<Vec<FileRecord>>;
    /// Forgets a `deleted` file once its object is gone; `false` when there was none.
    async fn remove_file(&self, id: &str) -> Result<bool>;
}
