//! What must be refused, each in the contract's error shape (the helpers check the shape of
//! every error the service answers): bad declarations, uploads that break the URL's binding,
//! expired URLs, and bytes that are not what was declared.

use std::time::Duration;

use file_service::Settings;
use reqwest::StatusCode;
use serde_json::{Value, json};

use crate::both_storages;
use crate::support::{App, Storage, code, png, upload};

both_storages!(
    declarations_are_checked,
    paths_in_filenames_are_neutralized,
    uploads_must_match_the_declaration,
    bytes_must_match_the_declared_type,
);

async fn declarations_are_checked(app: App) {
    let alice = app.user("alice").await;
    let room = app.room(&[&alice]).await;

    let limit = app.settings.max_size as usize;
    let (status, body) = app
        .create(&alice, &room, "big.zip", "application/zip", limit + 1)
        .await;
    assert_eq!(
        (status, code(&body)),
        (StatusCode::PAYLOAD_TOO_LARGE, "too_large")
    );
    // The limit itself is fine.
    let (status, body) = app
        .create(&alice, &room, "big.zip", "application/zip", limit)
        .await;
    assert_eq!(status, StatusCode::CREATED, "{body}");

    for forbidden in ["image/svg+xml", "text/html", "application/x-msdownload", ""] {
        let (status, body) = app.create(&alice, &room, "x", forbidden, 10).await;
        assert_eq!(
            (status, code(&body)),
            (StatusCode::UNSUPPORTED_MEDIA_TYPE, "unsupported_media_type"),
            "{forbidden}"
        );
    }
    // Parameters and case do not matter; the stored type is the bare one.
    let created = app
        .declare(&alice, &room, "notes.txt", "Text/Plain; charset=utf-8", 10)
        .await;
    assert_eq!(created["file"]["content_type"], "text/plain");

    let (status, body) = app
        .create(&alice, &room, "empty.txt", "text/plain", 0)
        .await;
    assert_eq!(
        (status, code(&body)),
        (StatusCode::BAD_REQUEST, "invalid_request")
    );
    let (status, body) = app.create(&alice, &room, "  ", "text/plain", 1).await;
    assert_eq!(
        (status, code(&body)),
        (StatusCode::BAD_REQUEST, "invalid_request")
    );
    let (status, body) = app
        .post(
            Some(&alice),
            "/api/files",
            json!({"room_id": room, "size": 3}),
        )
        .await;
    assert_eq!(
        (status, code(&body)),
        (StatusCode::BAD_REQUEST, "invalid_request")
    );
    let (status, body) = app
        .post(
            Some(&alice),
            "/api/files",
            json!({"room_id": room, "filename": "a", "content_type": "text/plain", "size": -1}),
        )
        .await;
    assert_eq!(
        (status, code(&body)),
        (StatusCode::BAD_REQUEST, "invalid_request")
    );
    let (status, body) = app
        .post(
            None,
            "/api/files",
            json!({"room_id": room, "filename": "a", "content_type": "text/plain", "size": 1}),
        )
        .await;
    assert_eq!(
        (status, code(&body)),
        (StatusCode::UNAUTHORIZED, "unauthorized")
    );
    let (status, body) = app
        .post(
            Some(&alice),
            "/api/files",
            Value::String("{not json".into()),
        )
        .await;
    assert_eq!(
        (status, code(&body)),
        (StatusCode::BAD_REQUEST, "invalid_request")
    );
}

/// `../../etc/passwd` is only a label: it is stored and served as `passwd`, and the object's
/// key is the server's own.
async fn paths_in_filenames_are_neutralized(app: App) {
    let (alice, bob) = (app.user("alice").await, app.user("bob").await);
    let room = app.room(&[&alice, &bob]).await;
    let bytes = b"root:x:0:0:root:/root:/bin/bash\n".to_vec();
    let created = app
        .declare(&alice, &room, "../../etc/passwd", "text/plain", bytes.len())
        .await;
    assert_eq!(created["file"]["filename"], "passwd");
    let url = created["upload"]["url"].as_str().unwrap();
    assert!(!url.contains("passwd") && !url.contains(".."), "{url}");
    let (status, _) = upload(&created["upload"], bytes.clone(), None).await;
    assert_eq!(status, 200);
    let id = created["file"]["id"].as_str().unwrap();
    assert_eq!(app.complete(&alice, id).await.0, StatusCode::OK);
    let key = app.object_key(id).await;
    assert!(!key.contains("passwd") && !key.contains(".."), "{key}");

    let (_, body) = app.get(&bob, &format!("/api/files/{id}")).await;
    let response = reqwest::get(body["download_url"].as_str().unwrap())
        .await
        .unwrap();
    let disposition = response.headers()["content-disposition"]
        .to_str()
        .unwrap()
        .to_owned();
    assert!(
        disposition.starts_with("attachment; filename=\"passwd\""),
        "{disposition}"
    );
    assert_eq!(response.bytes().await.unwrap().as_ref(), bytes.as_slice());
}

