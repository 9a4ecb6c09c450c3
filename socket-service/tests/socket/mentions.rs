//! `mentions` and `mentions_room`: computed by the server from the body on send and on edit,
//! never taken from the client.

use serde_json::{Value, json};

use crate::support::{App, client_id, ok, send};

fn ids(message: &Value) -> Vec<String> {
    message["mentions"]
        .as_array()
        .expect("mentions is an array")
        .iter()
        .map(|v| v.as_str().unwrap().to_string())
        .collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn members_named_in_the_body_are_mentioned_and_room_only_by_the_owner() {
    let app = App::new().await;
    let (alice, bob, carol, dave) = (
        app.user("alice").await,
        app.user("bob").await,
        app.user("carol").await,
        app.user("dave").await,
    );
    let room = app.group(&alice, &[&bob, &carol]).await;
    let mut a = app.connect(&alice).await;
    let mut b = app.connect(&bob).await;

    // Names as typed, any case, once each, in order; a non-member and unknown names are text.
    let body = format!(
        "@{} and @{}, ask @{} or @nobody; @room. Again @{}.",
        bob.username.to_uppercase(),
        carol.username,
        dave.username,
        bob.username
    );
    let message = send(&mut a, &room, &body).await;
    assert_eq!(ids(&message), [bob.id.clone(), carol.id.clone()]);
    assert_eq!(
        message["mentions_room"],
        json!(true),
        "the owner may mention the room"
    );
    assert_eq!(
        b.take("message", 1).await[0],
        message,
        "members get it the same"
    );

    // @room from a plain member is plain text; a mention in an email address is none.
    let plain = send(
        &mut b,
        &room,
        &format!("@room hello, mail {}@example.com", alice.username),
    )
    .await;
    assert_eq!(ids(&plain), Vec::<String>::new());
    assert_eq!(plain["mentions_room"], json!(false));

    // Whatever the client says is ignored.
    let answer = b
        .call(
            "message:send",
            json!({"room_id": room, "client_id": client_id(), "body": "hi",
                   "mentions": [alice.id], "mentions_room": true}),
        )
        .await;
    let ignored = &ok(&answer)["message"];
    assert_eq!(ids(ignored), Vec::<String>::new());
    assert_eq!(ignored["mentions_room"], json!(false));

    // An edit recomputes them.
    let answer = a
        .call(
            "message:edit",
            json!({"room_id": room, "message_id": message["id"], "body": format!("only @{}", carol.username)}),
        )
        .await;
    let edited = &ok(&answer)["message"];
    assert_eq!(ids(edited), [carol.id.as_str()]);
    assert_eq!(edited["mentions_room"], json!(false));

    // Deleted: mentions nobody. History agrees throughout.
    ok(&a
        .call(
            "message:delete",
            json!({"room_id": room, "message_id": plain["id"]}),
        )
        .await);
    let answer = b
        .call(
            "sync",
            json!({"rooms": [{"room_id": room, "after_seq": 0}]}),
        )
        .await;
    let messages = &ok(&answer)["rooms"][0]["messages"];
    assert_eq!(ids(&messages[0]), [carol.id.as_str()]);
    assert_eq!(ids(&messages[1]), Vec::<String>::new());
    assert_eq!(messages[1]["deleted"], json!(true));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_direct_room_has_no_room_mention() {
    let app = App::new().await;
    let (alice, bob) = (app.user("alice").await, app.user("bob").await);
    let room = app.direct(&alice, &bob).await;
    let mut a = app.connect(&alice).await;
    let message = send(&mut a, &room, &format!("@room @{}", bob.username)).await;
    assert_eq!(message["mentions_room"], json!(false));
    assert_eq!(ids(&message), [bob.id.as_str()]);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn unread_mentions_count_what_mentions_the_caller_after_their_read_pointer() {
    let app = App::new().await;
    let (alice, bob) = (app.user("alice").await, app.user("bob").await);
    let room = app.group(&alice, &[&bob]).await;
    let mut a = app.connect(&alice).await;
    let mut b = app.connect(&bob).await;
    send(&mut a, &room, &format!("hi @{}", bob.username)).await;
    send(&mut a, &room, "no mention").await;
    send(&mut a, &room, "@room meeting").await;
    let gone = send(&mut a, &room, &format!("@{} oops", bob.username)).await;
    ok(&a
        .call(
            "message:delete",
            json!({"room_id": room, "message_id": gone["id"]}),
        )
        .await);
    // bob's own mention of himself is no news to him.
    send(&mut b, &room, &format!("note to self @{}", bob.username)).await;

    let unread_mentions = async |user| {
        let (_, body) = app
            .http(axum::http::Method::GET, "/api/rooms", Some(user), None)
            .await;
        let room = body["rooms"]
            .as_array()
            .unwrap()
            .iter()
            .find(|r| r["id"] == json!(room))
            .cloned()
            .unwrap();
        (room["unread"].clone(), room["unread_mentions"].clone())
    };
    assert_eq!(unread_mentions(&bob).await.1, json!(2));
    assert_eq!(
        unread_mentions(&alice).await.1,
        json!(0),
        "@room from oneself"
    );
    // Read up to the first message: one mention left.
    ok(&b.call("read", json!({"room_id": room, "seq": 1})).await);
    assert_eq!(unread_mentions(&bob).await.1, json!(1));
    ok(&b.call("read", json!({"room_id": room, "seq": 5})).await);
    assert_eq!(unread_mentions(&bob).await, (json!(0), json!(0)));
}
