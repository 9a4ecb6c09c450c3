//! The bodies of `/api/files`.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

use crate::Timestamp;
use crate::chat::File;

/// `POST /api/files`: what the client is about to upload.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct CreateFile {
    pub room_id: String,
    pub filename: String,
    pub content_type: String,
    pub size: u64,
}

/// How to send the bytes: a request the client makes as given, headers included.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Upload {
    /// Always `"PUT"`.
    pub method: String,
    pub url: String,
    /// Headers the upload must carry exactly (`Content-Type`, `Content-Length`): the URL is
    /// bound to them.
    pub headers: BTreeMap<String, String>,
    pub expires_at: Timestamp,
}

/// `POST /api/files` answers with the file and where to upload it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct CreatedFile {
    pub file: File,
    pub upload: Upload,
}

/// `POST /api/files/{id}/complete`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct FileBody {
    pub file: File,
}

/// `GET /api/files/{id}`: the metadata and a short-lived download URL.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct FileDownload {
    pub file: File,
    pub download_url: String,
}
