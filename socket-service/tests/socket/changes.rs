//! `message:edit` and `message:delete`: the acks, `message:updated` / `message:deleted` to the
//! members, the room's `rev`, and every refusal.

use serde_json::json;

use crate::support::{App, assert_quiet, assert_time, ok, refused, send};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_edit_is_acked_with_the_new_state_and_sent_to_every_member() {
    let app = App::new().await;
    let (alice, bob) = (app.user("alice").await, app.user("bob").await);
    let room = app.group(&alice, &[&bob]).await;
    let mut a = app.connect(&alice).await;
    let mut b = app.connect(&bob).await;
    let first = send(&mut a, &room, "helo").await;
    let second = send(&mut a, &room, "second").await;
    for client in [&mut a, &mut b] {
        client.take("message", 2).await;
    }

    let answer = a
        .call(
            "message:edit",
            json!({"room_id": room, "message_id": first["id"], "body": "  hello  "}),
        )
        .await;
    let edited = ok(&answer)["message"].clone();
    assert_eq!(edited["id"], first["id"]);
    assert_eq!(edited["seq"], first["seq"]);
    assert_eq!(edited["client_id"], first["client_id"]);
    assert_eq!(edited["created_at"], first["created_at"]);
    assert_eq!(edited["body"], json!("hello"), "trimmed");
    assert_eq!(edited["rev"], json!(1));
    assert_eq!(edited["deleted"], json!(false));
    assert_time(&edited["edited_at"]);
    for client in [&mut a, &mut b] {
        assert_eq!(client.next_payload("message:updated").await, edited);
    }

    // Each change takes the room's next rev; edited_at moves forward.
    let answer = a
        .call(
            "message:edit",
            json!({"room_id": room, "message_id": first["id"], "body": "hello!"}),
        )
        .await;
    let again = ok(&answer)["message"].clone();
    assert_eq!(again["rev"], json!(2));
    assert!(
        again["edited_at"].as_str() > edited["edited_at"].as_str(),
        "{again} after {edited}"
    );
    let answer = a
        .call(
            "message:edit",
            json!({"room_id": room, "message_id": second["id"], "body": "2nd"}),
        )
        .await;
    assert_eq!(ok(&answer)["message"]["rev"], json!(3));
    for client in [&mut a, &mut b] {
        assert_eq!(client.next_payload("message:updated").await, again);
        assert_eq!(
            client.next_payload("message:updated").await,
            answer["message"]
        );
    }
    // An edit is no new message.
    b.assert_none("message").await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn only_the_sender_may_edit() {
    let app = App::new().await;
    let (alice, bob) = (app.user("alice").await, app.user("bob").await);
    let room = app.group(&alice, &[&bob]).await;
    let mut a = app.connect(&alice).await;
    let mut b = app.connect(&bob).await;
    let alices = send(&mut a, &room, "alice's").await;
    let bobs = send(&mut b, &room, "bob's").await;

    let answer = b
        .call(
            "message:edit",
            json!({"room_id": room, "message_id": alices["id"], "body": "mine now"}),
        )
        .await;
    refused(&answer, "forbidden");
    // Not even the group's owner.
    let answer = a
        .call(
            "message:edit",
            json!({"room_id": room, "message_id": bobs["id"], "body": "owner's"}),
        )
        .await;
    refused(&answer, "forbidden");
    assert_quiet(&mut [&mut a, &mut b], &["message:updated"]).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn editing_an_unknown_or_deleted_message_is_not_found() {
    let app = App::new().await;
    let (alice, bob, carol) = (
        app.user("alice").await,
        app.user("bob").await,
        app.user("carol").await,
    );
    let room = app.group(&alice, &[&bob]).await;
    let mut a = app.connect(&alice).await;
    let mut c = app.connect(&carol).await;
    let kept = send(&mut a, &room, "kept").await;
    let gone = send(&mut a, &room, "gone").await;
    let answer = a
        .call(
            "message:delete",
            json!({"room_id": room, "message_id": gone["id"]}),
        )
        .await;
    ok(&answer);

    let answer = a
        .call(
            "message:edit",
            json!({"room_id": room, "message_id": "no-such-message", "body": "x"}),
        )
        .await;
    refused(&answer, "not_found");
    let answer = a
        .call(
            "message:edit",
            json!({"room_id": room, "message_id": gone["id"], "body": "back"}),
        )
        .await;
    refused(&answer, "not_found");
    // A message of another room is not found in this one.
    let other = app.group(&alice, &[]).await;
    let answer = a
        .call(
            "message:edit",
            json!({"room_id": other, "message_id": kept["id"], "body": "x"}),
        )
        .await;
    refused(&answer, "not_found");
    // Nor for a non-member, even with the right ids.
    let answer = c
        .call(
            "message:edit",
            json!({"room_id": room, "message_id": kept["id"], "body": "x"}),
        )
        .await;
    let error = refused(&answer, "not_found");
    assert_eq!(error["message"], json!("room not found"));
    a.assert_none("message:updated").await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_edit_with_a_bad_body_or_payload_is_invalid_request() {
    let app = App::new().await;
    let alice = app.user("alice").await;
    let room = app.group(&alice, &[]).await;
    let mut a = app.connect(&alice).await;
    let message = send(&mut a, &room, "original").await;

    for body in [
        json!(""),
        json!("   "),
        json!("x".repeat(4001)),
        json!(null),
    ] {
        let answer = a
            .call(
                "message:edit",
                json!({"room_id": room, "message_id": message["id"], "body": body}),
            )
            .await;
        refused(&answer, "invalid_request");
    }
    let answer = a
        .call(
            "message:edit",
            json!({"room_id": room, "message_id": message["id"]}),
        )
        .await;
    refused(&answer, "invalid_request");
    let answer = a.call_raw(r#"["message:edit","hello"]"#).await;
    refused(&answer, "invalid_request");
    a.assert_none("message:updated").await;

    // Unchanged, and still editable.
    let answer = a
        .call(
            "message:edit",
            json!({"room_id": room, "message_id": message["id"], "body": "fixed"}),
        )
        .await;
    assert_eq!(ok(&answer)["message"]["rev"], json!(1));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_delete_is_acked_sent_to_every_member_and_final() {
    let app = App::new().await;
    let (alice, bob) = (app.user("alice").await, app.user("bob").await);
    let room = app.group(&alice, &[&bob]).await;
    let mut a = app.connect(&alice).await;
    let mut b = app.connect(&bob).await;
    let message = send(&mut a, &room, "regrettable").await;

    let answer = a
        .call(
            "message:delete",
            json!({"room_id": room, "message_id": message["id"]}),
        )
        .await;
    assert_eq!(answer, json!({"ok": true}));
    let expected = json!({"room_id": room, "message_id": message["id"], "seq": message["seq"]});
    for client in [&mut a, &mut b] {
        assert_eq!(client.next_payload("message:deleted").await, expected);
    }

    // Deleting it again answers ok and emits nothing.
    let answer = a
        .call(
            "message:delete",
            json!({"room_id": room, "message_id": message["id"]}),
        )
        .await;
    assert_eq!(answer, json!({"ok": true}));
    assert_quiet(&mut [&mut a, &mut b], &["message:deleted"]).await;

    // Its deleted state, with the change's rev, is what sync answers.
    let answer = b.call("sync", json!({"rooms": [{"room_id": room}]})).await;
    let synced = &ok(&answer)["rooms"][0];
    assert_eq!(synced["rev"], json!(1));
    let deleted = &synced["messages"][0];
    assert_eq!(deleted["id"], message["id"]);
    assert_eq!(deleted["seq"], message["seq"]);
    assert_eq!(deleted["deleted"], json!(true));
    assert_eq!(deleted["body"], json!(""));
    assert_eq!(deleted["attachments"], json!([]));
    assert_eq!(deleted["rev"], json!(1));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn only_the_sender_or_the_groups_owner_may_delete() {
    let app = App::new().await;
    let (alice, bob, carol) = (
        app.user("alice").await,
        app.user("bob").await,
        app.user("carol").await,
    );
    let group = app.group(&alice, &[&bob, &carol]).await;
    let direct = app.direct(&alice, &bob).await;
    let mut a = app.connect(&alice).await;
    let mut b = app.connect(&bob).await;
    let mut c = app.connect(&carol).await;
    let alices = send(&mut a, &group, "alice's").await;
    let bobs = send(&mut b, &group, "bob's").await;
    let direct_message = send(&mut a, &direct, "direct").await;

    // Another member: forbidden.
    let answer = c
        .call(
            "message:delete",
            json!({"room_id": group, "message_id": bobs["id"]}),
        )
        .await;
    refused(&answer, "forbidden");
    let answer = b
        .call(
            "message:delete",
            json!({"room_id": group, "message_id": alices["id"]}),
        )
        .await;
    refused(&answer, "forbidden");
    // A direct room has no owner: its creator may not delete the other's messages, nor the
    // other the creator's.
    let answer = b
        .call(
            "message:delete",
            json!({"room_id": direct, "message_id": direct_message["id"]}),
        )
        .await;
    refused(&answer, "forbidden");
    assert_quiet(&mut [&mut a, &mut b, &mut c], &["message:deleted"]).await;

    // The group's owner may.
    let answer = a
        .call(
            "message:delete",
            json!({"room_id": group, "message_id": bobs["id"]}),
        )
        .await;
    ok(&answer);
    let expected = json!({"room_id": group, "message_id": bobs["id"], "seq": bobs["seq"]});
    for client in [&mut a, &mut b, &mut c] {
        assert_eq!(client.next_payload("message:deleted").await, expected);
    }

    // Unknown messages and other people's rooms are not found; a bad payload is invalid.
    let answer = a
        .call(
            "message:delete",
            json!({"room_id": group, "message_id": "no-such-message"}),
        )
        .await;
    refused(&answer, "not_found");
    let others = app.group(&carol, &[]).await;
    let answer = a
        .call(
            "message:delete",
            json!({"room_id": others, "message_id": alices["id"]}),
        )
        .await;
    refused(&answer, "not_found");
    let answer = a.call("message:delete", json!({"room_id": group})).await;
    refused(&answer, "invalid_request");
    let answer = a.call_raw(r#"["message:delete",[]]"#).await;
    refused(&answer, "invalid_request");
}
