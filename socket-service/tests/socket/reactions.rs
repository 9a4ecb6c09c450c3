//! `reaction:add` and `reaction:remove`: the acks, `message:updated` to the members, the
//! room's `rev`, retries, `sync`, the limits and every refusal.

use std::time::Duration;

use axum::http::Method;
use rate_limit::Rule;
use serde_json::{Value, json};
use socket_service::Limits;

use crate::support::{App, Client, assert_quiet, ok, refused, send};

async fn react(
    client: &mut Client,
    event: &str,
    room: &str,
    message: &Value,
    emoji: &str,
) -> Value {
    client
        .call(
            event,
            json!({"room_id": room, "message_id": message["id"], "emoji": emoji}),
        )
        .await
}

/// `[emoji, count, user_ids]` of each reaction, in order.
fn summary(message: &Value) -> Vec<(String, u64, Vec<String>)> {
    message["reactions"]
        .as_array()
        .expect("reactions is an array")
        .iter()
        .map(|r| {
            let users: Vec<String> = r["user_ids"]
                .as_array()
                .unwrap()
                .iter()
                .map(|u| u.as_str().unwrap().to_string())
                .collect();
            assert_eq!(r["count"].as_u64().unwrap() as usize, users.len(), "{r}");
            (
                r["emoji"].as_str().unwrap().to_string(),
                r["count"].as_u64().unwrap(),
                users,
            )
        })
        .collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn reactions_are_acked_sent_to_every_member_and_counted_once_per_user() {
    let app = App::new().await;
    let (alice, bob) = (app.user("alice").await, app.user("bob").await);
    let room = app.group(&alice, &[&bob]).await;
    let mut a = app.connect(&alice).await;
    let mut b = app.connect(&bob).await;
    let message = send(&mut a, &room, "lunch?").await;
    assert_eq!(message["reactions"], json!([]), "a new message has none");
    for client in [&mut a, &mut b] {
        client.take("message", 1).await;
    }

    let answer = react(&mut b, "reaction:add", &room, &message, "👍").await;
    let liked = ok(&answer)["message"].clone();
    assert_eq!(summary(&liked), [("👍".into(), 1, vec![bob.id.clone()])]);
    assert_eq!(liked["rev"], json!(1), "a reaction is a change");
    assert_eq!(liked["body"], message["body"]);
    assert_eq!(liked["edited_at"], json!(null), "a reaction is no edit");
    for client in [&mut a, &mut b] {
        assert_eq!(client.next_payload("message:updated").await, liked);
    }

    let answer = react(&mut a, "reaction:add", &room, &message, "👍").await;
    ok(&answer);
    let answer = react(&mut a, "reaction:add", &room, &message, ":tada:").await;
    let both = ok(&answer)["message"].clone();
    assert_eq!(
        summary(&both),
        [
            ("👍".into(), 2, vec![bob.id.clone(), alice.id.clone()]),
            (":tada:".into(), 1, vec![alice.id.clone()]),
        ]
    );
    assert_eq!(both["rev"], json!(3));
    for client in [&mut a, &mut b] {
        client.take("message:updated", 2).await;
    }

    // A retry changes nothing: the same answer, no broadcast, no new rev.
    let answer = react(&mut a, "reaction:add", &room, &message, ":tada:").await;
    assert_eq!(ok(&answer)["message"], both);
    // Removing one that is not there neither.
    let answer = react(&mut b, "reaction:remove", &room, &message, ":tada:").await;
    assert_eq!(ok(&answer)["message"], both);
    assert_quiet(&mut [&mut a, &mut b], &["message:updated"]).await;

    // The last user of an emoji takes it away; the order of the others stays.
    let answer = react(&mut b, "reaction:remove", &room, &message, "👍").await;
    let answer_a = react(&mut a, "reaction:remove", &room, &message, "👍").await;
    ok(&answer);
    let left = ok(&answer_a)["message"].clone();
    assert_eq!(
        summary(&left),
        [(":tada:".into(), 1, vec![alice.id.clone()])]
    );
    assert_eq!(left["rev"], json!(5));

    // History and sync show the current state; sync names it as a change after rev 3.
    let answer = b
        .call(
            "sync",
            json!({"rooms": [{"room_id": room, "after_seq": message["seq"], "after_rev": 3}]}),
        )
        .await;
    let synced = &ok(&answer)["rooms"][0];
    assert_eq!(synced["changed"], json!([left]));
    assert_eq!(synced["rev"], json!(5));
    let (_, page) = app
        .http(
            Method::GET,
            &format!("/api/rooms/{room}/messages"),
            Some(&bob),
            None,
        )
        .await;
    assert_eq!(page["messages"][0]["reactions"], left["reactions"]);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn many_members_reacting_at_once_all_count() {
    let app = App::new().await;
    let owner = app.user("owner").await;
    let mut users = Vec::new();
    for i in 0..8 {
        users.push(app.user(&format!("fan{i}")).await);
    }
    let room = app.group(&owner, &users.iter().collect::<Vec<_>>()).await;
    let mut o = app.connect(&owner).await;
    let message = send(&mut o, &room, "vote").await;
    let mut clients = Vec::new();
    for user in &users {
        clients.push(app.connect(user).await);
    }
    let tasks: Vec<_> = clients
        .into_iter()
        .enumerate()
        .map(|(i, mut client)| {
            let (room, message) = (room.clone(), message.clone());
            tokio::spawn(async move {
                for emoji in ["👍", if i % 2 == 0 { "🎉" } else { "❤️" }] {
                    let answer = react(&mut client, "reaction:add", &room, &message, emoji).await;
                    ok(&answer);
                }
            })
        })
        .collect();
    for task in tasks {
        task.await.unwrap();
    }
    let answer = o
        .call(
            "sync",
            json!({"rooms": [{"room_id": room, "after_seq": 0}]}),
        )
        .await;
    let current = &ok(&answer)["rooms"][0]["messages"][0];
    let counts: Vec<(String, u64)> = summary(current)
        .into_iter()
        .map(|(e, n, _)| (e, n))
        .collect();
    assert_eq!(counts.len(), 3, "{current}");
    assert!(counts.contains(&("👍".into(), 8)), "{counts:?}");
    assert!(counts.contains(&("🎉".into(), 4)), "{counts:?}");
    assert!(counts.contains(&("❤️".into(), 4)), "{counts:?}");
    assert_eq!(current["rev"], json!(16), "one rev per reaction");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn refusals() {
    let app = App::new().await;
    let (alice, bob, carol) = (
        app.user("alice").await,
        app.user("bob").await,
        app.user("carol").await,
    );
    let room = app.group(&alice, &[&bob]).await;
    let mut a = app.connect(&alice).await;
    let mut c = app.connect(&carol).await;
    let message = send(&mut a, &room, "react to me").await;

    for emoji in [
        "",
        "ok",
        "👍👍 ",
        ":Nope:",
        ":a b:",
        &"😀".repeat(17),
        &format!(":{}:", "x".repeat(33)),
    ] {
        let answer = react(&mut a, "reaction:add", &room, &message, emoji).await;
        refused(&answer, "invalid_request");
    }
    let answer = a
        .call(
            "reaction:add",
            json!({"room_id": room, "message_id": message["id"]}),
        )
        .await;
    refused(&answer, "invalid_request");
    let answer = a.call_raw(r#"["reaction:add","👍"]"#).await;
    refused(&answer, "invalid_request");

    // Not a member: the room is not found.
    let answer = react(&mut c, "reaction:add", &room, &message, "👍").await;
    refused(&answer, "not_found");
    let answer = react(&mut a, "reaction:add", &room, &json!({"id": "nope"}), "👍").await;
    refused(&answer, "not_found");

    // At most 20 distinct emoji; an emoji already there may still be added to.
    for i in 0..20 {
        ok(&react(&mut a, "reaction:add", &room, &message, &format!(":e{i}:")).await);
    }
    let answer = react(&mut a, "reaction:add", &room, &message, ":e20:").await;
    refused(&answer, "invalid_request");
    let mut b = app.connect(&bob).await;
    ok(&react(&mut b, "reaction:add", &room, &message, ":e7:").await);

    // None on a deleted message: the reactions go with it.
    ok(&a
        .call(
            "message:delete",
            json!({"room_id": room, "message_id": message["id"]}),
        )
        .await);
    let answer = react(&mut b, "reaction:add", &room, &message, "👍").await;
    refused(&answer, "not_found");
    let answer = react(&mut b, "reaction:remove", &room, &message, ":e7:").await;
    refused(&answer, "not_found");
    let answer = a
        .call(
            "sync",
            json!({"rooms": [{"room_id": room, "after_seq": 0}]}),
        )
        .await;
    assert_eq!(
        ok(&answer)["rooms"][0]["messages"][0]["reactions"],
        json!([])
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn reactions_count_against_the_send_rate() {
    let app = App::with_limits(Limits {
        send_rate: Rule::new(3, Duration::from_secs(60)),
        ..Limits::default()
    })
    .await;
    let alice = app.user("alice").await;
    let room = app.group(&alice, &[]).await;
    let mut a = app.connect(&alice).await;
    let message = send(&mut a, &room, "one").await;
    ok(&react(&mut a, "reaction:add", &room, &message, "👍").await);
    ok(&react(&mut a, "reaction:remove", &room, &message, "👍").await);
    let answer = react(&mut a, "reaction:add", &room, &message, "👍").await;
    let error = refused(&answer, "rate_limited");
    assert!(error["retry_after_ms"].as_u64().unwrap() > 0, "{error}");
}
