//! Conformance suite of [`ObjectStorage`]: each case is one `async fn(Arc<dyn ObjectStorage>)`,
//! run on [`S3Storage`] against the S3 test server (`CHAT_TEST_S3_*`, a fresh bucket per test,
//! created by the storage itself) and on [`LocalStorage`] over a fresh directory, its router
//! served on a loopback port. Uploads and downloads are real HTTP requests to the URLs the
//! storage signed, made as a browser would make them.

use std::future::Future;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use storage::{LocalStorage, ObjectStorage, Presigned, S3Config, S3Storage};
use uuid::Uuid;

/// Runs `case` on a fresh bucket of the S3 test server.
async fn on_s3<F, Fut>(case: F)
where
    F: FnOnce(Arc<dyn ObjectStorage>) -> Fut,
    Fut: Future<Output = ()>,
{
    case(Arc::new(s3_storage().await)).await;
}

/// A storage on a new bucket of the S3 test server; a missing server is a failure.
pub async fn s3_storage() -> S3Storage {
    let var = |name: &str| {
        std::env::var(name).unwrap_or_else(|_| {
            panic!("{name} is not set; run scripts/test, which starts an S3 server")
        })
    };
    S3Storage::connect(S3Config {
        endpoint: Some(var("CHAT_TEST_S3_ENDPOINT")),
        public_endpoint: None,
        region: var("CHAT_TEST_S3_REGION"),
        bucket: format!("storage-test-{}", Uuid::now_v7().simple()),
        access_key_id: var("CHAT_TEST_S3_ACCESS_KEY"),
        secret_access_key: var("CHAT_TEST_S3_SECRET_KEY"),
        force_path_style: true,
        create_bucket: true,
    })
    .await
    .expect("connect to the S3 test server and create the bucket")
}

/// Runs `case` on a fresh directory whose URLs a loopback server answers.
async fn on_local<F, Fut>(case: F)
where
    F: FnOnce(Arc<dyn ObjectStorage>) -> Fut,
    Fut: Future<Output = ()>,
{
    let dir = TempDir::new();
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let base = format!("http://{}", listener.local_addr().unwrap());
    let storage = LocalStorage::open(&dir.0, base).expect("open the directory");
    let router = storage.router();
    let server = tokio::spawn(async move {
        axum::serve(listener, router).await.unwrap();
    });
    case(Arc::new(storage)).await;
    server.abort();
}

/// A fresh directory under the system temp dir, removed on drop.
struct TempDir(PathBuf);

impl TempDir {
    fn new() -> Self {
        let path = std::env::temp_dir().join(format!("storage-test-{}", Uuid::now_v7().simple()));
        std::fs::create_dir_all(&path).unwrap();
        TempDir(path)
    }
}

