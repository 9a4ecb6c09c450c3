//! What a member would notice of web push, on both compositions.

use std::time::Duration;

use reqwest::StatusCode;
use serde_json::{Value, json};

use crate::Harness;
use crate::receiver::Behaviour;

/// Alice writes to a room with Bob (offline) and Carol (online). Bob's device gets the message,
/// decryptable, with the room, seq, Alice's name and a preview; Carol's and Alice's own devices
/// get nothing.
pub async fn an_offline_member_gets_the_message_and_nobody_else(h: Harness) {
    let [alice, bob, carol] = [
        h.user("alice").await,
        h.user("bob").await,
        h.user("carol").await,
    ];
    let room = h.room(&[&alice, &bob, &carol]).await;
    let devices = [
        h.receiver.device(Behaviour::Accept),
        h.receiver.device(Behaviour::Accept),
        h.receiver.device(Behaviour::Accept),
    ];
    let [alices, bobs, carols] = &devices;
    h.subscribe(&alice, alices).await;
    h.subscribe(&bob, bobs).await;
    h.subscribe(&carol, carols).await;
    h.online(&carol).await;

    let body = format!("Hi Bob! {}", "é".repeat(150));
    let event = h.send(&room, &alice, 7, &body).await;
    let pushes = h.receiver.wait_for(bobs, 1).await;
    assert_eq!(pushes.len(), 1, "Bob's device got no push");
    let models::events::Event::MessageCreated { message } = &event else {
        unreachable!()
    };
    let preview: String = body.chars().take(119).chain(['…']).collect();
    assert_eq!(
        pushes[0].payload,
        json!({
            "type": "message",
            "room_id": room.id,
            "message_id": message.id,
            "seq": 7,
            "sender_name": alice.display_name,
            "preview": preview,
            "mention": false,
        })
    );
    assert_eq!(pushes[0].ttl.as_deref(), Some("3600"));
    let topic = pushes[0].topic.clone().expect("a Topic header");
    assert!(topic.len() <= 32 && !topic.is_empty(), "{topic}");

    // A second message of the room has the same Topic; the online member and the sender
    // still get nothing.
    h.send(&room, &alice, 8, "short").await;
    let pushes = h.receiver.wait_for(bobs, 2).await;
    assert_eq!(pushes[1].payload["preview"], "short");
    assert_eq!(pushes[1].topic.as_deref(), Some(topic.as_str()));
    h.receiver.settle().await;
    assert!(
        h.receiver.attempts(carols).is_empty(),
        "the online member was pushed to"
    );
    assert!(
        h.receiver.attempts(alices).is_empty(),
        "the sender was pushed to"
    );
    assert_eq!(h.receiver.pushes_to(bobs).len(), 2);
}

