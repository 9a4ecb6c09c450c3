//! [`FileStore`] on MongoDB: the `files` collection, `_id` = file id.
//!
//! `message_id` is the empty string until a message attaches the file: an exact string match
//! is atomic in one `update_one` and reads alike on every server, where `null` versus a
//! missing field does not.

use async_trait::async_trait;
use models::Timestamp;
use mongodb::IndexModel;
use mongodb::bson::doc;
use serde::{Deserialize, Serialize};

use super::{MongoStore, map_err};
use crate::files::{FileRecord, FileState, FileStore};
use crate::{Error, Result};

/// A file as stored.
#[derive(Debug, Serialize, Deserialize)]
pub(super) struct FileDoc {
    #[serde(rename = "_id")]
    id: String,
    room_id: String,
    uploader_id: String,
    filename: String,
    content_type: String,
    size: i64,
    state: String,
    object_key: String,
    /// Empty until attached.
    message_id: String,
    created_at: i64,
}

impl FileDoc {
    fn new(f: &FileRecord) -> Result<Self> {
        Ok(FileDoc {
            id: f.id.clone(),
            room_id: f.room_id.clone(),
            uploader_id: f.uploader_id.clone(),
            filename: f.filename.clone(),
            content_type: f.content_type.clone(),
            size: i64::try_from(f.size)
                .map_err(|_| Error::Internal(format!("size {} does not fit in BSON", f.size)))?,
            state: f.state.as_str().to_owned(),
            object_key: f.object_key.clone(),
            message_id: f.message_id.clone().unwrap_or_default(),
            created_at: f.created_at.millis(),
        })
    }

    fn into_record(self) -> Result<FileRecord> {
        Ok(FileRecord {
            state: FileState::parse(&self.state)
                .ok_or_else(|| Error::Internal(format!("unknown file state {:?}", self.state)))?,
            size: u64::try_from(self.size)
                .map_err(|_| Error::Internal(format!("stored size {} is negative", self.size)))?,
            id: self.id,
            room_id: self.room_id,
            uploader_id: self.uploader_id,
            filename: self.filename,
            content_type: self.content_type,
            object_key: self.object_key,
            message_id: Some(self.message_id).filter(|m| !m.is_empty()),
            created_at: Timestamp::from_millis(self.created_at),
        })
    }
}

impl MongoStore {
    /// The indexes of `files`; called by [`MongoStore::connect`].
    pub(super) async fn create_file_indexes(&self) -> Result<()> {
        for keys in [
            doc! { "message_id": 1 },
            doc! { "state": 1, "created_at": 1 },
        ] {
            self.files
                .create_index(IndexModel::builder().keys(keys).build())
                .await
                .map_err(map_err)?;
        }
        Ok(())
    }
}

#[async_trait]
impl FileStore for MongoStore {
    async fn create_file(&self, file: &FileRecord) -> Result<()> {
        self.files
            .insert_one(FileDoc::new(file)?)
            .await
            .map_err(map_err)?;
        Ok(())
    }

    async fn file(&self, id: &str) -> Result<Option<FileRecord>> {
        self.files
            .find_one(doc! { "_id": id })
            .await
            .map_err(map_err)?
            .map(FileDoc::into_record)
            .transpose()
    }

    async fn mark_ready(&self, id: &str) -> Result<bool> {
        let changed = self
            .files
            .update_one(
                doc! { "_id": id, "state": "pending" },
                doc! { "$set": { "state": "ready" } },
            )
            .await
            .map_err(map_err)?;
        Ok(changed.matched_count == 1)
    }

    async fn attach_files(&self, ids: &[String], message_id: &str) -> Result<Vec<String>> {
        let mut bound = Vec::new();
        for id in ids {
            let changed = self
                .files
                .update_one(
                    doc! { "_id": id, "state": "ready", "message_id": "" },
                    doc! { "$set": { "message_id": message_id } },
                )
                .await
                .map_err(map_err)?;
            if changed.matched_count == 1 {
                bound.push(id.clone());
            }
        }
        Ok(bound)
    }

    async fn delete_message_files(&self, message_id: &str) -> Result<usize> {
        if message_id.is_empty() {
            return Ok(0);
        }
        let changed = self
            .files
            .update_many(
                doc! { "message_id": message_id, "state": { "$ne": "deleted" } },
                doc! { "$set": { "state": "deleted" } },
            )
            .await
            .map_err(map_err)?;
        Ok(changed.matched_count as usize)
    }

    async fn expire_pending(&self, before: Timestamp) -> Result<usize> {
        let changed = self
            .files
            .update_many(
                doc! { "state": "pending", "created_at": { "$lt": before.millis() } },
                doc! { "$set": { "state": "deleted" } },
            )
            .await
            .map_err(map_err)?;
        Ok(changed.matched_count as usize)
    }

    async fn deleted_files(&self, limit: usize) -> Result<Vec<FileRecord>> {
        // MongoDB reads `limit(0)` as "no limit".
        if limit == 0 {
            return Ok(Vec::new());
        }
        let mut cursor = self
            .files
            .find(doc! { "state": "deleted" })
            .sort(doc! { "created_at": 1, "_id": 1 })
            .limit(i64::try_from(limit).unwrap_or(i64::MAX))
            .await
            .map_err(map_err)?;
        let mut files = Vec::new();
        while cursor.advance().await.map_err(map_err)? {
            files.push(
                cursor
                    .deserialize_current()
                    .map_err(map_err)?
                    .into_record()?,
            );
        }
        Ok(files)
    }

    async fn remove_file(&self, id: &str) -> Result<bool> {
        let removed = self
            .files
            .delete_one(doc! { "_id": id, "state": "deleted" })
            .await
            .map_err(map_err)?;
        Ok(removed.deleted_count == 1)
    }
}
