//! `typing`: relayed to the other members only, in emit order, limited per user and room, and
//! ended by a message.

use std::time::Duration;

use rate_limit::Rule;
use serde_json::{Value, json};
use socket_service::Limits;

use crate::support::{App, Client, assert_quiet, refused, send};

fn typing(room: &str, user_id: &str, on: bool) -> Value {
    json!({"room_id": room, "user_id": user_id, "typing": on})
}

async fn set_typing(client: &mut Client, room: &str, on: bool) {
    let answer = client
        .call("typing", json!({"room_id": room, "typing": on}))
        .await;
    assert_eq!(answer, json!({"ok": true}));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn typing_reaches_the_other_members_but_not_the_typist() {
    let app = App::new().await;
    let (alice, bob, carol, dave) = (
        app.user("alice").await,
        app.user("bob").await,
        app.user("carol").await,
        app.user("dave").await,
    );
    let room = app.group(&alice, &[&bob, &carol]).await;
    app.group(&dave, &[]).await;
    let mut a = app.connect(&alice).await;
    let mut a2 = app.connect(&alice).await;
    let mut b = app.connect(&bob).await;
    let mut c = app.connect(&carol).await;
    let mut d = app.connect(&dave).await;

    set_typing(&mut a, &room, true).await;
    for client in [&mut b, &mut c] {
        assert_eq!(
            client.next_payload("typing").await,
            typing(&room, &alice.id, true)
        );
    }
    assert_quiet(&mut [&mut a, &mut a2, &mut d], &["typing"]).await;

    set_typing(&mut a, &room, false).await;
    for client in [&mut b, &mut c] {
        assert_eq!(
            client.next_payload("typing").await,
            typing(&room, &alice.id, false)
        );
    }
    // The ack is optional.
    b.emit_no_ack("typing", json!({"room_id": room, "typing": true}))
        .await;
    assert_eq!(
        a2.next_payload("typing").await,
        typing(&room, &bob.id, true)
    );
    assert_eq!(a.next_payload("typing").await, typing(&room, &bob.id, true));
    assert_eq!(c.next_payload("typing").await, typing(&room, &bob.id, true));
    b.assert_none("typing").await;

    // Not a member: not_found, relayed to nobody. A bad payload: invalid_request.
    let answer = d
        .call("typing", json!({"room_id": room, "typing": true}))
        .await;
    refused(&answer, "not_found");
    for payload in [
        json!({"room_id": room, "typing": "yes"}),
        json!({"room_id": room}),
        json!(true),
    ] {
        let answer = a.call("typing", payload).await;
        refused(&answer, "invalid_request");
    }
    assert_quiet(&mut [&mut a, &mut a2, &mut b, &mut c, &mut d], &["typing"]).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn typing_events_are_relayed_in_emit_order() {
    let app = App::new().await;
    let (alice, bob) = (app.user("alice").await, app.user("bob").await);
    let room = app.group(&alice, &[&bob]).await;
    let mut a = app.connect(&alice).await;
    let mut b = app.connect(&bob).await;

    let order = [true, false, true, false, true];
    let mut ids = Vec::new();
    for on in order {
        ids.push(
            a.emit("typing", json!({"room_id": room, "typing": on}))
                .await,
        );
    }
    for id in ids {
        assert_eq!(a.ack(id).await, json!({"ok": true}));
    }
    for on in order {
        assert_eq!(b.next_payload("typing").await, typing(&room, &alice.id, on));
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_message_ends_typing_for_the_others() {
    let app = App::new().await;
    let (alice, bob) = (app.user("alice").await, app.user("bob").await);
    let room = app.group(&alice, &[&bob]).await;
    let mut a = app.connect(&alice).await;
    let mut b = app.connect(&bob).await;

    set_typing(&mut a, &room, true).await;
    assert_eq!(
        b.next_payload("typing").await,
        typing(&room, &alice.id, true)
    );
    let message = send(&mut a, &room, "done typing").await;
    let received = b.next("message").await;
    assert_eq!(received.payload, message);
    let ended = b.next("typing").await;
    assert_eq!(ended.payload, typing(&room, &alice.id, false));
    assert!(
        received.index < ended.index,
        "typing: false comes right after the message"
    );
    a.assert_none("typing").await;

    // Once: the next message ends nothing.
    send(&mut a, &room, "again").await;
    b.next("message").await;
    b.assert_none("typing").await;
    // Nor does a message of someone who was not typing.
    send(&mut b, &room, "bob").await;
    a.assert_none("typing").await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn typing_over_the_rate_is_dropped_but_its_end_gets_through() {
    let app = App::with_limits(Limits {
        typing_rate: Rule::new(2, Duration::from_secs(60)),
        ..Limits::default()
    })
    .await;
    let (alice, bob) = (app.user("alice").await, app.user("bob").await);
    let room = app.group(&alice, &[&bob]).await;
    let mut a = app.connect(&alice).await;
    let mut b = app.connect(&bob).await;

    set_typing(&mut a, &room, true).await;
    set_typing(&mut a, &room, true).await;
    set_typing(&mut a, &room, true).await; // over the rate: acked, dropped
    set_typing(&mut a, &room, false).await; // ends a relayed true: relayed
    set_typing(&mut a, &room, false).await; // nothing to end, over the rate: dropped
    for on in [true, true, false] {
        assert_eq!(b.next_payload("typing").await, typing(&room, &alice.id, on));
    }
    b.assert_none("typing").await;
}
