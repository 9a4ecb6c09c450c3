//! `sync`: new messages after `after_seq`, changes after `after_rev`, the room's `rev`, paging,
//! per-room refusals, the limit on rooms per call and the bound on one answer's messages.

use std::time::Duration;

use models::Timestamp;
use models::chat::Message;
use rate_limit::Rule;
use serde_json::{Value, json};
use socket_service::Limits;
use store::ChatStore;

use crate::support::{App, client_id, error_detail, ok, refused, send};

/// The one room of a sync answer, checked for its shape.
#[track_caller]
fn only_room(answer: &Value) -> &Value {
    let rooms = ok(answer)["rooms"].as_array().expect("rooms");
    assert_eq!(rooms.len(), 1, "{answer}");
    let room = &rooms[0];
    let mut keys: Vec<&String> = room.as_object().unwrap().keys().collect();
    keys.sort();
    assert_eq!(
        keys,
        [
            "changed",
            "changed_more",
            "has_more",
            "messages",
            "rev",
            "room_id"
        ],
        "{room}"
    );
    room
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sync_answers_new_messages_by_seq_and_changes_by_rev() {
    let app = App::new().await;
    let (alice, bob, carol) = (
        app.user("alice").await,
        app.user("bob").await,
        app.user("carol").await,
    );
    let room = app.group(&alice, &[&bob]).await;
    let theirs = app.group(&carol, &[]).await;
    let mut a = app.connect(&alice).await;
    let mut b = app.connect(&bob).await;

    // An empty room: nothing, rev 0.
    let answer = b.call("sync", json!({"rooms": [{"room_id": room}]})).await;
    assert_eq!(
        only_room(&answer),
        &json!({"room_id": room, "messages": [], "has_more": false, "changed": [],
                "changed_more": false, "rev": 0})
    );

    let m1 = send(&mut a, &room, "one").await;
    let m2 = send(&mut a, &room, "two").await;
    let m3 = send(&mut a, &room, "three").await;
    let answer = a
        .call(
            "message:edit",
            json!({"room_id": room, "message_id": m1["id"], "body": "one, edited"}),
        )
        .await;
    let m1_edited = ok(&answer)["message"].clone();
    let answer = a
        .call(
            "message:delete",
            json!({"room_id": room, "message_id": m2["id"]}),
        )
        .await;
    ok(&answer);

    // From scratch: every message in its current state; nothing counts as changed.
    let answer = b.call("sync", json!({"rooms": [{"room_id": room}]})).await;
    let synced = only_room(&answer);
    assert_eq!(synced["room_id"], json!(room));
    assert_eq!(synced["rev"], json!(2));
    assert_eq!(synced["has_more"], json!(false));
    assert_eq!(synced["changed"], json!([]));
    assert_eq!(synced["changed_more"], json!(false));
    let messages = synced["messages"].as_array().unwrap();
    assert_eq!(messages.len(), 3);
    assert_eq!(messages[0], m1_edited);
    assert_eq!(messages[1]["id"], m2["id"]);
    assert_eq!(messages[1]["deleted"], json!(true));
    assert_eq!(messages[1]["body"], json!(""));
    assert_eq!(messages[1]["rev"], json!(2));
    assert_eq!(messages[2], m3);
    let m2_deleted = messages[1].clone();

    // Holding everything up to seq 3 but no change: both changes, by rev.
    let answer = b
        .call(
            "sync",
            json!({"rooms": [{"room_id": room, "after_seq": 3, "after_rev": 0}]}),
        )
        .await;
    let synced = only_room(&answer);
    assert_eq!(synced["messages"], json!([]));
    assert_eq!(synced["changed"], json!([m1_edited, m2_deleted]));
    assert_eq!(synced["rev"], json!(2));

    // After rev 1: the delete only.
    let answer = b
        .call(
            "sync",
            json!({"rooms": [{"room_id": room, "after_seq": 3, "after_rev": 1}]}),
        )
        .await;
    assert_eq!(only_room(&answer)["changed"], json!([m2_deleted]));

    // Holding seq 1: seqs 2 and 3 are new, the change of seq 1 is changed.
    let answer = b
        .call(
            "sync",
            json!({"rooms": [{"room_id": room, "after_seq": 1}]}),
        )
        .await;
    let synced = only_room(&answer);
    assert_eq!(synced["messages"], json!([m2_deleted, m3]));
    assert_eq!(synced["changed"], json!([m1_edited]));

    // Up to date: nothing.
    let answer = b
        .call(
            "sync",
            json!({"rooms": [{"room_id": room, "after_seq": 3, "after_rev": 2}]}),
        )
        .await;
    let synced = only_room(&answer);
    assert_eq!(synced["messages"], json!([]));
    assert_eq!(synced["changed"], json!([]));
    assert_eq!(synced["rev"], json!(2));

    // A room of others and an unknown one answer not_found in their entries; the member's
    // room is answered as before, and the answers keep the order asked.
    let answer = b
        .call(
            "sync",
            json!({"rooms": [{"room_id": theirs}, {"room_id": room, "after_seq": 3},
                             {"room_id": "no-such-room", "after_seq": 5, "after_rev": 5}]}),
        )
        .await;
    let rooms = ok(&answer)["rooms"].as_array().unwrap().clone();
    assert_eq!(rooms.len(), 3);
    for (entry, id) in [(&rooms[0], theirs.as_str()), (&rooms[2], "no-such-room")] {
        let mut bare = entry.clone();
        let error = bare
            .as_object_mut()
            .unwrap()
            .remove("error")
            .expect("an error");
        error_detail(&error, "not_found");
        assert_eq!(
            bare,
            json!({"room_id": id, "messages": [], "has_more": false, "changed": [],
                   "changed_more": false, "rev": 0})
        );
    }
    assert_eq!(rooms[1]["room_id"], json!(room));
    assert_eq!(rooms[1]["rev"], json!(2));
    assert!(rooms[1].get("error").is_none());

    // No rooms: nothing.
    let answer = b.call("sync", json!({"rooms": []})).await;
    assert_eq!(answer, json!({"ok": true, "rooms": []}));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sync_pages_messages_and_changes_by_100() {
    let app = App::with_limits(Limits {
        send_rate: Rule::new(1000, Duration::from_secs(10)),
        ..Limits::default()
    })
    .await;
    let alice = app.user("alice").await;
    let room = app.group(&alice, &[]).await;
    let mut a = app.connect(&alice).await;

    let mut pending = Vec::new();
    for i in 0..105 {
        let id = a
            .emit(
                "message:send",
                json!({"room_id": room, "client_id": client_id(), "body": format!("m{i}")}),
            )
            .await;
        pending.push(id);
    }
    let mut messages = Vec::new();
    for id in pending {
        messages.push(ok(&a.ack(id).await)["message"].clone());
    }
    // 101 changes, one per message, revs 1 to 101 in the order they were acked.
    let mut by_rev = vec![Value::Null; 101];
    let mut pending = Vec::new();
    for m in &messages[..101] {
        let id = a
            .emit(
                "message:edit",
                json!({"room_id": room, "message_id": m["id"], "body": "edited"}),
            )
            .await;
        pending.push(id);
    }
    for id in pending {
        let edited = ok(&a.ack(id).await)["message"].clone();
        let rev = edited["rev"].as_u64().unwrap() as usize;
        assert!((1..=101).contains(&rev), "{edited}");
        assert!(by_rev[rev - 1].is_null(), "rev {rev} given twice");
        by_rev[rev - 1] = edited;
    }

    // Messages: 100, then the rest.
    let answer = a.call("sync", json!({"rooms": [{"room_id": room}]})).await;
    let page = only_room(&answer);
    let seqs: Vec<u64> = page["messages"]
        .as_array()
        .unwrap()
        .iter()
        .map(|m| m["seq"].as_u64().unwrap())
        .collect();
    assert_eq!(seqs, (1..=100).collect::<Vec<u64>>());
    assert_eq!(page["has_more"], json!(true));
    assert_eq!(page["rev"], json!(101));
    let answer = a
        .call(
            "sync",
            json!({"rooms": [{"room_id": room, "after_seq": 100}]}),
        )
        .await;
    let page = only_room(&answer);
    // Seq 101 in its edited state, the rest as sent.
    let edited_101 = by_rev.iter().find(|m| m["seq"] == json!(101)).unwrap();
    let mut rest = vec![edited_101.clone()];
    rest.extend_from_slice(&messages[101..]);
    assert_eq!(page["messages"], json!(rest));
    assert_eq!(page["has_more"], json!(false));

    // Changes: 100 by rev, then the last one.
    let answer = a
        .call(
            "sync",
            json!({"rooms": [{"room_id": room, "after_seq": 105, "after_rev": 0}]}),
        )
        .await;
    let page = only_room(&answer);
    assert_eq!(page["messages"], json!([]));
    assert_eq!(page["changed"], json!(by_rev[..100]));
    assert_eq!(page["changed_more"], json!(true));
    let answer = a
        .call(
            "sync",
            json!({"rooms": [{"room_id": room, "after_seq": 105, "after_rev": 100}]}),
        )
        .await;
    let page = only_room(&answer);
    assert_eq!(page["changed"], json!(by_rev[100..]));
    assert_eq!(page["changed_more"], json!(false));
    assert_eq!(page["rev"], json!(101));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sync_takes_at_most_1000_rooms_and_a_well_formed_payload() {
    let app = App::new().await;
    let alice = app.user("alice").await;
    let room = app.group(&alice, &[]).await;
    let mut a = app.connect(&alice).await;

    let cursors = |n: usize| -> Vec<Value> {
        (0..n)
            .map(|i| json!({"room_id": format!("r{i}")}))
            .collect()
    };
    let answer = a.call("sync", json!({"rooms": cursors(1001)})).await;
    refused(&answer, "invalid_request");

    // 1000 is fine: each unknown room answers its own not_found.
    let answer = a.call("sync", json!({"rooms": cursors(1000)})).await;
    let rooms = ok(&answer)["rooms"].as_array().unwrap();
    assert_eq!(rooms.len(), 1000);
    assert!(
        rooms
            .iter()
            .all(|r| r["error"]["code"] == json!("not_found"))
    );

    for payload in [
        json!({}),
        json!({"rooms": room}),
        json!({"rooms": [{"after_seq": 1}]}),
        json!({"rooms": [{"room_id": room, "after_seq": -1}]}),
        json!([room]),
    ] {
        let answer = a.call("sync", payload).await;
        refused(&answer, "invalid_request");
    }
    // The socket still works.
    let answer = a.call("sync", json!({"rooms": [{"room_id": room}]})).await;
    assert_eq!(only_room(&answer)["rev"], json!(0));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn one_sync_answers_a_bounded_number_of_messages_and_names_each_room_once() {
    let app = App::new().await;
    let alice = app.user("alice").await;
    let mut a = app.connect(&alice).await;
    // One room named a thousand times would answer its page a thousand times.
    let room = app.group(&alice, &[]).await;
    send(&mut a, &room, &"x".repeat(4000)).await;
    let copies: Vec<Value> = (0..1000)
        .map(|_| json!({"room_id": room, "after_seq": 0}))
        .collect();
    let answer = a.call("sync", json!({"rooms": copies})).await;
    refused(&answer, "invalid_request");

    // 51 rooms of 100 long messages each: one answer carries 5,000 of them, then one per room
    // with `has_more`; the next sync brings the rest.
    let mut rooms = Vec::new();
    for _ in 0..51 {
        let id = app.group(&alice, &[]).await;
        let messages: Vec<Message> = (1..=100)
            .map(|seq| Message {
                id: uuid::Uuid::now_v7().to_string(),
                room_id: id.clone(),
                seq,
                sender_id: alice.id.clone(),
                client_id: client_id(),
                body: "y".repeat(4000),
                created_at: Timestamp::now(),
                ..Message::default()
            })
            .collect();
        app.store.insert_messages(&messages).await.unwrap();
        rooms.push(id);
    }
    let cursors: Vec<Value> = rooms
        .iter()
        .map(|r| json!({"room_id": r, "after_seq": 0}))
        .collect();
    let answer = a.call("sync", json!({"rooms": cursors})).await;
    let answered = ok(&answer)["rooms"].as_array().unwrap();
    let count = |r: &Value| r["messages"].as_array().unwrap().len();
    let total: usize = answered.iter().map(count).sum();
    assert_eq!(total, 5001, "the budget, then one to go on from");
    let size = answer.to_string().len();
    assert!(
        size < 23_000_000,
        "4,000 characters and the fields of each message: {size} bytes"
    );
    let short: Vec<&Value> = answered.iter().filter(|r| count(r) < 100).collect();
    assert_eq!(short.len(), 1);
    assert_eq!(count(short[0]), 1);
    assert_eq!(short[0]["has_more"], json!(true));
    let last = short[0]["room_id"].clone();
    let again = a
        .call(
            "sync",
            json!({"rooms": [{"room_id": last, "after_seq": 0}]}),
        )
        .await;
    assert_eq!(only_room(&again)["messages"].as_array().unwrap().len(), 100);
}
