//! `/api/files`: declare a file and get its upload URL, complete it once uploaded, fetch its
//! metadata with a download URL. Only members of the file's room see it; to anyone else it
//! does not exist (404).

use std::time::Instant;

use axum::Router;
use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::routing::{get, post};
use models::Timestamp;
use models::chat::File;
use models::files::{CreateFile, CreatedFile, FileBody, FileDownload, Upload};
use service_kit::Json;
use storage::disposition;
use store::{FileRecord, FileState};
use token::AuthUser;

use crate::{AppState, Error, Result, sniff};

/// The longest filename accepted as sent (it is shortened further when sanitized).
const MAX_FILENAME_BYTES: usize = 1024;

pub fn router(state: AppState) -> Router {
    Router::new()
        .route("/api/files", post(create))
        .route("/api/files/{id}", get(show))
        .route("/api/files/{id}/complete", post(complete))
        .with_state(state)
}

/// `image/PNG; charset=x` → `image/png`: the essence the limits and checks compare.
fn essence(content_type: &str) -> String {
    content_type
        .split(';')
        .next()
        .unwrap_or_default()
        .trim()
        .to_ascii_lowercase()
}

async fn require_member(state: &AppState, room_id: &str, user_id: &str) -> Result<()> {
    match state.rooms.membership(room_id, user_id).await? {
        Some(_) => Ok(()),
        None => Err(Error::NotFound("room")),
    }
}

/// The file, if it exists for the caller: not deleted, and the caller a member of its room.
async fn visible_file(state: &AppState, id: &str, user_id: &str) -> Result<(FileRecord, File)> {
    let record = state.files.file(id).await?.ok_or(Error::NotFound("file"))?;
    let file = record.to_file().ok_or(Error::NotFound("file"))?;
    if state
        .rooms
        .membership(&record.room_id, user_id)
        .await?
        .is_none()
    {
        return Err(Error::NotFound("file"));
    }
    Ok((record, file))
}

async fn create(
    State(state): State<AppState>,
    user: AuthUser,
    Json(body): Json<CreateFile>,
) -> Result<(StatusCode, Json<CreatedFile>)> {
    let started = Instant::now();
    require_member(&state, &body.room_id, &user.id).await?;
    if body.filename.trim().is_empty() || body.filename.len() > MAX_FILENAME_BYTES {
        return Err(Error::Invalid(format!(
            "filename must be 1 to {MAX_FILENAME_BYTES} bytes"
        )));
    }
    if body.size == 0 {
        return Err(Error::Invalid("size must be at least 1 byte".into()));
    }
    let limits = &state.settings;
    if body.size > limits.max_size {
        return Err(Error::TooLarge(format!(
            "size {} is over the limit of {} bytes",
            body.size, limits.max_size
        )));
    }
    let content_type = essence(&body.content_type);
    if !limits.allowed_types.contains(&content_type) {
        return Err(Error::UnsupportedType(format!(
            "content_type {:?} is not allowed; allowed: {}",
            body.content_type,
            limits.allowed_types.join(", ")
        )));
    }
    let id = uuid::Uuid::now_v7().simple().to_string();
    let record = FileRecord {
        // Made here, never from the filename.
        object_key: format!("files/{id}"),
        id,
        room_id: body.room_id,
        uploader_id: user.id,
        filename: disposition::base_name(&body.filename),
        content_type,
        size: body.size,
        state: FileState::Pending,
        message_id: None,
        created_at: Timestamp::now(),
    };
    let upload = state
        .storage
        .presign_put(
            &record.object_key,
            record.size,
            &record.content_type,
            limits.upload_ttl,
        )
        .await?;
    state.files.create_file(&record).await?;
    let file = record
        .to_file()
        .ok_or_else(|| anyhow::anyhow!("a new file is not visible"))?;
    metrics::counter!("chat_files_created_total").increment(1);
    metrics::histogram!("chat_files_create_seconds").record(started.elapsed().as_secs_f64());
    Ok((
        StatusCode::CREATED,
        Json(CreatedFile {
            file,
            upload: Upload {
                method: "PUT".into(),
                url: upload.url,
                headers: upload.headers,
                expires_at: upload.expires_at,
            },
        }),
    ))
}

async fn complete(
    State(state): State<AppState>,
    user: AuthUser,
    Path(id): Path<String>,
) -> Result<Json<FileBody>> {
    let (record, file) = visible_file(&state, &id, &user.id).await?;
    if record.uploader_id != user.id {
        return Err(Error::Forbidden("only the uploader may complete a file"));
    }
    if record.state == FileState::Ready {
        return Ok(Json(FileBody { file }));
    }
    let stored = state
        .storage
        .head(&record.object_key)
        .await?
        .ok_or_else(|| Error::Conflict("nothing has been uploaded for this file yet".into()))?;
    let refusal = if stored.size != record.size {
        Some(Error::Invalid(format!(
            "the upload is {} bytes, {} were declared",
            stored.size, record.size
        )))
    } else if stored.content_type.as_deref().map(essence).as_deref()
        != Some(record.content_type.as_str())
    {
        Some(Error::UnsupportedType(format!(
            "the upload was not sent as {}",
            record.content_type
        )))
    } else {
        let prefix = state
            .storage
            .first_bytes(&record.object_key, sniff::PREFIX_LEN)
            .await?
            .unwrap_or_default();
        match sniff::matches(&record.content_type, &prefix) {
            Some(false) => Some(Error::UnsupportedType(format!(
                "the file's content is not {}",
                record.content_type
            ))),
            _ => None,
        }
    };
    if let Some(refusal) = refusal {
        // The bytes are not what was declared: nobody gets them. The upload URL, while it
        // lasts, may be used again with the right ones.
        state.storage.delete(&record.object_key).await?;
        metrics::counter!("chat_files_refused_total").increment(1);
        return Err(refusal);
    }
    if !state.files.mark_ready(&record.id).await? {
        // Expired (and swept) while we were checking it.
        return Err(Error::NotFound("file"));
    }
    metrics::counter!("chat_files_completed_total").increment(1);
    let mut file = file;
    file.status = models::chat::FileStatus::Ready;
    Ok(Json(FileBody { file }))
}

async fn show(
    State(state): State<AppState>,
    user: AuthUser,
    Path(id): Path<String>,
) -> Result<Json<FileDownload>> {
    let (record, file) = visible_file(&state, &id, &user.id).await?;
    if record.state != FileState::Ready {
        return Err(Error::Conflict(
            "the file has not been completed yet".into(),
        ));
    }
    let download = state
        .storage
        .presign_get(
            &record.object_key,
            &record.filename,
            &record.content_type,
            state.settings.download_ttl,
        )
        .await?;
    Ok(Json(FileDownload {
        file,
        download_url: download.url,
    }))
}