/// A push service answering 410 makes the subscription go, after one attempt.
pub async fn a_gone_subscription_is_deleted_after_one_attempt(h: Harness) {
    let [alice, bob] = [h.user("alice").await, h.user("bob").await];
    let room = h.room(&[&alice, &bob]).await;
    let gone = h.receiver.device(Behaviour::Gone);
    let kept = h.receiver.device(Behaviour::Accept);
    h.subscribe(&bob, &gone).await;
    h.subscribe(&bob, &kept).await;

    h.send(&room, &alice, 1, "are you there?").await;
    assert_eq!(h.receiver.wait_for(&kept, 1).await.len(), 1);
    let deadline = std::time::Instant::now() + Duration::from_secs(10);
    let remaining = loop {
        let remaining = h
            .subscriptions
            .subscriptions_of(std::slice::from_ref(&bob.id))
            .await
            .unwrap();
        if remaining.len() < 2 || std::time::Instant::now() > deadline {
            break remaining;
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    };
    let endpoints: Vec<&str> = remaining.iter().map(|s| s.endpoint.as_str()).collect();
    assert_eq!(endpoints, [kept.endpoint.as_str()]);
    h.receiver.settle().await;
    assert_eq!(h.receiver.attempts(&gone).len(), 1);

    if h.topology.is_some() {
        let metrics = h.metrics().await;
        assert!(
            metrics.contains("chat_push_subscriptions_removed_total 1"),
            "{metrics}"
        );
    }

    // The next message does not try the gone endpoint again.
    h.send(&room, &alice, 2, "hello?").await;
    assert_eq!(h.receiver.wait_for(&kept, 2).await.len(), 2);
    h.receiver.settle().await;
    assert_eq!(h.receiver.attempts(&gone).len(), 1);
}

/// 503 (asking for one second's patience), 503, then 201: the push arrives on the third try,
/// and not before the `Retry-After` passed.
pub async fn a_failing_push_service_is_retried_until_it_takes_the_push(h: Harness) {
    let [alice, bob] = [h.user("alice").await, h.user("bob").await];
    let room = h.room(&[&alice, &bob]).await;
    let flaky = h
        .receiver
        .device(Behaviour::Statuses(vec![(503, Some(1)), (503, None)]));
    h.subscribe(&bob, &flaky).await;

    h.send(&room, &alice, 1, "third time lucky").await;
    let pushes = h.receiver.wait_for(&flaky, 1).await;
    assert_eq!(pushes.len(), 1);
    assert_eq!(pushes[0].payload["preview"], "third time lucky");
    h.receiver.settle().await;
    let attempts = h.receiver.attempts(&flaky);
    assert_eq!(attempts.len(), 3);
    assert!(
        attempts[1] - attempts[0] >= Duration::from_millis(950),
        "Retry-After: 1 not honoured: {:?}",
        attempts[1] - attempts[0]
    );
    // The subscription stays.
    let left = h
        .subscriptions
        .subscriptions_of(std::slice::from_ref(&bob.id))
        .await
        .unwrap();
    assert_eq!(left.len(), 1);
}

/// Bob's push service answers 429 with `Retry-After: 3` to the first message; two more of the
/// room arrive while it backs off. The first is retried after the second, and the newest of
/// the room follows at once; the one in between is replaced by it, as its `Topic` says.
pub async fn the_newest_message_reaches_a_device_after_its_backoff(h: Harness) {
    let [alice, bob] = [h.user("alice").await, h.user("bob").await];
    let room = h.room(&[&alice, &bob]).await;
    // A backoff long enough that both later messages arrive within it, however busy the
    // machine running the tests.
    let slow = h.receiver.device(Behaviour::Statuses(vec![(429, Some(3))]));
    h.subscribe(&bob, &slow).await;

    h.send(&room, &alice, 1, "first").await;
    let deadline = tokio::time::Instant::now() + Duration::from_secs(5);
    while h.receiver.attempts(&slow).is_empty() {
        assert!(tokio::time::Instant::now() < deadline, "no attempt");
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    // The 429 reaches the sender a moment after the receiver saw the request; the retry is
    // three seconds later.
    tokio::time::sleep(Duration::from_millis(300)).await;
    h.send(&room, &alice, 2, "second").await;
    h.send(&room, &alice, 3, "third, the newest").await;
    let pushes = h.receiver.wait_for(&slow, 2).await;
    let previews: Vec<&str> = pushes
        .iter()
        .map(|p| p.payload["preview"].as_str().unwrap())
        .collect();
    assert_eq!(previews, ["first", "third, the newest"]);
    h.receiver.settle().await;
    assert_eq!(
        h.receiver.pushes_to(&slow).len(),
        2,
        "the replaced one is not sent"
    );
    let attempts = h.receiver.attempts(&slow);
    assert!(
        attempts[1] - attempts[0] >= Duration::from_millis(2950),
        "the backoff was not waited out: {:?}",
        attempts[1] - attempts[0]
    );
}

/// Bob's push service never answers. Carol, in the same room, and Dave, in another room, get
/// their pushes while Bob's request is still open (the sender's timeout is 30 s).
pub async fn a_hanging_push_service_delays_nobody_else(h: Harness) {
    let [alice, bob, carol, dave] = [
        h.user("alice").await,
        h.user("bob").await,
        h.user("carol").await,
        h.user("dave").await,
    ];
    let room = h.room(&[&alice, &bob, &carol]).await;
    let other = h.room(&[&alice, &dave]).await;
    let hanging = h.receiver.device(Behaviour::Hang);
    let healthy = h.receiver.device(Behaviour::Accept);
    let daves = h.receiver.device(Behaviour::Accept);
    h.subscribe(&bob, &hanging).await;
    h.subscribe(&carol, &healthy).await;
    h.subscribe(&dave, &daves).await;

    h.send(&room, &alice, 1, "for bob and carol").await;
    assert_eq!(h.receiver.wait_for(&healthy, 1).await.len(), 1);
    h.send(&other, &alice, 1, "for dave").await;
    assert_eq!(h.receiver.wait_for(&daves, 1).await.len(), 1);
    assert_eq!(h.receiver.attempts(&hanging).len(), 1);
    assert!(h.receiver.pushes_to(&hanging).is_empty());
}

/// A burst of 40 messages while Bob's push service hangs: Carol gets every one of them. Bob's
/// device holds 4 requests open at most (the consumer takes 32 events at a time, so without
/// that bound his device alone would stall the queue for the 30 s of the sender's timeout).
pub async fn a_hanging_push_service_does_not_hold_up_a_burst(h: Harness) {
    let [alice, bob, carol] = [
        h.user("alice").await,
        h.user("bob").await,
        h.user("carol").await,
    ];
    let room = h.room(&[&alice, &bob, &carol]).await;
    let hanging = h.receiver.device(Behaviour::Hang);
    let healthy = h.receiver.device(Behaviour::Accept);
    h.subscribe(&bob, &hanging).await;
    h.subscribe(&carol, &healthy).await;

    for seq in 1..=40 {
        h.send(&room, &alice, seq, &format!("burst {seq}")).await;
    }
    let pushes = h.receiver.wait_for(&healthy, 40).await;
    let mut seqs: Vec<u64> = pushes
        .iter()
        .map(|p| p.payload["seq"].as_u64().unwrap())
        .collect();
    seqs.sort_unstable();
    assert_eq!(seqs, (1..=40).collect::<Vec<u64>>());
    assert_eq!(h.receiver.attempts(&hanging).len(), 4);
}

/// The same event twice (as RabbitMQ redelivers one whose ack was lost) pushes once per device.
pub async fn a_redelivered_event_reaches_each_device_once(h: Harness) {
    let [alice, bob] = [h.user("alice").await, h.user("bob").await];
    let room = h.room(&[&alice, &bob]).await;
    let phone = h.receiver.device(Behaviour::Accept);
    let laptop = h.receiver.device(Behaviour::Accept);
    h.subscribe(&bob, &phone).await;
    h.subscribe(&bob, &laptop).await;

    let event = h.send(&room, &alice, 1, "once").await;
    assert_eq!(h.receiver.wait_for(&phone, 1).await.len(), 1);
    h.publish(&event).await;
    h.send(&room, &alice, 2, "twice").await;
    for device in [&phone, &laptop] {
        h.receiver.wait_for(device, 2).await;
    }
    h.receiver.settle().await;
    for device in [&phone, &laptop] {
        let mut seqs: Vec<u64> = h
            .receiver
            .pushes_to(device)
            .iter()
            .map(|p| p.payload["seq"].as_u64().unwrap())
            .collect();
        seqs.sort_unstable();
        assert_eq!(seqs, [1, 2]);
    }
}

/// The API: the public key; a subscription with a bad key or a non-https endpoint is refused
/// with 400 in the contract's shape; an endpoint subscribed twice is stored once; unsubscribe.
pub async fn subscriptions_are_checked_and_stored_once_per_endpoint(h: Harness) {
    let key: Value = h
        .http
        .get(format!("{}/api/push/vapid-public-key", h.api))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(key, json!({ "public_key": h.keys.public_key() }));

    let bob = h.user("bob").await;
    let device = h.receiver.device(Behaviour::Accept);
    let good = device.subscription();
    let with = |path: &str, value: Value| {
        let mut body = good.clone();
        body.pointer_mut(path).map(|v| *v = value).unwrap();
        body
    };
    // 65 bytes that start like an uncompressed point but are not on the curve.
    let off_curve = base64url(&[[4u8].as_slice(), &[7u8; 64]].concat());
    let compressed = base64url(&[[2u8].as_slice(), &[7u8; 32]].concat());
    let refused = [
        with("/keys/p256dh", json!(off_curve)),
        with("/keys/p256dh", json!(compressed)),
        with("/keys/p256dh", json!("not base64!")),
        with("/keys/auth", json!(base64url(&[1u8; 8]))),
        with("/endpoint", json!("http://push.example/device")),
        with("/endpoint", json!("ftp://127.0.0.1/device")),
        with("/endpoint", json!("not a url")),
        json!({ "endpoint": device.endpoint }),
    ];
    for body in &refused {
        let (status, answer) = h.subscribe_with(&bob, body).await;
        assert_eq!(status, StatusCode::BAD_REQUEST, "{body} -> {answer}");
        assert_eq!(answer["error"]["code"], "invalid_request", "{answer}");
        assert!(answer["error"]["message"].is_string());
    }
    let anonymous = h
        .http
        .post(format!("{}/api/push/subscriptions", h.api))
        .json(&good)
        .send()
        .await
        .unwrap();
    assert_eq!(anonymous.status(), StatusCode::UNAUTHORIZED);
    assert!(
        h.subscriptions
            .subscriptions_of(std::slice::from_ref(&bob.id))
            .await
            .unwrap()
            .is_empty()
    );

    assert_eq!(h.subscribe_with(&bob, &good).await.0, StatusCode::CREATED);
    assert_eq!(h.subscribe_with(&bob, &good).await.0, StatusCode::CREATED);
    let stored = h
        .subscriptions
        .subscriptions_of(std::slice::from_ref(&bob.id))
        .await
        .unwrap();
    assert_eq!(stored.len(), 1);
    assert_eq!(stored[0].endpoint, device.endpoint);

    // Another account that learned the endpoint, but not the browser's secret, cannot take it.
    let mallory = h.user("mallory").await;
    let taken = with("/keys/auth", json!(base64url(&[9u8; 16])));
    let (status, answer) = h.subscribe_with(&mallory, &taken).await;
    assert_eq!(status, StatusCode::CONFLICT, "{answer}");
    assert_eq!(answer["error"]["code"], "conflict", "{answer}");
    let still = h
        .subscriptions
        .subscriptions_of(&[bob.id.clone(), mallory.id.clone()])
        .await
        .unwrap();
    assert_eq!(still, stored, "still bob's, with bob's keys");

    let deleted = h
        .http
        .delete(format!("{}/api/push/subscriptions", h.api))
        .bearer_auth(bob.token())
        .json(&json!({ "endpoint": device.endpoint }))
        .send()
        .await
        .unwrap();
    assert_eq!(deleted.status(), StatusCode::NO_CONTENT);
    assert!(
        h.subscriptions
            .subscriptions_of(std::slice::from_ref(&bob.id))
            .await
            .unwrap()
            .is_empty()
    );
}

/// A push service that keeps answering 503 past the last attempt gets the event
/// dead-lettered; moving it back delivers to that device only, once it recovered. The counters
/// of `/metrics` saw it all.
pub async fn an_undeliverable_push_is_dead_lettered_and_a_replay_reaches_only_that_device(
    h: Harness,
) {
    let [alice, bob] = [h.user("alice").await, h.user("bob").await];
    let room = h.room(&[&alice, &bob]).await;
    let down = h.receiver.device(Behaviour::Statuses(vec![
        (503, None),
        (502, None),
        (500, None),
    ]));
    let fine = h.receiver.device(Behaviour::Accept);
    h.subscribe(&bob, &down).await;
    h.subscribe(&bob, &fine).await;

    let event = h.send(&room, &alice, 1, "are you up?").await;
    assert_eq!(h.receiver.wait_for(&fine, 1).await.len(), 1);
    let dead = h.dead_letter().await.expect("the event is dead-lettered");
    assert_eq!(dead, event);
    assert_eq!(h.receiver.attempts(&down).len(), 3);
    assert!(h.receiver.pushes_to(&down).is_empty());

    // An operator moves it back; the device's push service answers again by now.
    h.publish(&dead).await;
    assert_eq!(h.receiver.wait_for(&down, 1).await.len(), 1);
    h.receiver.settle().await;
    assert_eq!(
        h.receiver.pushes_to(&fine).len(),
        1,
        "pushed twice to a device"
    );
    assert!(h.dead_letter().await.is_none());

    let metrics = h.metrics().await;
    for counter in [
        "chat_push_sent_total 2",
        "chat_push_retries_total 2",
        "chat_push_dead_lettered_total 1",
        "chat_push_duplicates_skipped_total 1",
    ] {
        assert!(metrics.contains(counter), "{counter} in:\n{metrics}");
    }
}

/// Each member's setting for the room decides what they are pushed: `all` everything (unless
/// muted), `mentions` what mentions them or the room or answers one of their messages, `none`
/// nothing; `mention` in the payload says whether the message mentions the device's user.
pub async fn notification_levels_decide_who_is_pushed(h: Harness) {
    use models::Timestamp;
    use models::chat::{Notifications, NotifyLevel, ReplyPreview};

    let names = ["alice", "bob", "carol", "dave", "erin", "fred"];
    let mut users = Vec::new();
    for name in names {
        users.push(h.user(name).await);
    }
    let [alice, _bob, carol, dave, erin, fred] = &users[..] else {
        unreachable!()
    };
    let room = h.room(&users.iter().collect::<Vec<_>>()).await;
    let devices: Vec<_> = users
        .iter()
        .map(|_| h.receiver.device(Behaviour::Accept))
        .collect();
    for (user, device) in users.iter().zip(&devices) {
        h.subscribe(user, device).await;
    }
    let [_, bobs, carols, daves, erins, freds] = &devices[..] else {
        unreachable!()
    };
    let at = |minutes: i64| {
        Some(Timestamp::from_millis(
            Timestamp::now().millis() + minutes * 60_000,
        ))
    };
    // bob keeps the default (all); carol wants mentions only; dave nothing; erin muted for an
    // hour; fred was muted until a minute ago.
    let setting = |level, muted_until| Notifications { level, muted_until };
    h.notifications(&room, carol, setting(NotifyLevel::Mentions, None))
        .await;
    h.notifications(&room, dave, setting(NotifyLevel::None, None))
        .await;
    h.notifications(&room, erin, setting(NotifyLevel::All, at(60)))
        .await;
    h.notifications(&room, fred, setting(NotifyLevel::All, at(-1)))
        .await;

    // 1. Plain: bob and fred.
    h.send(&room, alice, 1, "plain").await;
    // 2. Mentions carol (and dave, who wants nothing): bob and fred, carol with `mention`.
    let mentioned = [carol.id.clone(), dave.id.clone()];
    h.send_with(&room, alice, 2, "@carol @dave", |m| {
        m.mentions = mentioned.to_vec()
    })
    .await;
    // 3. @room: everyone who wants pushes but erin (muted), all with `mention`.
    h.send_with(&room, alice, 3, "@room", |m| m.mentions_room = true)
        .await;
    // 4. A reply to one of carol's messages: carol too, without `mention`.
    let (carol_id, reply_to) = (carol.id.clone(), "carols-message".to_string());
    h.send_with(&room, alice, 4, "re", |m| {
        m.reply_to = Some(reply_to.clone());
        m.reply_preview = Some(ReplyPreview {
            message_id: reply_to,
            sender_id: carol_id,
            body: "hers".into(),
            deleted: false,
        });
    })
    .await;

    // 5. carol starts a thread (carol is the sender: not pushed to her); 6. a reply in it
    //    reaches carol too.
    let thread_root = h.send(&room, carol, 5, "carol's plan").await;
    let models::events::Event::MessageCreated { message: root } = &thread_root else {
        unreachable!()
    };
    // Stored, as the writer stores every message.
    h.rooms
        .insert_messages(std::slice::from_ref(root))
        .await
        .unwrap();
    let root_id = root.id.clone();
    h.send_with(&room, alice, 6, "in the thread", |m| {
        m.thread_id = Some(root_id)
    })
    .await;

    let seen = |pushes: Vec<crate::receiver::Push>| -> Vec<(u64, bool)> {
        let mut seen: Vec<(u64, bool)> = pushes
            .iter()
            .map(|p| {
                (
                    p.payload["seq"].as_u64().unwrap(),
                    p.payload["mention"].as_bool().unwrap(),
                )
            })
            .collect();
        seen.sort();
        seen
    };
    assert_eq!(
        seen(h.receiver.wait_for(bobs, 6).await),
        [
            (1, false),
            (2, false),
            (3, true),
            (4, false),
            (5, false),
            (6, false)
        ]
    );
    assert_eq!(
        seen(h.receiver.wait_for(freds, 6).await),
        [
            (1, false),
            (2, false),
            (3, true),
            (4, false),
            (5, false),
            (6, false)
        ],
        "a mute that ended mutes nothing"
    );
    assert_eq!(
        seen(h.receiver.wait_for(carols, 4).await),
        [(2, true), (3, true), (4, false), (6, false)],
        "mentions, @room, a reply to hers, a reply in her thread"
    );
    h.receiver.settle().await;
    assert_eq!(
        h.receiver.pushes_to(carols).len(),
        4,
        "carol: mentions and replies only"
    );
    assert!(h.receiver.attempts(daves).is_empty(), "dave wants none");
    assert!(h.receiver.attempts(erins).is_empty(), "erin is muted");
}

fn base64url(bytes: &[u8]) -> String {
    use base64::Engine;
    base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(bytes)
}

mod standalone {
    use crate::{Harness, cases};

    #[tokio::test]
    async fn the_newest_message_reaches_a_device_after_its_backoff() {
        cases::the_newest_message_reaches_a_device_after_its_backoff(Harness::standalone().await)
            .await;
    }

    #[tokio::test]
    async fn notification_levels_decide_who_is_pushed() {
        cases::notification_levels_decide_who_is_pushed(Harness::standalone().await).await;
    }

    #[tokio::test]
    async fn an_offline_member_gets_the_message_and_nobody_else() {
        cases::an_offline_member_gets_the_message_and_nobody_else(Harness::standalone().await)
            .await;
    }

    #[tokio::test]
    async fn a_gone_subscription_is_deleted_after_one_attempt() {
        cases::a_gone_subscription_is_deleted_after_one_attempt(Harness::standalone().await).await;
    }

    #[tokio::test]
    async fn a_failing_push_service_is_retried_until_it_takes_the_push() {
        cases::a_failing_push_service_is_retried_until_it_takes_the_push(
            Harness::standalone().await,
        )
        .await;
    }

    #[tokio::test]
    async fn a_hanging_push_service_delays_nobody_else() {
        cases::a_hanging_push_service_delays_nobody_else(Harness::standalone().await).await;
    }

    #[tokio::test]
    async fn a_hanging_push_service_does_not_hold_up_a_burst() {
        cases::a_hanging_push_service_does_not_hold_up_a_burst(Harness::standalone().await).await;
    }

    #[tokio::test]
    async fn a_redelivered_event_reaches_each_device_once() {
        cases::a_redelivered_event_reaches_each_device_once(Harness::standalone().await).await;
    }

    #[tokio::test]
    async fn subscriptions_are_checked_and_stored_once_per_endpoint() {
        cases::subscriptions_are_checked_and_stored_once_per_endpoint(Harness::standalone().await)
            .await;
    }
}

mod rabbitmq {
    use crate::{Harness, cases};

    #[tokio::test]
    async fn the_newest_message_reaches_a_device_after_its_backoff() {
        cases::the_newest_message_reaches_a_device_after_its_backoff(Harness::rabbitmq().await)
            .await;
    }

    #[tokio::test]
    async fn notification_levels_decide_who_is_pushed() {
        cases::notification_levels_decide_who_is_pushed(Harness::rabbitmq().await).await;
    }

    #[tokio::test]
    async fn an_offline_member_gets_the_message_and_nobody_else() {
        cases::an_offline_member_gets_the_message_and_nobody_else(Harness::rabbitmq().await).await;
    }

    #[tokio::test]
    async fn a_gone_subscription_is_deleted_after_one_attempt() {
        cases::a_gone_subscription_is_deleted_after_one_attempt(Harness::rabbitmq().await).await;
    }

    #[tokio::test]
    async fn a_failing_push_service_is_retried_until_it_takes_the_push() {
        cases::a_failing_push_service_is_retried_until_it_takes_the_push(Harness::rabbitmq().await)
            .await;
    }

    #[tokio::test]
    async fn a_hanging_push_service_delays_nobody_else() {
        cases::a_hanging_push_service_delays_nobody_else(Harness::rabbitmq().await).await;
    }

    #[tokio::test]
    async fn a_hanging_push_service_does_not_hold_up_a_burst() {
        cases::a_hanging_push_service_does_not_hold_up_a_burst(Harness::rabbitmq().await).await;
    }

    #[tokio::test]
    async fn a_redelivered_event_reaches_each_device_once() {
        cases::a_redelivered_event_reaches_each_device_once(Harness::rabbitmq().await).await;
    }

    #[tokio::test]
    async fn subscriptions_are_checked_and_stored_once_per_endpoint() {
        cases::subscriptions_are_checked_and_stored_once_per_endpoint(Harness::rabbitmq().await)
            .await;
    }

    #[tokio::test]
    async fn an_undeliverable_push_is_dead_lettered_and_a_replay_reaches_only_that_device() {
        cases::an_undeliverable_push_is_dead_lettered_and_a_replay_reaches_only_that_device(
            Harness::rabbitmq().await,
        )
        .await;
    }
}
