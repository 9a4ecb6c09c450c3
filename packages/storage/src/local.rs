//! [`LocalStorage`]: the standalone mode's object storage, a directory on disk. The server
//! serves the upload and download URLs itself ([`LocalStorage::router`], under
//! `/api/objects/`) and signs them with HMAC-SHA256 under a key kept in the directory, so
//! they survive a restart and are bound exactly as S3's presigned URLs are: an upload to its
//! key, expiry, length and content type; a download to its key, expiry, filename and type.
//!
//! Layout under the directory: `objects/<key>` the bytes, `types/<key>` the content type sent
//! with the upload, `tmp/` uploads in progress (renamed into place once complete, so a reader
//! never sees half an object), `url-signing.key` the HMAC key.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

use async_trait::async_trait;
use axum::Router;
use axum::body::Body;
use axum::extract::rejection::QueryRejection;
use axum::extract::{Path as UrlPath, Query, Request, State};
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use hmac::{Hmac, Mac};
use http_body_util::BodyExt;
use models::{ErrorBody, ErrorCode, Timestamp};
use percent_encoding::{AsciiSet, NON_ALPHANUMERIC, utf8_percent_encode};
use serde::Deserialize;
use sha2::Sha256;
use tokio::io::AsyncWriteExt;

use crate::{
    Error, ObjectInfo, ObjectStorage, Presigned, Result, check_key, disposition, expires_at,
    valid_key,
};

/// What a query value keeps unencoded: RFC 3986's unreserved characters.
const QUERY_VALUE: &AsciiSet = &NON_ALPHANUMERIC
    .remove(b'-')
    .remove(b'.')
    .remove(b'_')
    .remove(b'~');

/// Where the router serves objects.
pub const ROUTE_PREFIX: &str = "/api/objects";

/// Object storage in a local directory. Cheap to clone.
#[derive(Clone)]
pub struct LocalStorage {
    inner: Arc<Inner>,
}

struct Inner {
    root: PathBuf,
    secret: Vec<u8>,
    /// Prepended to [`ROUTE_PREFIX`] in the URLs handed out: empty for root-relative URLs.
    url_base: String,
}

impl std::fmt::Debug for LocalStorage {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("LocalStorage")
            .field("root", &self.inner.root)
            .field("url_base", &self.inner.url_base)
            .finish_non_exhaustive()
    }
}

impl LocalStorage {
    /// Opens (or creates) the storage directory `root`, generating its signing key on first
    /// use. URLs are `url_base` + `/api/objects/…`; with an empty `url_base` they are relative
    /// to the server that serves [`LocalStorage::router`].
    ///
    /// Blocking: call it at start-up.
    pub fn open(root: impl AsRef<Path>, url_base: impl Into<String>) -> Result<Self> {
        let root = root.as_ref().to_path_buf();
        for dir in ["objects", "types", "tmp"] {
            std::fs::create_dir_all(root.join(dir))
                .map_err(|e| Error::Unavailable(format!("creating {}: {e}", root.display())))?;
        }
        let secret = load_or_create_secret(&root.join("url-signing.key"))?;
        Ok(LocalStorage {
            inner: Arc::new(Inner {
                root,
                secret,
                url_base: url_base.into().trim_end_matches('/').to_owned(),
            }),
        })
    }

    /// The routes that accept uploads and serve downloads (`PUT`/`GET /api/objects/{key}`).
    /// Requests whose signature, expiry, length or type do not match are refused in the
    /// contract's error shape.
    pub fn router(&self) -> Router {
        Router::new()
            .route(
                &format!("{ROUTE_PREFIX}/{{*key}}"),
                get(download).put(upload),
            )
            .with_state(self.clone())
    }

    fn object_path(&self, key: &str) -> PathBuf {
        self.inner.root.join("objects").join(key)
    }

    fn type_path(&self, key: &str) -> PathBuf {
        self.inner.root.join("types").join(key)
    }

    fn url(&self, key: &str, query: &[(&str, &str)]) -> String {
        let query: Vec<String> = query
            .iter()
            .map(|(name, value)| format!("{name}={}", utf8_percent_encode(value, QUERY_VALUE)))
            .collect();
        format!(
            "{}{ROUTE_PREFIX}/{key}?{}",
            self.inner.url_base,
            query.join("&")
        )
    }

    fn sign(&self, fields: &[&str]) -> String {
        URL_SAFE_NO_PAD.encode(self.mac(fields).finalize().into_bytes())
    }

    fn verify(&self, fields: &[&str], signature: &str) -> bool {
        let Ok(signature) = URL_SAFE_NO_PAD.decode(signature) else {
            return false;
        };
        // Constant-time comparison.
        self.mac(fields).verify_slice(&signature).is_ok()
    }

    fn mac(&self, fields: &[&str]) -> Hmac<Sha256> {
        let mut mac =
            Hmac::<Sha256>::new_from_slice(&self.inner.secret).expect("HMAC takes any key length");
        for field in fields {
            // Length-prefixed, so no two field lists produce the same input.
            mac.update(&(field.len() as u64).to_be_bytes());
            mac.update(field.as_bytes());
        }
        mac
    }
}

