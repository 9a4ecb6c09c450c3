//! [`FileStore`] on the SQLite file.

use async_trait::async_trait;
use models::Timestamp;
use rusqlite::types::Type;
use rusqlite::{OptionalExtension, Row, params};

use super::SqliteStore;
use crate::Result;
use crate::files::{FileRecord, FileState, FileStore};

const FILE_COLUMNS: &str = "id, room_id, uploader_id, filename, content_type, size, state, object_key, message_id, \
     created_at";

fn file_from_row(row: &Row<'_>) -> rusqlite::Result<FileRecord> {
    let state = row.get_ref(6)?.as_str()?;
    let state = FileState::parse(state).ok_or_else(|| {
        rusqlite::Error::FromSqlConversionFailure(
            6,
            Type::Text,
            format!("unknown file state {state:?}").into(),
        )
    })?;
    Ok(FileRecord {
        id: row.get(0)?,
        room_id: row.get(1)?,
        uploader_id: row.get(2)?,
        filename: row.get(3)?,
        content_type: row.get(4)?,
        size: row.get(5)?,
        state,
        object_key: row.get(7)?,
        message_id: row.get(8)?,
        created_at: Timestamp::from_millis(row.get(9)?),
    })
}

#[async_trait]
impl FileStore for SqliteStore {
    async fn create_file(&self, file: &FileRecord) -> Result<()> {
        let file = file.clone();
        self.call(move |conn| {
            conn.execute(
                &format!("INSERT INTO files ({FILE_COLUMNS}) VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10)"),
                params![
                    file.id,
                    file.room_id,
                    file.uploader_id,
                    file.filename,
                    file.content_type,
                    file.size,
                    file.state.as_str(),
                    file.object_key,
                    file.message_id,
                    file.created_at.millis()
                ],
            )?;
            Ok(())
        })
        .await
    }

    async fn file(&self, id: &str) -> Result<Option<FileRecord>> {
        let id = id.to_owned();
        self.call(move |conn| {
            conn.query_row(
                &format!("SELECT {FILE_COLUMNS} FROM files WHERE id = ?1"),
                [id],
                file_from_row,
            )
            .optional()
        })
        .await
    }

    async fn mark_ready(&self, id: &str) -> Result<bool> {
        let id = id.to_owned();
        self.call(move |conn| {
            let changed = conn.execute(
                "UPDATE files SET state = 'ready' WHERE id = ?1 AND state = 'pending'",
                [id],
            )?;
            Ok(changed == 1)
        })
        .await
    }

    async fn attach_files(&self, ids: &[String], message_id: &str) -> Result<Vec<String>> {
        let ids = ids.to_vec();
        let message_id = message_id.to_owned();
        self.call(move |conn| {
            let tx = conn.transaction()?;
            let mut bound = Vec::new();
            for id in ids {
                let changed = tx.execute(
                    "UPDATE files SET message_id = ?2
                     WHERE id = ?1 AND state = 'ready' AND message_id IS NULL",
                    params![id, message_id],
                )?;
                if changed == 1 {
                    bound.push(id);
                }
            }
            tx.commit()?;
            Ok(bound)
        })
        .await
    }

    async fn delete_message_files(&self, message_id: &str) -> Result<usize> {
        let message_id = message_id.to_owned();
        self.call(move |conn| {
            conn.execute(
                "UPDATE files SET state = 'deleted' WHERE message_id = ?1 AND state != 'deleted'",
                [message_id],
            )
        })
        .await
    }

    async fn expire_pending(&self, before: Timestamp) -> Result<usize> {
        self.call(move |conn| {
            conn.execute(
                "UPDATE files SET state = 'deleted' WHERE state = 'pending' AND created_at < ?1",
                [before.millis()],
            )
        })
        .await
    }

    async fn deleted_files(&self, limit: usize) -> Result<Vec<FileRecord>> {
        let limit = i64::try_from(limit).unwrap_or(i64::MAX);
        self.call(move |conn| {
            let mut stmt = conn.prepare_cached(&format!(
                "SELECT {FILE_COLUMNS} FROM files WHERE state = 'deleted'
                 ORDER BY created_at, id LIMIT ?1"
            ))?;
            let rows = stmt.query_map([limit], file_from_row)?;
            rows.collect()
        })
        .await
    }

    async fn remove_file(&self, id: &str) -> Result<bool> {
        let id = id.to_owned();
        self.call(move |conn| {
            let changed = conn.execute(
                "DELETE FROM files WHERE id = ?1 AND state = 'deleted'",
                [id],
            )?;
            Ok(changed == 1)
        })
        .await
    }
}
