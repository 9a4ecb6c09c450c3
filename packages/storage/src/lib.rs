//! Object storage for file attachments. The bytes never pass through a service: clients upload
//! and download them with short-lived URLs the server signs, each bound to what was declared
//! (the upload to its exact size and content type).
//!
//! [`ObjectStorage`] has two implementations: [`S3Storage`] (any S3: MinIO, AWS, …) in the
//! distributed mode, and [`LocalStorage`] in the standalone server, a directory whose upload
//! and download URLs the server itself serves ([`LocalStorage::router`]) and signs (HMAC).
//!
//! - `s3`: [`S3Storage`] and its [`S3Config`].
//! - `local`: [`LocalStorage`].
//! - [`disposition`]: the `Content-Disposition` a download carries, from an untrusted filename.

pub mod disposition;
mod local;
mod s3;

use std::collections::BTreeMap;
use std::time::Duration;

use async_trait::async_trait;
use models::Timestamp;

pub use local::LocalStorage;
pub use s3::{S3Config, S3Storage};

#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// The storage could not be reached or refused to work; nothing was changed.
    #[error("object storage unavailable: {0}")]
    Unavailable(String),
    /// A key this crate does not make (see [`valid_key`]).
    #[error("invalid object key {0:?}")]
    InvalidKey(String),
    #[error("object storage error: {0}")]
    Internal(String),
}

pub type Result<T, E = Error> = std::result::Result<T, E>;

/// A request the client makes as given: URL, and the headers it must send exactly.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Presigned {
    pub url: String,
    /// Header names in lower case.
    pub headers: BTreeMap<String, String>,
    pub expires_at: Timestamp,
}

/// What is stored under a key.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ObjectInfo {
    pub size: u64,
    /// As sent with the upload.
    pub content_type: Option<String>,
}

#[async_trait]
pub trait ObjectStorage: Send + Sync + 'static {
    /// A URL that accepts one `PUT` of exactly `size` bytes sent as `content_type`, until `ttl`
    /// has passed. Another length, another type or a changed URL is refused by the storage.
    async fn presign_put(
        &self,
        key: &str,
        size: u64,
        content_type: &str,
        ttl: Duration,
    ) -> Result<Presigned>;
    /// A URL that downloads the object as an attachment named `filename` (sanitized here) of
    /// type `content_type`, until `ttl` has passed.
    async fn presign_get(
        &self,
        key: &str,
        filename: &str,
        content_type: &str,
        ttl: Duration,
    ) -> Result<Presigned>;
    /// The stored object's size and type, or `None` when nothing is stored under `key`.
    async fn head(&self, key: &str) -> Result<Option<ObjectInfo>>;
    /// The first `len` bytes of the object (all of it when shorter); `None` when absent.
    async fn first_bytes(&self, key: &str, len: usize) -> Result<Option<Vec<u8>>>;
    /// Removes the object; succeeds when it is already gone.
    async fn delete(&self, key: &str) -> Result<()>;
    /// Succeeds when the storage answers.
    async fn ping(&self) -> Result<()>;
}

/// Keys are made by the server: 1–512 characters of `[A-Za-z0-9._-]` in `/`-separated
/// segments, none empty, `.` or `..`. Both implementations refuse anything else, so a key can
/// never leave the bucket or the directory.
pub fn valid_key(key: &str) -> bool {
    (1..=512).contains(&key.len())
        && key.split('/').all(|segment| {
            !segment.is_empty()
                && segment != "."
                && segment != ".."
                && segment
                    .bytes()
                    .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'.' | b'_' | b'-'))
        })
}

fn check_key(key: &str) -> Result<()> {
    if valid_key(key) {
        Ok(())
    } else {
        Err(Error::InvalidKey(key.to_owned()))
    }
}

fn expires_at(ttl: Duration) -> Timestamp {
    Timestamp::from_millis(
        Timestamp::now()
            .millis()
            .saturating_add(i64::try_from(ttl.as_millis()).unwrap_or(i64::MAX)),
    )
}

#[cfg(test)]
mod tests {
    use super::valid_key;

    #[test]
    fn keys_cannot_escape() {
        assert!(valid_key("rooms/0192/0193abc"));
        assert!(valid_key("a.b_c-d"));
        for bad in [
            "", "/abs", "a//b", "a/", "../x", "a/../b", "./a", "a\\b", "a b", "a%2e", "é",
        ] {
            assert!(!valid_key(bad), "{bad:?}");
        }
        assert!(!valid_key(&"a".repeat(513)));
    }
}