fn load_or_create_secret(path: &Path) -> Result<Vec<u8>> {
    match std::fs::read(path) {
        Ok(secret) if secret.len() >= 32 => return Ok(secret),
        Ok(_) => {
            return Err(Error::Internal(format!(
                "{} holds fewer than 32 bytes",
                path.display()
            )));
        }
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
        Err(e) => return Err(Error::Unavailable(format!("{}: {e}", path.display()))),
    }
    let secret: [u8; 32] = rand::random();
    let tmp = path.with_extension("tmp");
    std::fs::write(&tmp, secret)
        .and_then(|()| std::fs::rename(&tmp, path))
        .map_err(|e| Error::Unavailable(format!("{}: {e}", path.display())))?;
    restrict_permissions(path);
    Ok(secret.to_vec())
}

#[cfg(unix)]
fn restrict_permissions(path: &Path) {
    use std::os::unix::fs::PermissionsExt;
    if let Err(e) = std::fs::set_permissions(path, std::fs::Permissions::from_mode(0o600)) {
        tracing::warn!(path = %path.display(), error = %e, "could not restrict the key file");
    }
}

#[cfg(not(unix))]
fn restrict_permissions(_: &Path) {}

fn io_err(e: std::io::Error) -> Error {
    Error::Unavailable(e.to_string())
}

#[async_trait]
impl ObjectStorage for LocalStorage {
    async fn presign_put(
        &self,
        key: &str,
        size: u64,
        content_type: &str,
        ttl: Duration,
    ) -> Result<Presigned> {
        check_key(key)?;
        let expires_at = expires_at(ttl);
        let expires = expires_at.millis().to_string();
        let size = size.to_string();
        let signature = self.sign(&["PUT", key, &expires, &size, content_type]);
        let headers = BTreeMap::from([
            ("content-length".to_owned(), size),
            ("content-type".to_owned(), content_type.to_owned()),
        ]);
        Ok(Presigned {
            url: self.url(key, &[("expires", &expires), ("signature", &signature)]),
            headers,
            expires_at,
        })
    }

    async fn presign_get(
        &self,
        key: &str,
        filename: &str,
        content_type: &str,
        ttl: Duration,
    ) -> Result<Presigned> {
        check_key(key)?;
        let expires_at = expires_at(ttl);
        let expires = expires_at.millis().to_string();
        let filename = disposition::base_name(filename);
        let signature = self.sign(&["GET", key, &expires, &filename, content_type]);
        Ok(Presigned {
            url: self.url(
                key,
                &[
                    ("expires", &expires),
                    ("filename", &filename),
                    ("type", content_type),
                    ("signature", &signature),
                ],
            ),
            headers: BTreeMap::new(),
            expires_at,
        })
    }

    async fn head(&self, key: &str) -> Result<Option<ObjectInfo>> {
        check_key(key)?;
        let size = match tokio::fs::metadata(self.object_path(key)).await {
            Ok(meta) if meta.is_file() => meta.len(),
            Ok(_) => return Ok(None),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(None),
            Err(e) => return Err(io_err(e)),
        };
        let content_type = tokio::fs::read_to_string(self.type_path(key)).await.ok();
        Ok(Some(ObjectInfo { size, content_type }))
    }

    async fn first_bytes(&self, key: &str, len: usize) -> Result<Option<Vec<u8>>> {
        use tokio::io::AsyncReadExt;
        check_key(key)?;
        let file = match tokio::fs::File::open(self.object_path(key)).await {
            Ok(file) => file,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(None),
            Err(e) => return Err(io_err(e)),
        };
        let mut bytes = Vec::with_capacity(len);
        file.take(len as u64)
            .read_to_end(&mut bytes)
            .await
            .map_err(io_err)?;
        Ok(Some(bytes))
    }

    async fn delete(&self, key: &str) -> Result<()> {
        check_key(key)?;
        for path in [self.object_path(key), self.type_path(key)] {
            match tokio::fs::remove_file(&path).await {
                Ok(()) => {}
                Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
                Err(e) => return Err(io_err(e)),
            }
        }
        Ok(())
    }

    async fn ping(&self) -> Result<()> {
        tokio::fs::metadata(self.inner.root.join("objects"))
            .await
            .map(drop)
            .map_err(io_err)
    }
}

// ---- the routes ---------------------------------------------------------------------------

#[derive(Debug, Deserialize)]
struct UploadQuery {
    expires: i64,
    signature: String,
}

#[derive(Debug, Deserialize)]
struct DownloadQuery {
    expires: i64,
    filename: String,
    #[serde(rename = "type")]
    content_type: String,
    signature: String,
}

fn refuse(code: ErrorCode, message: &str) -> Response {
    let status = StatusCode::from_u16(code.status()).unwrap_or(StatusCode::BAD_REQUEST);
    (status, axum::Json(ErrorBody::new(code, message))).into_response()
}

