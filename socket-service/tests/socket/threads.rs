//! Threads: `thread_id` on `message:send`, the root's `thread` summary (a change of the root),
//! and `GET /api/rooms/{id}/threads/{message_id}`.

use axum::http::{Method, StatusCode};
use serde_json::{Value, json};

use crate::support::{App, Client, client_id, http_error, ok, refused, send};

async fn reply_in(client: &mut Client, room: &str, root: &Value, body: &str) -> Value {
    let answer = client
        .call(
            "message:send",
            json!({"room_id": room, "client_id": client_id(), "body": body, "thread_id": root["id"]}),
        )
        .await;
    ok(&answer)["message"].clone()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn replies_in_a_thread_take_the_room_seq_and_the_root_counts_them() {
    let app = App::new().await;
    let (alice, bob, carol) = (
        app.user("alice").await,
        app.user("bob").await,
        app.user("carol").await,
    );
    let room = app.group(&alice, &[&bob, &carol]).await;
    let mut a = app.connect(&alice).await;
    let mut b = app.connect(&bob).await;
    let mut c = app.connect(&carol).await;
    let root = send(&mut a, &room, "Where shall we go?").await;
    assert_eq!(root["thread"], Value::Null);
    assert_eq!(root["thread_id"], Value::Null);
    for client in [&mut a, &mut b, &mut c] {
        client.take("message", 1).await;
    }

    let first = reply_in(&mut b, &room, &root, "The lake").await;
    assert_eq!(first["thread_id"], root["id"]);
    assert_eq!(first["seq"], json!(2), "the room's next seq");
    let updated = c.next_payload("message:updated").await;
    assert_eq!(updated["id"], root["id"]);
    assert_eq!(updated["rev"], json!(1), "a reply raises the root's rev");
    assert_eq!(updated["thread"]["reply_count"], json!(1));
    assert_eq!(updated["thread"]["participant_ids"], json!([bob.id]));
    assert_eq!(updated["thread"]["last_reply_at"], first["created_at"]);
    let second = reply_in(&mut c, &room, &root, "The hills").await;
    let third = reply_in(&mut b, &room, &root, "Lake!").await;
    // The replies reach every member as messages, like any other.
    assert_eq!(a.take("message", 3).await[2], third);

    let answer = c
        .call(
            "sync",
            json!({"rooms": [{"room_id": room, "after_seq": third["seq"], "after_rev": 0}]}),
        )
        .await;
    let changed = &ok(&answer)["rooms"][0]["changed"];
    assert_eq!(changed.as_array().unwrap().len(), 1, "{changed}");
    let summary = &changed[0]["thread"];
    assert_eq!(summary["reply_count"], json!(3));
    assert_eq!(
        summary["participant_ids"],
        json!([bob.id, carol.id]),
        "most recent first, each once"
    );

    // The thread API: the root and its replies, paged.
    let path = format!("/api/rooms/{room}/threads/{}", root["id"].as_str().unwrap());
    let (status, body) = app.http(Method::GET, &path, Some(&carol), None).await;
    assert_eq!(status, StatusCode::OK, "{body}");
    assert_eq!(body["root"]["id"], root["id"]);
    assert_eq!(body["root"]["thread"]["reply_count"], json!(3));
    assert_eq!(body["messages"], json!([first, second, third]));
    assert_eq!(body["has_more"], json!(false));
    let (_, page) = app
        .http(Method::GET, &format!("{path}?limit=2"), Some(&carol), None)
        .await;
    assert_eq!(page["messages"], json!([second, third]), "the latest page");
    assert_eq!(page["has_more"], json!(true));
    let (_, page) = app
        .http(
            Method::GET,
            &format!("{path}?before_seq={}&limit=2", second["seq"]),
            Some(&carol),
            None,
        )
        .await;
    assert_eq!(page["messages"], json!([first]));

    // Deleting the root keeps its thread.
    ok(&a
        .call(
            "message:delete",
            json!({"room_id": room, "message_id": root["id"]}),
        )
        .await);
    let (_, body) = app.http(Method::GET, &path, Some(&bob), None).await;
    assert_eq!(body["root"]["deleted"], json!(true));
    assert_eq!(body["root"]["thread"]["reply_count"], json!(3));
    assert_eq!(body["messages"].as_array().unwrap().len(), 3);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn refusals() {
    let app = App::new().await;
    let (alice, dave) = (app.user("alice").await, app.user("dave").await);
    let room = app.group(&alice, &[]).await;
    let other = app.group(&alice, &[]).await;
    let mut a = app.connect(&alice).await;
    let root = send(&mut a, &room, "root").await;
    let reply = reply_in(&mut a, &room, &root, "reply").await;
    let elsewhere = send(&mut a, &other, "elsewhere").await;

    for thread_id in [reply["id"].clone(), elsewhere["id"].clone(), json!("nope")] {
        let answer = a
            .call(
                "message:send",
                json!({"room_id": room, "client_id": client_id(), "body": "x", "thread_id": thread_id}),
            )
            .await;
        refused(&answer, "invalid_request");
    }
    let path = format!("/api/rooms/{room}/threads/{}", root["id"].as_str().unwrap());
    let answer = app.http(Method::GET, &path, Some(&dave), None).await;
    http_error(&answer, StatusCode::NOT_FOUND, "not_found");
    let answer = app
        .http(
            Method::GET,
            &format!(
                "/api/rooms/{room}/threads/{}",
                reply["id"].as_str().unwrap()
            ),
            Some(&alice),
            None,
        )
        .await;
    http_error(&answer, StatusCode::NOT_FOUND, "not_found");
    let answer = app
        .http(Method::GET, &format!("{path}?limit=0"), Some(&alice), None)
        .await;
    http_error(&answer, StatusCode::BAD_REQUEST, "invalid_request");
}
