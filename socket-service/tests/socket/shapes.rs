//! Two refusals the contract (`docs/protocol.md`) asks for that serde and a broadcast would
//! otherwise get wrong.

use axum::http::{Method, StatusCode};
use serde_json::json;

use crate::support::{App, http_error, refused};

/// `presence` goes to "users who share a room with `user_id`", never to the user's own
/// sockets: the member added to a room is not told her own presence, though her sockets joined
/// the room just before it goes out.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_added_member_is_not_told_her_own_presence() {
    let app = App::new().await;
    let (alice, carol) = (app.user("alice").await, app.user("carol").await);
    let room = app.group(&alice, &[]).await;
    let mut a = app.connect(&alice).await;
    let mut c = app.connect(&carol).await;
    let (status, _) = app
        .http(
            Method::POST,
            &format!("/api/rooms/{room}/members"),
            Some(&alice),
            Some(json!({"user_id": carol.id})),
        )
        .await;
    assert_eq!(status, StatusCode::NO_CONTENT);
    assert_eq!(
        a.next_payload("presence").await,
        json!({"user_id": carol.id, "online": true})
    );
    assert_eq!(
        c.next_payload("presence").await,
        json!({"user_id": alice.id, "online": true})
    );
    c.assert_none("presence").await;
}

/// A payload or body that is a JSON array is `invalid_request`, though serde would read a
/// struct from it (its fields in order): `["message:send", [room_id, client_id, body]]` sends
/// nothing, and `POST /api/rooms` with `["name", [members]]` creates no group.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_payload_that_is_an_array_is_invalid_request() {
    let app = App::new().await;
    let alice = app.user("alice").await;
    let room = app.group(&alice, &[]).await;
    let mut a = app.connect(&alice).await;
    for (event, payload) in [
        ("message:send", json!([room, "cid-1", "positional"])),
        ("read", json!([room, 1])),
        ("typing", json!([room, true])),
        ("sync", json!([[[room, 0, 0]]])),
    ] {
        let answer = a.call(event, payload).await;
        refused(&answer, "invalid_request");
    }
    let answer = app
        .http(
            Method::POST,
            "/api/rooms",
            Some(&alice),
            Some(json!(["positional", []])),
        )
        .await;
    http_error(&answer, StatusCode::BAD_REQUEST, "invalid_request");
}