fn denied() -> Response {
    refuse(
        ErrorCode::Forbidden,
        "the URL has expired, or does not match this request",
    )
}

fn unavailable(e: impl std::fmt::Display) -> Response {
    tracing::warn!(error = %e, "local object storage failed");
    refuse(
        ErrorCode::Unavailable,
        "the storage is unavailable; try again",
    )
}

fn header_str(headers: &HeaderMap, name: header::HeaderName) -> Option<&str> {
    headers.get(name).and_then(|v| v.to_str().ok())
}

async fn upload(
    State(storage): State<LocalStorage>,
    UrlPath(key): UrlPath<String>,
    query: Result<Query<UploadQuery>, QueryRejection>,
    request: Request,
) -> Response {
    let Ok(Query(query)) = query else {
        return denied();
    };
    if !valid_key(&key) || query.expires <= Timestamp::now().millis() {
        return denied();
    }
    let headers = request.headers();
    let (Some(length), Some(content_type)) = (
        header_str(headers, header::CONTENT_LENGTH),
        header_str(headers, header::CONTENT_TYPE),
    ) else {
        return denied();
    };
    let expires = query.expires.to_string();
    if !storage.verify(
        &["PUT", &key, &expires, length, content_type],
        &query.signature,
    ) {
        return denied();
    }
    let Ok(size) = length.parse::<u64>() else {
        return denied();
    };
    let content_type = content_type.to_owned();
    match store(&storage, &key, size, &content_type, request.into_body()).await {
        Ok(None) => StatusCode::OK.into_response(),
        Ok(Some(refusal)) => refusal,
        Err(e) => unavailable(e),
    }
}

/// Streams the body to a temporary file, then moves it into place if it is exactly `size`
/// bytes; `Some(refusal)` when it is not.
async fn store(
    storage: &LocalStorage,
    key: &str,
    size: u64,
    content_type: &str,
    mut body: Body,
) -> std::io::Result<Option<Response>> {
    let tmp = storage
        .inner
        .root
        .join("tmp")
        .join(uuid::Uuid::new_v4().simple().to_string());
    let outcome = async {
        let mut file = tokio::fs::File::create(&tmp).await?;
        let mut written = 0u64;
        while let Some(frame) = body.frame().await {
            let Ok(frame) = frame else {
                return Ok(Some(refuse(
                    ErrorCode::InvalidRequest,
                    "the upload was interrupted",
                )));
            };
            if let Some(data) = frame.data_ref() {
                written += data.len() as u64;
                if written > size {
                    return Ok(Some(refuse(
                        ErrorCode::TooLarge,
                        "the body is longer than the declared size",
                    )));
                }
                file.write_all(data).await?;
            }
        }
        if written != size {
            return Ok(Some(refuse(
                ErrorCode::InvalidRequest,
                "the body is shorter than the declared size",
            )));
        }
        file.sync_all().await?;
        for path in [storage.object_path(key), storage.type_path(key)] {
            if let Some(parent) = path.parent() {
                tokio::fs::create_dir_all(parent).await?;
            }
        }
        tokio::fs::write(storage.type_path(key), content_type).await?;
        tokio::fs::rename(&tmp, storage.object_path(key)).await?;
        Ok(None)
    }
    .await;
    if !matches!(outcome, Ok(None)) {
        let _ = tokio::fs::remove_file(&tmp).await;
    }
    outcome
}

async fn download(
    State(storage): State<LocalStorage>,
    UrlPath(key): UrlPath<String>,
    query: Result<Query<DownloadQuery>, QueryRejection>,
) -> Response {
    let Ok(Query(query)) = query else {
        return denied();
    };
    if !valid_key(&key) || query.expires <= Timestamp::now().millis() {
        return denied();
    }
    let expires = query.expires.to_string();
    let fields = [
        "GET",
        key.as_str(),
        &expires,
        &query.filename,
        &query.content_type,
    ];
    if !storage.verify(&fields, &query.signature) {
        return denied();
    }
    let file = match tokio::fs::File::open(storage.object_path(&key)).await {
        Ok(file) => file,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
            return refuse(ErrorCode::NotFound, "file not found");
        }
        Err(e) => return unavailable(e),
    };
    let length = match file.metadata().await {
        Ok(meta) => meta.len(),
        Err(e) => return unavailable(e),
    };
    let mut response = Body::from_stream(tokio_util::io::ReaderStream::new(file)).into_response();
    let headers = response.headers_mut();
    let mut set = |name: header::HeaderName, value: String| {
        if let Ok(value) = HeaderValue::from_str(&value) {
            headers.insert(name, value);
        }
    };
    set(header::CONTENT_TYPE, query.content_type.clone());
    set(header::CONTENT_LENGTH, length.to_string());
    set(
        header::CONTENT_DISPOSITION,
        disposition::attachment(&query.filename),
    );
    set(header::CACHE_CONTROL, "private, max-age=300".into());
    set(header::X_CONTENT_TYPE_OPTIONS, "nosniff".into());
    response
}
