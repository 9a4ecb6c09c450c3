//! `read`: the pointer moves forward only, is capped at the room's last seq, and each move is
//! sent to every member.

use axum::http::{Method, StatusCode};
use serde_json::json;

use crate::support::{App, assert_quiet, ok, refused, send};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_read_moves_forward_only_and_is_sent_to_every_member() {
    let app = App::new().await;
    let (alice, bob) = (app.user("alice").await, app.user("bob").await);
    let room = app.group(&alice, &[&bob]).await;
    let mut a = app.connect(&alice).await;
    let mut b = app.connect(&bob).await;

    // Nothing to read yet: acked, nothing moves.
    let answer = b.call("read", json!({"room_id": room, "seq": 0})).await;
    assert_eq!(answer, json!({"ok": true}));
    for _ in 0..3 {
        send(&mut a, &room, "news").await;
    }

    let answer = b.call("read", json!({"room_id": room, "seq": 2})).await;
    assert_eq!(answer, json!({"ok": true}));
    let expected = json!({"room_id": room, "user_id": bob.id, "seq": 2});
    for client in [&mut a, &mut b] {
        assert_eq!(client.next_payload("read").await, expected);
    }

    // Not above the pointer: acked and ignored.
    for seq in [1, 2] {
        let answer = b.call("read", json!({"room_id": room, "seq": seq})).await;
        assert_eq!(answer, json!({"ok": true}));
    }
    assert_quiet(&mut [&mut a, &mut b], &["read"]).await;

    // Beyond the room's last seq: capped at it.
    let answer = b.call("read", json!({"room_id": room, "seq": 99})).await;
    ok(&answer);
    let expected = json!({"room_id": room, "user_id": bob.id, "seq": 3});
    for client in [&mut a, &mut b] {
        assert_eq!(client.next_payload("read").await, expected);
    }
    let answer = b.call("read", json!({"room_id": room, "seq": 100})).await;
    ok(&answer);
    b.assert_none("read").await;

    // The pointer as the rooms API shows it.
    let (status, body) = app
        .http(
            Method::GET,
            &format!("/api/rooms/{room}/reads"),
            Some(&alice),
            None,
        )
        .await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(
        body,
        json!({"reads": [{"user_id": alice.id, "seq": 0}, {"user_id": bob.id, "seq": 3}]})
    );
    let (status, body) = app
        .http(Method::GET, &format!("/api/rooms/{room}"), Some(&bob), None)
        .await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(body["last_seq"], json!(3));
    assert_eq!(body["last_read_seq"], json!(3));
    assert_eq!(body["unread"], json!(0));
    let (_, body) = app
        .http(
            Method::GET,
            &format!("/api/rooms/{room}"),
            Some(&alice),
            None,
        )
        .await;
    assert_eq!(body["unread"], json!(3));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_read_of_a_room_of_others_is_not_found_and_a_bad_payload_invalid() {
    let app = App::new().await;
    let (alice, bob) = (app.user("alice").await, app.user("bob").await);
    let theirs = app.group(&bob, &[]).await;
    let mut a = app.connect(&alice).await;
    let mut b = app.connect(&bob).await;
    send(&mut b, &theirs, "private").await;

    for room in [theirs.as_str(), "no-such-room"] {
        let answer = a.call("read", json!({"room_id": room, "seq": 1})).await;
        let error = refused(&answer, "not_found");
        assert_eq!(error["message"], json!("room not found"));
    }
    for payload in [
        json!({"room_id": theirs}),
        json!({"room_id": theirs, "seq": -1}),
        json!({"room_id": theirs, "seq": "1"}),
        json!("read it"),
    ] {
        let answer = b.call("read", payload).await;
        refused(&answer, "invalid_request");
    }
    b.assert_none("read").await;
}