impl Drop for TempDir {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

/// `size` bytes that start like a PNG and are otherwise pseudo-random.
fn png_bytes(size: usize) -> Vec<u8> {
    const SIGNATURE: &[u8] = b"\x89PNG\r\n\x1a\n";
    let mut state = 0x2545_f491_4f6c_dd1du64;
    let mut bytes: Vec<u8> = (0..size)
        .map(|_| {
            state ^= state << 13;
            state ^= state >> 7;
            state ^= state << 17;
            state as u8
        })
        .collect();
    let n = SIGNATURE.len().min(size);
    bytes[..n].copy_from_slice(&SIGNATURE[..n]);
    bytes
}

fn key() -> String {
    format!(
        "rooms/{}/{}",
        Uuid::now_v7().simple(),
        Uuid::now_v7().simple()
    )
}

/// Sends `body` with the presigned headers, `content_type` replacing the signed type when
/// given; returns the status and body text.
async fn put(upload: &Presigned, body: Vec<u8>, content_type: Option<&str>) -> (u16, String) {
    let mut request = reqwest::Client::new().put(&upload.url);
    for (name, value) in &upload.headers {
        // The client sets the length from the body, as a browser does.
        if name == "content-length" {
            continue;
        }
        let value = match (name.as_str(), content_type) {
            ("content-type", Some(other)) => other,
            _ => value,
        };
        request = request.header(name, value);
    }
    let response = request.body(body).send().await.expect("PUT");
    let status = response.status().as_u16();
    (status, response.text().await.unwrap_or_default())
}

async fn get(url: &str) -> reqwest::Response {
    reqwest::get(url).await.expect("GET")
}

const TTL: Duration = Duration::from_secs(300);

async fn round_trip(storage: Arc<dyn ObjectStorage>) {
    let key = key();
    let bytes = png_bytes(3 * 1024 * 1024);
    assert_eq!(storage.head(&key).await.unwrap(), None);
    assert_eq!(storage.first_bytes(&key, 8).await.unwrap(), None);

    let upload = storage
        .presign_put(&key, bytes.len() as u64, "image/png", TTL)
        .await
        .unwrap();
    assert_eq!(upload.headers["content-type"], "image/png");
    assert_eq!(upload.headers["content-length"], bytes.len().to_string());
    let (status, text) = put(&upload, bytes.clone(), None).await;
    assert_eq!(status, 200, "{text}");

    let info = storage.head(&key).await.unwrap().expect("stored");
    assert_eq!(info.size, bytes.len() as u64);
    assert_eq!(info.content_type.as_deref(), Some("image/png"));
    assert_eq!(
        storage.first_bytes(&key, 16).await.unwrap().unwrap(),
        bytes[..16]
    );

    let download = storage
        .presign_get(&key, "../../etc/pass\"wd.png", "image/png", TTL)
        .await
        .unwrap();
    let response = get(&download.url).await;
    assert_eq!(response.status(), 200);
    let header = |name: &str| {
        response
            .headers()
            .get(name)
            .map(|v| v.to_str().unwrap().to_owned())
    };
    assert_eq!(header("content-type").as_deref(), Some("image/png"));
    let disposition = header("content-disposition").expect("Content-Disposition");
    assert!(
        disposition.starts_with("attachment; filename=\"pass_wd.png\""),
        "{disposition}"
    );
    assert_eq!(response.bytes().await.unwrap().as_ref(), bytes.as_slice());

    storage.delete(&key).await.unwrap();
    assert_eq!(storage.head(&key).await.unwrap(), None);
    assert_eq!(get(&download.url).await.status(), 404);
    // Deleting what is gone is not an error.
    storage.delete(&key).await.unwrap();
}

#[tokio::test]
async fn round_trip_on_s3() {
    on_s3(round_trip).await;
}

#[tokio::test]
async fn round_trip_on_local() {
    on_local(round_trip).await;
}

/// An upload URL takes exactly the declared bytes and type, unchanged, before it expires.
async fn uploads_are_bound(storage: Arc<dyn ObjectStorage>) {
    let key = key();
    let bytes = png_bytes(1000);
    let upload = storage
        .presign_put(&key, bytes.len() as u64, "image/png", TTL)
        .await
        .unwrap();

    let mut longer = bytes.clone();
    longer.push(0);
    let (status, text) = put(&upload, longer, None).await;
    assert!(
        matches!(status, 400 | 403 | 413),
        "one byte more: {status} {text}"
    );
    let (status, text) = put(&upload, bytes[..999].to_vec(), None).await;
    assert!(
        matches!(status, 400 | 403),
        "one byte less: {status} {text}"
    );
    let (status, text) = put(&upload, bytes.clone(), Some("text/html")).await;
    assert!(matches!(status, 400 | 403), "another type: {status} {text}");
    let tampered = Presigned {
        url: tamper(&upload.url),
        ..upload.clone()
    };
    let (status, text) = put(&tampered, bytes.clone(), None).await;
    assert!(matches!(status, 400 | 403), "tampered: {status} {text}");
    let elsewhere = Presigned {
        url: upload.url.replacen(&key, &self::key(), 1),
        ..upload.clone()
    };
    let (status, text) = put(&elsewhere, bytes.clone(), None).await;
    assert!(matches!(status, 400 | 403), "another key: {status} {text}");
    assert_eq!(
        storage.head(&key).await.unwrap(),
        None,
        "nothing was stored"
    );

    let expiring = storage
        .presign_put(
            &key,
            bytes.len() as u64,
            "image/png",
            Duration::from_secs(1),
        )
        .await
        .unwrap();
    tokio::time::sleep(Duration::from_millis(2100)).await;
    let (status, text) = put(&expiring, bytes.clone(), None).await;
    assert_eq!(status, 403, "expired: {text}");
    assert_eq!(
        storage.head(&key).await.unwrap(),
        None,
        "nothing was stored"
    );

    // The untouched URL still works.
    let (status, text) = put(&upload, bytes, None).await;
    assert_eq!(status, 200, "{text}");
}

#[tokio::test]
async fn uploads_are_bound_on_s3() {
    on_s3(uploads_are_bound).await;
}

#[tokio::test]
async fn uploads_are_bound_on_local() {
    on_local(uploads_are_bound).await;
}

/// A download URL works only as signed, and only until it expires.
async fn downloads_are_bound(storage: Arc<dyn ObjectStorage>) {
    let key = key();
    let bytes = png_bytes(64);
    let upload = storage
        .presign_put(&key, 64, "image/png", TTL)
        .await
        .unwrap();
    assert_eq!(put(&upload, bytes, None).await.0, 200);

    let download = storage
        .presign_get(&key, "a.png", "image/png", TTL)
        .await
        .unwrap();
    assert_eq!(get(&download.url).await.status(), 200);
    assert_eq!(get(&tamper(&download.url)).await.status(), 403);
    let other_name = download.url.replacen("a.png", "b.png", 1);
    assert_ne!(other_name, download.url);
    assert_eq!(get(&other_name).await.status(), 403);

    let expiring = storage
        .presign_get(&key, "a.png", "image/png", Duration::from_secs(1))
        .await
        .unwrap();
    tokio::time::sleep(Duration::from_millis(2100)).await;
    assert_eq!(get(&expiring.url).await.status(), 403);
}

#[tokio::test]
async fn downloads_are_bound_on_s3() {
    on_s3(downloads_are_bound).await;
}

#[tokio::test]
async fn downloads_are_bound_on_local() {
    on_local(downloads_are_bound).await;
}

/// Keys that could leave the bucket or directory are refused before anything is signed.
async fn keys_are_checked(storage: Arc<dyn ObjectStorage>) {
    for bad in ["../outside", "a/../../b", "/abs", "a b"] {
        assert!(matches!(
            storage.presign_put(bad, 1, "text/plain", TTL).await,
            Err(storage::Error::InvalidKey(_))
        ));
        assert!(matches!(
            storage.head(bad).await,
            Err(storage::Error::InvalidKey(_))
        ));
    }
    storage.ping().await.unwrap();
}

#[tokio::test]
async fn keys_are_checked_on_s3() {
    on_s3(keys_are_checked).await;
}

#[tokio::test]
async fn keys_are_checked_on_local() {
    on_local(keys_are_checked).await;
}

/// Changes one character of the signature in `url`'s query to another valid digit.
fn tamper(url: &str) -> String {
    let at = url
        .find("ignature=")
        .map(|i| i + "ignature=".len() + 3)
        .expect("a signature in the URL");
    let mut bytes = url.as_bytes().to_vec();
    bytes[at] = if bytes[at] == b'0' { b'1' } else { b'0' };
    String::from_utf8(bytes).unwrap()
}
