//! The round trip, who sees what, attachments, and what deleting or abandoning a file does.

use std::time::Duration;

use models::chat::FileRef;
use reqwest::StatusCode;
use store::Page;

use crate::both_storages;
use crate::support::{App, code, png, upload};

both_storages!(
    png_round_trip,
    non_members_get_404,
    attachments_are_checked,
    deleted_messages_take_their_files,
    abandoned_uploads_are_removed,
);

/// A 3 MB PNG goes up through its upload URL, is completed, attached to a message, and a
/// member downloads exactly its bytes.
async fn png_round_trip(app: App) {
    let (alice, bob) = (app.user("alice").await, app.user("bob").await);
    let room = app.room(&[&alice, &bob]).await;
    let bytes = png(3 * 1024 * 1024);

    let created = app
        .declare(&alice, &room, "holiday.png", "image/png", bytes.len())
        .await;
    let file = &created["file"];
    assert_eq!(file["status"], "pending");
    assert_eq!(file["room_id"], room.as_str());
    assert_eq!(file["uploader_id"], alice.id.as_str());
    assert_eq!(file["filename"], "holiday.png");
    assert_eq!(file["content_type"], "image/png");
    assert_eq!(file["size"], bytes.len());
    assert!(file["created_at"].as_str().unwrap().ends_with('Z'));
    let id = file["id"].as_str().unwrap().to_owned();
    let headers = &created["upload"]["headers"];
    assert_eq!(headers["content-type"], "image/png");
    assert_eq!(headers["content-length"], bytes.len().to_string());
    assert!(created["upload"]["expires_at"].is_string());

    // Not downloadable before it is complete.
    let (status, body) = app.get(&bob, &format!("/api/files/{id}")).await;
    assert_eq!(status, StatusCode::CONFLICT, "{body}");

    let (status, text) = upload(&created["upload"], bytes.clone(), None).await;
    assert_eq!(status, 200, "{text}");
    // Only the uploader completes.
    let (status, body) = app.complete(&bob, &id).await;
    assert_eq!(status, StatusCode::FORBIDDEN, "{body}");
    let (status, body) = app.complete(&alice, &id).await;
    assert_eq!(status, StatusCode::OK, "{body}");
    assert_eq!(body["file"]["status"], "ready");
    // Completing again changes nothing.
    let (status, again) = app.complete(&alice, &id).await;
    assert_eq!((status, &again), (StatusCode::OK, &body));

    let message = app.send(&alice, &room, &[&id]).await.expect("attach");
    let attached = FileRef {
        id: id.clone(),
        filename: "holiday.png".into(),
        content_type: "image/png".into(),
        size: bytes.len() as u64,
    };
    assert_eq!(message.attachments, std::slice::from_ref(&attached));
    assert_eq!(message.body, "");
    // Every member sees the attachment in the history.
    let history = app
        .chat
        .history(&room, Page::Before(None), 10)
        .await
        .unwrap();
    assert_eq!(history.messages.last().unwrap().attachments, [attached]);

    let (status, body) = app.get(&bob, &format!("/api/files/{id}")).await;
    assert_eq!(status, StatusCode::OK, "{body}");
    assert_eq!(body["file"]["status"], "ready");
    assert_eq!(body["file"]["id"], id.as_str());
    let response = reqwest::get(body["download_url"].as_str().unwrap())
        .await
        .unwrap();
    assert_eq!(response.status(), 200);
    assert_eq!(response.headers()["content-type"], "image/png");
    let disposition = response.headers()["content-disposition"].to_str().unwrap();
    assert!(
        disposition.starts_with("attachment; filename=\"holiday.png\""),
        "{disposition}"
    );
    let downloaded = response.bytes().await.unwrap();
    assert!(downloaded.as_ref() == bytes.as_slice(), "the bytes differ");
}

/// Outside the file's room, the file does not exist: 404 for its metadata, its download and
/// its completion, in the contract's shape.
async fn non_members_get_404(app: App) {
    let (alice, carol) = (app.user("alice").await, app.user("carol").await);
    let room = app.room(&[&alice]).await;
    let id = app.ready_file(&alice, &room, &png(100), "image/png").await;

    let (status, body) = app.get(&carol, &format!("/api/files/{id}")).await;
    assert_eq!(status, StatusCode::NOT_FOUND, "{body}");
    assert_eq!(code(&body), "not_found");
    assert!(body.get("download_url").is_none());
    let (status, body) = app.complete(&carol, &id).await;
    assert_eq!((status, code(&body)), (StatusCode::NOT_FOUND, "not_found"));
    // Nor may an outsider declare a file in the room.
    let (status, body) = app.create(&carol, &room, "x.png", "image/png", 10).await;
    assert_eq!((status, code(&body)), (StatusCode::NOT_FOUND, "not_found"));
    // An unknown id looks the same.
    let (status, body) = app.get(&alice, "/api/files/nonexistent").await;
    assert_eq!((status, code(&body)), (StatusCode::NOT_FOUND, "not_found"));

    // A member who leaves loses access.
    let bob = app.user("bob").await;
    let shared = app.room(&[&alice, &bob]).await;
    let id = app
        .ready_file(&alice, &shared, &png(100), "image/png")
        .await;
    assert_eq!(
        app.get(&bob, &format!("/api/files/{id}")).await.0,
        StatusCode::OK
    );
    app.chat
        .remove_member(&bob.id, &shared, &bob.id)
        .await
        .unwrap();
    assert_eq!(
        app.get(&bob, &format!("/api/files/{id}")).await.0,
        StatusCode::NOT_FOUND
    );
}