/// The upload URL takes only the declared length and type, unchanged; whatever it refused,
/// `complete` finds nothing to accept.
async fn uploads_must_match_the_declaration(app: App) {
    let alice = app.user("alice").await;
    let room = app.room(&[&alice]).await;
    let bytes = png(2000);
    let created = app
        .declare(&alice, &room, "a.png", "image/png", bytes.len())
        .await;
    let id = created["file"]["id"].as_str().unwrap().to_owned();

    let mut longer = bytes.clone();
    longer.push(0);
    let (status, text) = upload(&created["upload"], longer, None).await;
    assert!(
        matches!(status, 400 | 403 | 413),
        "one byte more: {status} {text}"
    );
    let (status, text) = upload(&created["upload"], bytes.clone(), Some("text/html")).await;
    assert!(matches!(status, 400 | 403), "another type: {status} {text}");
    let mut tampered = created["upload"].clone();
    tampered["url"] = json!(tamper(created["upload"]["url"].as_str().unwrap()));
    let (status, text) = upload(&tampered, bytes.clone(), None).await;
    assert!(
        matches!(status, 400 | 403),
        "tampered signature: {status} {text}"
    );

    let (status, body) = app.complete(&alice, &id).await;
    assert_eq!(
        (status, code(&body)),
        (StatusCode::CONFLICT, "conflict"),
        "{body}"
    );

    // The URL as given still works, once.
    let (status, text) = upload(&created["upload"], bytes, None).await;
    assert_eq!(status, 200, "{text}");
    assert_eq!(app.complete(&alice, &id).await.0, StatusCode::OK);
}

/// A file declared as PNG whose bytes are not a PNG is refused at `complete`, stays pending,
/// and its bytes are dropped.
async fn bytes_must_match_the_declared_type(app: App) {
    let (alice, bob) = (app.user("alice").await, app.user("bob").await);
    let room = app.room(&[&alice, &bob]).await;
    let html = b"<html><script>alert(document.cookie)</script></html>".to_vec();
    let created = app
        .declare(&alice, &room, "cat.png", "image/png", html.len())
        .await;
    let (status, text) = upload(&created["upload"], html, None).await;
    assert_eq!(status, 200, "the storage cannot know: {text}");
    let id = created["file"]["id"].as_str().unwrap().to_owned();
    let (status, body) = app.complete(&alice, &id).await;
    assert_eq!(
        (status, code(&body)),
        (StatusCode::UNSUPPORTED_MEDIA_TYPE, "unsupported_media_type"),
        "{body}"
    );
    let key = app.object_key(&id).await;
    assert_eq!(app.storage.head(&key).await.unwrap(), None);
    let (status, body) = app.get(&bob, &format!("/api/files/{id}")).await;
    assert_eq!((status, code(&body)), (StatusCode::CONFLICT, "conflict"));
    assert!(app.send(&alice, &room, &[&id]).await.is_err());

    // Binary bytes declared as text are refused the same way.
    let binary = vec![0u8, 1, 2, 3, 0xff, 0xfe];
    let created = app
        .declare(&alice, &room, "notes.txt", "text/plain", binary.len())
        .await;
    assert_eq!(upload(&created["upload"], binary, None).await.0, 200);
    let (status, body) = app
        .complete(&alice, created["file"]["id"].as_str().unwrap())
        .await;
    assert_eq!(
        (status, code(&body)),
        (StatusCode::UNSUPPORTED_MEDIA_TYPE, "unsupported_media_type")
    );
}

/// An upload URL used after it expired is refused, and nothing is stored.
async fn expired_upload_urls_are_refused(app: App) {
    let alice = app.user("alice").await;
    let room = app.room(&[&alice]).await;
    let bytes = png(500);
    let created = app
        .declare(&alice, &room, "late.png", "image/png", bytes.len())
        .await;
    tokio::time::sleep(Duration::from_millis(2100)).await;
    let (status, text) = upload(&created["upload"], bytes, None).await;
    assert_eq!(status, 403, "{text}");
    let (status, body) = app
        .complete(&alice, created["file"]["id"].as_str().unwrap())
        .await;
    assert_eq!((status, code(&body)), (StatusCode::CONFLICT, "conflict"));
}

fn one_second_urls() -> Settings {
    Settings {
        upload_ttl: Duration::from_secs(1),
        ..Settings::default()
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn expired_upload_urls_are_refused_on_s3() {
    expired_upload_urls_are_refused(App::spawn_with(Storage::S3, one_second_urls()).await).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn expired_upload_urls_are_refused_on_local() {
    expired_upload_urls_are_refused(App::spawn_with(Storage::Local, one_second_urls()).await).await;
}

/// Changes one character of the signature in `url` to another valid digit.
fn tamper(url: &str) -> String {
    let at = url
        .find("ignature=")
        .map(|i| i + "ignature=".len() + 3)
        .expect("a signature in the URL");
    let mut bytes = url.as_bytes().to_vec();
    bytes[at] = if bytes[at] == b'0' { b'1' } else { b'0' };
    String::from_utf8(bytes).unwrap()
}
