//! `message:send`: the ack and the broadcast, retries of a `client_id`, every refusal, the
//! send rate, and the order of pipelined sends.

use std::time::Duration;

use rate_limit::Rule;
use serde_json::{Value, json};
use socket_service::Limits;

use crate::support::{App, assert_quiet, assert_time, client_id, ok, refused, send};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_message_is_acked_and_reaches_every_socket_of_every_member() {
    let app = App::new().await;
    let (alice, bob, carol) = (
        app.user("alice").await,
        app.user("bob").await,
        app.user("carol").await,
    );
    let room = app.group(&alice, &[&bob]).await;
    app.group(&carol, &[]).await;
    let mut a = app.connect(&alice).await;
    let mut a2 = app.connect(&alice).await;
    let mut b = app.connect(&bob).await;
    let mut c = app.connect(&carol).await;

    let cid = client_id();
    let answer = a
        .call(
            "message:send",
            json!({"room_id": room, "client_id": cid, "body": "  hello bob \n"}),
        )
        .await;
    ok(&answer);
    let keys: Vec<&String> = answer.as_object().unwrap().keys().collect();
    assert_eq!(keys, ["message", "ok"], "{answer}");
    let message = answer["message"].clone();
    assert!(message["id"].as_str().is_some_and(|id| !id.is_empty()));
    assert_eq!(message["room_id"], json!(room));
    assert_eq!(message["seq"], json!(1));
    assert_eq!(message["sender_id"], json!(alice.id));
    assert_eq!(message["client_id"], json!(cid));
    assert_eq!(message["body"], json!("hello bob"), "the body is trimmed");
    assert_eq!(message["attachments"], json!([]));
    assert_eq!(message["reply_to"], Value::Null);
    assert_eq!(message["edited_at"], Value::Null);
    assert_eq!(message["deleted"], json!(false));
    assert_eq!(message["rev"], json!(0));
    assert_time(&message["created_at"]);

    // Exactly what the room receives, on every socket of every member, the sender's own too.
    for client in [&mut a, &mut a2, &mut b] {
        assert_eq!(client.next_payload("message").await, message);
    }
    c.assert_none("message").await;

    // A reply to it is the room's next seq.
    let answer = a
        .call(
            "message:send",
            json!({"room_id": room, "client_id": client_id(), "body": "again",
                   "reply_to": message["id"]}),
        )
        .await;
    let reply = ok(&answer)["message"].clone();
    assert_eq!(reply["seq"], json!(2));
    assert_eq!(reply["reply_to"], message["id"]);
    assert_eq!(b.next_payload("message").await, reply);
    assert_eq!(a.next_payload("message").await, reply);
    assert_eq!(a2.next_payload("message").await, reply);
    assert_quiet(&mut [&mut a, &mut a2, &mut b], &["message"]).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_retried_client_id_answers_the_original_and_broadcasts_nothing() {
    let app = App::new().await;
    let (alice, bob) = (app.user("alice").await, app.user("bob").await);
    let room = app.group(&alice, &[&bob]).await;
    let mut a = app.connect(&alice).await;
    let mut b = app.connect(&bob).await;

    let cid = client_id();
    let first = a
        .call(
            "message:send",
            json!({"room_id": room, "client_id": cid, "body": "once"}),
        )
        .await;
    let original = ok(&first)["message"].clone();
    assert_eq!(b.next_payload("message").await, original);
    assert_eq!(a.next_payload("message").await, original);

    // The same client id again, with another body, and from another socket of the sender.
    let retry = a
        .call(
            "message:send",
            json!({"room_id": room, "client_id": cid, "body": "twice"}),
        )
        .await;
    assert_eq!(ok(&retry)["message"], original);
    let mut a2 = app.connect(&alice).await;
    let retry = a2
        .call(
            "message:send",
            json!({"room_id": room, "client_id": cid, "body": "thrice"}),
        )
        .await;
    assert_eq!(ok(&retry)["message"], original);
    assert_quiet(&mut [&mut b, &mut a, &mut a2], &["message"]).await;

    // A client id is the sender's own: the same one from bob is a new message.
    let answer = b
        .call(
            "message:send",
            json!({"room_id": room, "client_id": cid, "body": "bob's"}),
        )
        .await;
    let bobs = ok(&answer)["message"].clone();
    assert_eq!(bobs["seq"], json!(2));
    assert_eq!(bobs["sender_id"], json!(bob.id));
    assert_eq!(a.next_payload("message").await, bobs);

    // And a new client id from alice is the next seq: the retries used none.
    let next = send(&mut a, &room, "new").await;
    assert_eq!(next["seq"], json!(3));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn malformed_sends_are_invalid_request_and_the_socket_stays_usable() {
    let app = App::new().await;
    let (alice, bob) = (app.user("alice").await, app.user("bob").await);
    let room = app.group(&alice, &[&bob]).await;
    let mut a = app.connect(&alice).await;
    let mut b = app.connect(&bob).await;

    let payload = |client_id: &str, body: &str| {
        json!(["message:send", {"room_id": room, "client_id": client_id, "body": body}]).to_string()
    };
    let cases: Vec<(&str, String)> = vec![
        ("an empty client_id", payload("", "hi")),
        ("a client_id of 65 characters", payload(&"c".repeat(65), "hi")),
        ("a blank body", payload(&client_id(), " \n\t ")),
        (
            "a body of only invisible characters",
            payload(&client_id(), "\u{200B}\u{2060} \u{FEFF}"),
        ),
        (
            "no body",
            json!(["message:send", {"room_id": room, "client_id": client_id()}]).to_string(),
        ),
        ("a body of 4001 characters", payload(&client_id(), &"é".repeat(4001))),
        ("a string payload", r#"["message:send","hello"]"#.into()),
        ("an array payload", r#"["message:send",[1,2]]"#.into()),
        ("a number payload", r#"["message:send",42]"#.into()),
        ("no payload", r#"["message:send"]"#.into()),
        (
            "no room_id",
            json!(["message:send", {"client_id": client_id(), "body": "hi"}]).to_string(),
        ),
        (
            "a body that is not a string",
            json!(["message:send", {"room_id": room, "client_id": client_id(), "body": 7}])
                .to_string(),
        ),
        (
            "a reply_to that is no message of the room",
            json!(["message:send", {"room_id": room, "client_id": client_id(), "body": "hi",
                                    "reply_to": "no-such-message"}])
            .to_string(),
        ),
        (
            "an unknown attachment",
            json!(["message:send", {"room_id": room, "client_id": client_id(), "body": "hi",
                                    "attachments": ["no-such-file"]}])
            .to_string(),
        ),
        (
            "eleven attachments",
            json!(["message:send", {"room_id": room, "client_id": client_id(), "body": "hi",
                                    "attachments": (0..11).map(|i| format!("f{i}")).collect::<Vec<_>>()}])
            .to_string(),
        ),
    ];
    for (what, data) in &cases {
        let answer = a.call_raw(data).await;
        assert_eq!(answer["ok"], json!(false), "{what}: {answer}");
        refused(&answer, "invalid_request");
    }
    assert_quiet(&mut [&mut b, &mut a], &["message"]).await;

    // The limits themselves pass, and the room's seqs start at 1: nothing was numbered.
    let answer = a
        .call(
            "message:send",
            json!({"room_id": room, "client_id": "c".repeat(64), "body": "é".repeat(4000)}),
        )
        .await;
    let message = ok(&answer)["message"].clone();
    assert_eq!(message["seq"], json!(1));
    assert_eq!(b.next_payload("message").await, message);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_send_to_a_room_of_others_or_no_room_is_not_found() {
    let app = App::new().await;
    let (alice, bob, carol) = (
        app.user("alice").await,
        app.user("bob").await,
        app.user("carol").await,
    );
    let theirs = app.group(&bob, &[&carol]).await;
    let mut a = app.connect(&alice).await;
    let mut b = app.connect(&bob).await;
    let mut c = app.connect(&carol).await;

    for room in [theirs.as_str(), "no-such-room"] {
        let answer = a
            .call(
                "message:send",
                json!({"room_id": room, "client_id": client_id(), "body": "hi"}),
            )
            .await;
        let error = refused(&answer, "not_found");
        assert_eq!(error["message"], json!("room not found"));
    }
    // The same answer whether the body is fine or not: nothing about the room leaks.
    let answer = a
        .call(
            "message:send",
            json!({"room_id": theirs, "client_id": client_id(), "body": ""}),
        )
        .await;
    refused(&answer, "not_found");
    assert_quiet(&mut [&mut b, &mut c, &mut a], &["message"]).await;

    // Nothing was numbered in their room.
    assert_eq!(send(&mut b, &theirs, "first").await["seq"], json!(1));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sends_over_the_burst_are_rate_limited_per_user() {
    let app = App::with_limits(Limits {
        send_rate: Rule::new(3, Duration::from_secs(60)),
        ..Limits::default()
    })
    .await;
    let (alice, bob) = (app.user("alice").await, app.user("bob").await);
    let room = app.group(&alice, &[&bob]).await;
    let mut a = app.connect(&alice).await;
    let mut a2 = app.connect(&alice).await;
    let mut b = app.connect(&bob).await;

    let mut accepted = Vec::new();
    for i in 0..3 {
        accepted.push(send(&mut a, &room, &format!("m{i}")).await);
    }
    let answer = a
        .call(
            "message:send",
            json!({"room_id": room, "client_id": client_id(), "body": "one too many"}),
        )
        .await;
    let error = refused(&answer, "rate_limited");
    let wait = error["retry_after_ms"].as_u64().unwrap();
    assert!(
        wait <= 20_000,
        "one send is refilled every 20 s, so the wait is at most that: {wait} ms"
    );

    // Per user, across sockets.
    let answer = a2
        .call(
            "message:send",
            json!({"room_id": room, "client_id": client_id(), "body": "other socket"}),
        )
        .await;
    refused(&answer, "rate_limited");

    // A retry of an accepted message still answers it, over the rate or not.
    let answer = a
        .call(
            "message:send",
            json!({"room_id": room, "client_id": accepted[1]["client_id"], "body": "m1"}),
        )
        .await;
    assert_eq!(ok(&answer)["message"], accepted[1]);

    // Bob has his own budget.
    let bobs = send(&mut b, &room, "bob is fine").await;
    assert_eq!(bobs["seq"], json!(4));

    // Bob saw alice's three messages and his own, nothing else.
    for expected in accepted.iter().chain([&bobs]) {
        assert_eq!(&b.next_payload("message").await, expected);
    }
    b.assert_none("message").await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn pipelined_sends_are_numbered_in_emit_order() {
    let app = App::new().await;
    let (alice, bob) = (app.user("alice").await, app.user("bob").await);
    let room = app.group(&alice, &[&bob]).await;
    let mut a = app.connect(&alice).await;
    let mut b = app.connect(&bob).await;

    // Twenty sends without waiting for acks, with a refused one among them that must not
    // hold up those after it.
    let mut emitted = Vec::new();
    for i in 0..21 {
        let body = if i == 10 {
            String::new()
        } else {
            format!("m{i}")
        };
        let cid = client_id();
        let id = a
            .emit(
                "message:send",
                json!({"room_id": room, "client_id": cid, "body": body}),
            )
            .await;
        emitted.push((i, cid, id));
    }
    let mut seqs = Vec::new();
    let mut client_ids = Vec::new();
    for (i, cid, id) in emitted {
        let answer = a.ack(id).await;
        if i == 10 {
            refused(&answer, "invalid_request");
            continue;
        }
        let message = &ok(&answer)["message"];
        assert_eq!(message["client_id"], json!(cid));
        seqs.push(message["seq"].as_u64().unwrap());
        client_ids.push(cid);
    }
    assert_eq!(seqs, (1..=20).collect::<Vec<u64>>(), "seqs in emit order");

    // The room receives them in seq order.
    let mut received = Vec::new();
    for _ in 0..20 {
        let m = b.next_payload("message").await;
        received.push((
            m["seq"].as_u64().unwrap(),
            m["client_id"].as_str().unwrap().to_string(),
        ));
    }
    let expected: Vec<(u64, String)> = (1..=20).zip(client_ids).collect();
    assert_eq!(received, expected);
}
