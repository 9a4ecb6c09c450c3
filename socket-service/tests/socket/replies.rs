//! Replies: `reply_preview` on a message with `reply_to`, as the original is now, in the ack,
//! the broadcast, history and `sync`, after the original is edited or deleted.

use axum::http::Method;
use serde_json::{Value, json};

use crate::support::{App, Client, client_id, ok, refused, send};

async fn reply(client: &mut Client, room: &str, to: &Value, body: &str) -> Value {
    let answer = client
        .call(
            "message:send",
            json!({"room_id": room, "client_id": client_id(), "body": body, "reply_to": to["id"]}),
        )
        .await;
    ok(&answer)["message"].clone()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_reply_shows_the_message_it_answers_as_that_one_is_now() {
    let app = App::new().await;
    let (alice, bob) = (app.user("alice").await, app.user("bob").await);
    let room = app.group(&alice, &[&bob]).await;
    let mut a = app.connect(&alice).await;
    let mut b = app.connect(&bob).await;
    let long = "é".repeat(130);
    let original = send(&mut a, &room, &long).await;
    assert_eq!(original["reply_preview"], Value::Null, "not a reply");
    for client in [&mut a, &mut b] {
        client.take("message", 1).await;
    }

    let answer = reply(&mut b, &room, &original, "I agree").await;
    let preview = json!({
        "message_id": original["id"], "sender_id": alice.id,
        "body": "é".repeat(120), "deleted": false,
    });
    assert_eq!(answer["reply_preview"], preview, "cut to 120 characters");
    assert_eq!(
        a.next_payload("message").await,
        answer,
        "the room gets it the same"
    );

    // The original is edited: the reply is not changed (no rev of its own), but shows the
    // new text wherever it is served; clients learn of the edit from the original's change.
    let edited = a
        .call(
            "message:edit",
            json!({"room_id": room, "message_id": original["id"], "body": "actually, no"}),
        )
        .await;
    ok(&edited);
    let answer_sync = b
        .call(
            "sync",
            json!({"rooms": [{"room_id": room, "after_seq": answer["seq"], "after_rev": 0}]}),
        )
        .await;
    let synced = &ok(&answer_sync)["rooms"][0];
    let changed: Vec<&Value> = synced["changed"].as_array().unwrap().iter().collect();
    assert_eq!(changed.len(), 1, "only the original changed: {changed:?}");
    assert_eq!(changed[0]["id"], original["id"]);
    let (_, page) = app
        .http(
            Method::GET,
            &format!("/api/rooms/{room}/messages"),
            Some(&bob),
            None,
        )
        .await;
    let served = &page["messages"][1];
    assert_eq!(served["id"], answer["id"]);
    assert_eq!(served["rev"], json!(0), "the reply itself never changed");
    assert_eq!(served["reply_preview"]["body"], json!("actually, no"));

    // A reply to the reply, retried: the retry shows the preview too.
    let cid = client_id();
    let payload =
        json!({"room_id": room, "client_id": cid, "body": "and?", "reply_to": answer["id"]});
    let first = ok(&a.call("message:send", payload.clone()).await)["message"].clone();
    let again = ok(&a.call("message:send", payload).await)["message"].clone();
    assert_eq!(again, first);
    assert_eq!(again["reply_preview"]["message_id"], answer["id"]);
    assert_eq!(again["reply_preview"]["sender_id"], json!(bob.id));

    // Deleted: the preview says so, without the text.
    ok(&a
        .call(
            "message:delete",
            json!({"room_id": room, "message_id": original["id"]}),
        )
        .await);
    let answer_sync = b
        .call(
            "sync",
            json!({"rooms": [{"room_id": room, "after_seq": 0}]}),
        )
        .await;
    let messages = &ok(&answer_sync)["rooms"][0]["messages"];
    assert_eq!(
        messages[1]["reply_preview"],
        json!({"message_id": original["id"], "sender_id": alice.id, "body": "", "deleted": true})
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_reply_to_a_message_of_another_room_is_refused() {
    let app = App::new().await;
    let alice = app.user("alice").await;
    let (room, other) = (app.group(&alice, &[]).await, app.group(&alice, &[]).await);
    let mut a = app.connect(&alice).await;
    let elsewhere = send(&mut a, &other, "over there").await;
    let answer = a
        .call(
            "message:send",
            json!({"room_id": room, "client_id": client_id(), "body": "re", "reply_to": elsewhere["id"]}),
        )
        .await;
    refused(&answer, "invalid_request");
}
