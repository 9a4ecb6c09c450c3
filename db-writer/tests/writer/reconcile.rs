//! The reconciler: a message that got its `seq` in the Redis recent log but whose hand-off
//! never happened (its node died in between, the sender never retried) still reaches MongoDB.

use std::sync::Arc;
use std::time::Duration;

use models::time::Timestamp;
use sequencer::{Reconciler, ReconcilerConfig, RedisSequencer, Sequencer};
use service_kit::config::Secret;
use store::{NewMessage, Page};
use tokio_util::sync::CancellationToken;

use crate::support::*;

/// A sequencer on the test Redis under a prefix of this test's own.
async fn sequencer(world: &World, prefix: &str) -> RedisSequencer {
    let client = service_kit::redis::connect(&redis_url())
        .await
        .expect("connect to the test Redis");
    RedisSequencer::new(client, prefix, world.store.clone(), Default::default())
}

fn new_message(room_id: &str, body: &str) -> NewMessage {
    NewMessage {
        id: uuid::Uuid::now_v7().to_string(),
        room_id: room_id.to_owned(),
        sender_id: "user-1".into(),
        client_id: uuid::Uuid::now_v7().to_string(),
        body: body.into(),
        attachments: Vec::new(),
        reply_to: None,
        created_at: Timestamp::now(),
        mentions: Vec::new(),
        mentions_room: false,
        thread_id: None,
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_message_only_in_the_recent_log_is_stored_within_the_bound() {
    let world = World::new().await;
    let prefix = format!("{}:", unique("dbw"));
    let room = world.create_room(&["user-1", "user-2"]).await;
    let after = Duration::from_secs(2);

    // The service as it runs, with a short bound.
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
        .await
        .expect("bind");
    let config = db_writer::Config {
        listen: listener.local_addr().expect("address"),
        mongodb_url: Secret::new(mongodb_url()),
        mongodb_database: world.database.clone(),
        consumer: world.config(),
        redis_url: Secret::new(redis_url()),
        redis_prefix: prefix.clone(),
        reconcile: ReconcilerConfig {
            after,
            interval: Duration::from_millis(250),
        },
    };
    let shutdown = CancellationToken::new();
    let service = tokio::spawn(db_writer::run(config, listener, shutdown.clone()));

    // Sequenced (every member would have seen it), never published.
    let lost = sequencer(&world, &prefix)
        .await
        .sequence(new_message(&room, "my node died right after this"))
        .await
        .expect("sequenced")
        .message;
    let sequenced_at = tokio::time::Instant::now();

    tokio::time::sleep(after / 4).await;
    assert!(
        world.stored(&room).await.is_empty(),
        "a message younger than the bound is left to its hand-off"
    );
    eventually(
        after + Duration::from_secs(10),
        "the message is in MongoDB within the reconciler's bound",
        || async { !world.stored(&room).await.is_empty() },
    )
    .await;
    let waited = sequenced_at.elapsed();
    assert_eq!(
        world.stored(&room).await,
        vec![lost.clone()],
        "stored as sequenced"
    );

    shutdown.cancel();
    service
        .await
        .expect("the service task")
        .expect("the service stops cleanly");
    tracing::info!(?waited, "the lost message was stored");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_pass_stores_exactly_what_the_store_lacks_and_only_once() {
    let world = World::new().await;
    let prefix = format!("{}:", unique("dbw"));
    let room = world.create_room(&["user-1", "user-2"]).await;
    let sequencer = sequencer(&world, &prefix).await;
    let client = service_kit::redis::connect(&redis_url())
        .await
        .expect("connect to the test Redis");
    let reconciler = |after: Duration| {
        Reconciler::new(
            client.clone(),
            prefix.clone(),
            world.store.clone(),
            ReconcilerConfig {
                after,
                interval: Duration::from_millis(100),
            },
        )
    };

    let mut sequenced = Vec::new();
    for i in 1..=5 {
        let message = sequencer
            .sequence(new_message(&room, &format!("message {i}")))
            .await
            .expect("sequenced")
            .message;
        sequenced.push(message);
    }
    // The writer stored 1, 2 and 4; the hand-offs of 3 and 5 were lost.
    let handed_off: Vec<_> = [0, 1, 3].iter().map(|&i| sequenced[i].clone()).collect();
    world
        .store
        .insert_messages(&handed_off)
        .await
        .expect("store what was handed off");

    let patient = reconciler(Duration::from_secs(3600));
    let pass = patient.pass().await.expect("a pass");
    assert_eq!(pass.restored, 0, "nothing is older than an hour");
    assert_eq!(world.stored(&room).await.len(), 3);
    patient.release().await.expect("release the lease");

    let prompt = reconciler(Duration::ZERO);
    let pass = prompt.pass().await.expect("a pass");
    assert!(pass.leader && pass.rooms_checked >= 1);
    assert_eq!(pass.restored, 2, "3 and 5 restored");
    let stored = world
        .store
        .messages(&room, Page::After(0), 100)
        .await
        .expect("history");
    assert_eq!(stored, sequenced, "1..=5, each once, as sequenced");

    let again = prompt.pass().await.expect("a second pass");
    assert_eq!(again.restored, 0, "a second pass finds nothing to do");

    let sixth = sequencer
        .sequence(new_message(&room, "message 6"))
        .await
        .expect("sequenced")
        .message;
    let pass = prompt.pass().await.expect("a third pass");
    assert_eq!(pass.restored, 1, "a later loss is found too");
    assert_eq!(world.stored(&room).await.last(), Some(&sixth));

    // Only one process works at a time: another one stands by while the lease is held.
    let other = Arc::new(reconciler(Duration::ZERO));
    assert!(!other.pass().await.expect("a pass").leader);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_change_only_in_the_recent_changes_is_stored_once() {
    let world = World::new().await;
    let prefix = format!("{}:", unique("dbw"));
    let room = world.create_room(&["user-1", "user-2"]).await;
    let sequencer = sequencer(&world, &prefix).await;
    let client = service_kit::redis::connect(&redis_url())
        .await
        .expect("connect to the test Redis");
    let reconciler = |after: Duration| {
        Reconciler::new(
            client.clone(),
            prefix.clone(),
            world.store.clone(),
            ReconcilerConfig {
                after,
                interval: Duration::from_millis(100),
            },
        )
    };
    let mut stored = Vec::new();
    for i in 1..=3 {
        let message = sequencer
            .sequence(new_message(&room, &format!("message {i}")))
            .await
            .expect("sequenced")
            .message;
        stored.push(message);
    }
    world
        .store
        .insert_messages(&stored)
        .await
        .expect("the writer stored the messages");

    // An edit of 1 and a delete of 3 got their revs; their hand-offs were lost.
    let change = |message: models::chat::Message| store::MessageChange {
        message,
        base_rev: 0,
    };
    let edited = models::chat::Message {
        body: "edited, never handed off".into(),
        edited_at: Some(Timestamp::now()),
        ..stored[0].clone()
    };
    let applied = |outcome| match outcome {
        store::ChangeOutcome::Applied(m) => *m,
        other => panic!("not applied: {other:?}"),
    };
    let edited = applied(sequencer.change(change(edited)).await.expect("edit"));
    let deleted = applied(
        sequencer
            .change(change(stored[2].clone().into_deleted()))
            .await
            .expect("delete"),
    );

    let patient = reconciler(Duration::from_secs(3600));
    assert_eq!(patient.pass().await.expect("a pass").restored, 0);
    patient.release().await.expect("release the lease");

    let prompt = reconciler(Duration::ZERO);
    assert_eq!(prompt.pass().await.expect("a pass").restored, 2);
    let history = world
        .store
        .messages(&room, Page::After(0), 100)
        .await
        .expect("history");
    assert_eq!(history, [edited, stored[1].clone(), deleted]);
    assert_eq!(world.store.room(&room).await.unwrap().unwrap().rev, 2);
    assert_eq!(
        prompt.pass().await.expect("a second pass").restored,
        0,
        "a second pass finds nothing to do"
    );
}