/// A message attaches only ready files of its own room, its sender's, each once.
async fn attachments_are_checked(app: App) {
    let (alice, bob) = (app.user("alice").await, app.user("bob").await);
    let room = app.room(&[&alice, &bob]).await;
    let other_room = app.room(&[&alice]).await;
    let elsewhere = app
        .ready_file(&alice, &other_room, &png(50), "image/png")
        .await;
    let pending = app.declare(&alice, &room, "p.png", "image/png", 50).await["file"]["id"]
        .as_str()
        .unwrap()
        .to_owned();
    let bobs = app.ready_file(&bob, &room, &png(50), "image/png").await;
    let ready = app.ready_file(&alice, &room, &png(50), "image/png").await;

    for (id, why) in [
        (&elsewhere, "another room's file"),
        (&pending, "a pending file"),
        (&bobs, "another member's file"),
        (&"unknown".to_owned(), "an unknown file"),
    ] {
        match app.send(&alice, &room, &[id, &ready]).await {
            Err(socket_service::Error::Invalid(message)) => {
                assert!(message.starts_with("attachments:"), "{why}: {message}");
                assert!(message.contains(id.as_str()), "{why}: {message}");
            }
            other => panic!("{why} was attached: {other:?}"),
        }
    }
    // Nothing was sent by the refusals.
    let history = app
        .chat
        .history(&room, Page::Before(None), 10)
        .await
        .unwrap();
    assert!(history.messages.is_empty());

    let first = app.send(&alice, &room, &[&ready, &ready]).await.unwrap();
    assert_eq!(
        first.attachments.len(),
        1,
        "a file listed twice is attached once"
    );
    match app.send(&alice, &room, &[&ready]).await {
        Err(socket_service::Error::Invalid(message)) => assert!(message.contains(&ready)),
        other => panic!("a file went into a second message: {other:?}"),
    }
}

/// Deleting a message removes its files: gone for members at once, and from storage at the
/// next sweep.
async fn deleted_messages_take_their_files(app: App) {
    let (alice, bob) = (app.user("alice").await, app.user("bob").await);
    let room = app.room(&[&alice, &bob]).await;
    let kept = app.ready_file(&alice, &room, &png(80), "image/png").await;
    let doomed = app.ready_file(&alice, &room, &png(90), "image/png").await;
    app.send(&alice, &room, &[&kept]).await.unwrap();
    let message = app.send(&alice, &room, &[&doomed]).await.unwrap();
    let key = app.object_key(&doomed).await;
    let (_, before) = app.get(&bob, &format!("/api/files/{doomed}")).await;
    let old_url = before["download_url"].as_str().unwrap().to_owned();

    app.delete(&alice, &room, &message.id).await;
    let (status, _) = app.get(&bob, &format!("/api/files/{doomed}")).await;
    assert_eq!(status, StatusCode::NOT_FOUND);
    assert!(
        app.storage.head(&key).await.unwrap().is_some(),
        "swept too early"
    );

    assert_eq!(app.sweep(Duration::from_secs(3600)).await, 1);
    assert_eq!(app.storage.head(&key).await.unwrap(), None);
    assert_eq!(reqwest::get(&old_url).await.unwrap().status(), 404);
    // The other message's file is untouched.
    let (status, _) = app.get(&bob, &format!("/api/files/{kept}")).await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(app.sweep(Duration::from_secs(3600)).await, 0);
}

/// An upload never completed is removed once older than the pending limit; a ready file is not.
async fn abandoned_uploads_are_removed(app: App) {
    let alice = app.user("alice").await;
    let room = app.room(&[&alice]).await;
    let ready = app.ready_file(&alice, &room, &png(60), "image/png").await;
    let created = app
        .declare(&alice, &room, "never.png", "image/png", 70)
        .await;
    let (status, _) = upload(&created["upload"], png(70), None).await;
    assert_eq!(status, 200);
    let id = created["file"]["id"].as_str().unwrap().to_owned();
    let key = app.object_key(&id).await;

    // Young enough: kept.
    assert_eq!(app.sweep(Duration::from_secs(3600)).await, 0);
    assert!(app.storage.head(&key).await.unwrap().is_some());
    tokio::time::sleep(Duration::from_millis(20)).await;
    assert_eq!(app.sweep(Duration::from_millis(10)).await, 1);
    assert_eq!(app.storage.head(&key).await.unwrap(), None);
    let (status, body) = app.complete(&alice, &id).await;
    assert_eq!((status, code(&body)), (StatusCode::NOT_FOUND, "not_found"));
    let (status, _) = app.get(&alice, &format!("/api/files/{ready}")).await;
    assert_eq!(status, StatusCode::OK);
}
