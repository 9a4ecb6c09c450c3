//! The consumer in-process, against the real broker and store.

use std::time::Duration;

use models::events::Event;
use models::time::Timestamp;

use crate::support::*;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn thousands_of_messages_across_rooms_are_stored_exactly_once() {
    let world = World::new().await;
    let (rooms, messages) = messages_in_rooms(4, 500);
    let running = world.spawn_consumer(world.config());
    world.publish_all(created(&messages)).await;

    eventually(
        Duration::from_secs(30),
        "all 2,000 messages stored",
        || async { world.stored_count(&rooms).await >= messages.len() },
    )
    .await;
    running.stop().await;

    assert_stored_exactly(&world, &rooms, &messages).await;
    assert_eq!(
        world.ready_in(&world.queue()).await,
        0,
        "nothing left queued"
    );
    assert!(
        world.drain(&world.dead_queue()).await.is_empty(),
        "nothing dead-lettered"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_message_published_twice_is_stored_once() {
    let world = World::new().await;
    let (rooms, messages) = messages_in_rooms(2, 50);
    let mut events = created(&messages);
    // Every message again, as a socket node re-publishes a retried send.
    events.extend(created(&messages));
    let running = world.spawn_consumer(world.config());
    world.publish_all(events).await;

    eventually(Duration::from_secs(20), "both copies consumed", || async {
        world.stored_count(&rooms).await >= messages.len()
            && world.ready_in(&world.queue()).await == 0
    })
    .await;
    running.stop().await;

    assert_stored_exactly(&world, &rooms, &messages).await;
    assert!(
        world.drain(&world.dead_queue()).await.is_empty(),
        "duplicates are not errors"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn out_of_order_changes_leave_the_newest_and_a_delete_is_final() {
    let world = World::new().await;
    let room = unique("room");
    let edited = message(&room, 1, "original");
    let deleted = message(&room, 2, "to be deleted");
    let marker = message(&room, 3, "marker");
    // The room's change `rev` orders changes: here, a thousandth of the edit time.
    let edit = |m: &models::chat::Message, body: &str, at: i64| {
        let mut m = m.clone();
        m.body = body.into();
        m.edited_at = Some(Timestamp::from_millis(at));
        m.rev = (at / 1000) as u64;
        Event::MessageEdited { message: m }
    };
    let running = world.spawn_consumer(world.config());
    world
        .publish_all(created(&[edited.clone(), deleted.clone()]))
        .await;
    eventually(Duration::from_secs(10), "both messages stored", || async {
        world.stored(&room).await.len() == 2
    })
    .await;
    // One at a time, so the broker delivers them in this order.
    for event in [
        edit(&edited, "newest", 3_000),
        edit(&edited, "oldest", 1_000),
        edit(&edited, "middle", 2_000),
        Event::MessageDeleted {
            room_id: room.clone(),
            message_id: deleted.id.clone(),
            seq: 2,
            rev: 4,
        },
        edit(&deleted, "edited after the delete", 5_000),
        Event::MessageCreated {
            message: marker.clone(),
        },
    ] {
        world.publish_all(vec![event]).await;
    }
    eventually(Duration::from_secs(10), "the marker stored", || async {
        world.stored(&room).await.len() == 3
    })
    .await;
    // Shutdown returns only after the batch in hand is written: everything before the marker.
    running.stop().await;

    let stored = world.stored(&room).await;
    assert_eq!(
        stored[0].body, "newest",
        "an older edit never overwrites a newer one"
    );
    assert_eq!(stored[0].edited_at, Some(Timestamp::from_millis(3_000)));
    assert_eq!(stored[0].rev, 3);
    assert!(stored[1].deleted, "the delete was applied");
    assert_ne!(
        stored[1].body, "edited after the delete",
        "an edit never revives a deleted message"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_lower_read_pointer_never_replaces_a_higher_one() {
    let world = World::new().await;
    let room = world.create_room(&["user-1", "user-2"]).await;
    let read = |seq| Event::ReadUpdated {
        room_id: room.clone(),
        user_id: "user-2".into(),
        seq,
    };
    let running = world.spawn_consumer(world.config());
    world.publish_all(vec![read(10)]).await;
    eventually(
        Duration::from_secs(10),
        "the read pointer at 10",
        || async { world.store.membership(&room, "user-2").await.unwrap() == Some(10) },
    )
    .await;
    world.publish_all(vec![read(5)]).await;
    world
        .publish_all(created(&[message(&room, 1, "marker")]))
        .await;
    eventually(Duration::from_secs(10), "the marker stored", || async {
        world.stored(&room).await.len() == 1
    })
    .await;
    running.stop().await;

    assert_eq!(
        world.store.membership(&room, "user-2").await.unwrap(),
        Some(10),
        "the pointer stays at 10"
    );
    assert_eq!(
        world.ready_in(&world.queue()).await,
        0,
        "the lower one was consumed"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_undecodable_message_is_dead_lettered_and_the_good_ones_stored() {
    let world = World::new().await;
    let (rooms, messages) = messages_in_rooms(1, 200);
    let (before, after) = messages.split_at(100);
    let garbage = b"{\"type\":\"message.created\",\"message\":\"not a message\"}";
    world.publish_all(created(before)).await;
    world.publish_raw("message.created", garbage).await;
    world.publish_all(created(after)).await;
    let running = world.spawn_consumer(world.config());

    eventually(Duration::from_secs(20), "the good ones stored", || async {
        world.stored_count(&rooms).await >= messages.len()
    })
    .await;
    let dead = world.dead_queue();
    eventually(
        Duration::from_secs(10),
        "the bad one dead-lettered",
        || async { world.ready_in(&dead).await >= 1 },
    )
    .await;
    let dead_letters = world.drain(&dead).await;
    running.stop().await;

    assert_eq!(
        dead_letters,
        vec![garbage.to_vec()],
        "exactly the bad one, unchanged"
    );
    assert_stored_exactly(&world, &rooms, &messages).await;
    assert_eq!(
        world.ready_in(&world.queue()).await,
        0,
        "nothing left queued"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn shutdown_mid_stream_acks_what_was_written_and_a_restart_finishes_the_rest() {
    let world = World::new().await;
    let (rooms, messages) = messages_in_rooms(3, 1_000);
    world.publish_all(created(&messages)).await;
    let total = messages.len();

    let mut config = world.config();
    config.batch_max = 50;
    let running = world.spawn_consumer(config.clone());
    eventually(
        Duration::from_secs(20),
        "the first batches stored",
        || async { world.stored_count(&rooms).await > 0 },
    )
    .await;
    running.stop().await;

    let written = world.stored_count(&rooms).await;
    assert!(written > 0);
    // What was written is acked, and only that: the rest waits in the queue.
    let queue = world.queue();
    eventually(
        Duration::from_secs(5),
        "the queue holds exactly what was not written",
        || async { world.ready_in(&queue).await as usize == total - written },
    )
    .await;
    assert_eq!(
        world.stored_count(&rooms).await,
        written,
        "nothing written after shutdown returned"
    );

    let running = world.spawn_consumer(config);
    eventually(Duration::from_secs(30), "the rest stored", || async {
        world.stored_count(&rooms).await >= total
    })
    .await;
    running.stop().await;
    assert_stored_exactly(&world, &rooms, &messages).await;
    assert_eq!(
        world.ready_in(&world.queue()).await,
        0,
        "nothing left queued"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_message_the_store_keeps_refusing_is_dead_lettered_after_max_attempts() {
    let world = World::new().await;
    // One poison message among 10,000 good ones, in the middle of the stream.
    let (rooms, messages) = messages_in_rooms(4, 2_500);
    let (before, after) = messages.split_at(messages.len() / 2);
    // Decodes fine, but no store can take it: its seq does not fit in BSON's int64.
    let poison = message(&rooms[0], u64::MAX, "poison");
    world.publish_all(created(before)).await;
    world
        .publish_all(created(std::slice::from_ref(&poison)))
        .await;
    world.publish_all(created(after)).await;
    let mut config = world.config();
    config.max_attempts = 3;
    let running = world.spawn_consumer(config);

    let dead = world.dead_queue();
    eventually(
        Duration::from_secs(300),
        "the poison one dead-lettered",
        || async { world.ready_in(&dead).await >= 1 },
    )
    .await;
    eventually_every(
        Duration::from_secs(600),
        Duration::from_secs(1),
        "the 10,000 good ones stored",
        || async { world.count_all().await >= messages.len() as u64 },
    )
    .await;
    running.stop().await;

    let dead_letters = world.drain(&dead).await;
    assert_eq!(
        dead_letters.len(),
        1,
        "only the poison one is dead-lettered"
    );
    let event: Event = serde_json::from_slice(&dead_letters[0]).expect("an event");
    assert_eq!(event, Event::MessageCreated { message: poison });
    assert_stored_exactly(&world, &rooms, &messages).await;
    assert_eq!(
        world.ready_in(&world.queue()).await,
        0,
        "nothing left queued"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_cut_connection_is_reestablished_and_nothing_is_lost() {
    let world = World::new().await;
    let (proxy, url) = amqp_proxy().await;
    let (rooms, messages) = messages_in_rooms(2, 500);
    let (first, second) = messages.split_at(messages.len() / 2);
    let mut config = world.config();
    config.amqp_url = service_kit::config::Secret::new(url);
    config.batch_max = 50;
    let running = world.spawn_consumer(config);

    world.publish_all(created(first)).await;
    eventually(
        Duration::from_secs(20),
        "the first messages stored",
        || async { world.stored_count(&rooms).await > 0 },
    )
    .await;
    proxy.cut();
    world.publish_all(created(second)).await;
    eventually(
        Duration::from_secs(30),
        "all stored after the cut",
        || async { world.stored_count(&rooms).await >= messages.len() },
    )
    .await;
    // And the new connection keeps consuming: once more, after a second cut.
    proxy.cut();
    let later = vec![message(&rooms[0], 501, "after the second cut")];
    world.publish_all(created(&later)).await;
    eventually(
        Duration::from_secs(20),
        "a message after the second cut",
        || async { world.stored(&rooms[0]).await.len() == 501 },
    )
    .await;
    running.stop().await;

    let mut all = messages.clone();
    all.extend(later);
    assert_stored_exactly(&world, &rooms, &all).await;
    assert_eq!(
        world.ready_in(&world.queue()).await,
        0,
        "nothing left queued"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_store_outage_requeues_the_batch_and_loses_nothing() {
    let world = World::new().await;
    let (proxy, url) = mongodb_proxy().await;
    let store = store::MongoStore::connect(&url, &world.database)
        .await
        .expect("connect to MongoDB through the proxy");
    let (rooms, messages) = messages_in_rooms(2, 200);
    let (first, second) = messages.split_at(messages.len() / 2);
    let mut config = world.config();
    config.batch_max = 50;
    let running = world.spawn_consumer_on(std::sync::Arc::new(store), config);

    world.publish_all(created(first)).await;
    eventually(Duration::from_secs(20), "the first half stored", || async {
        world.stored_count(&rooms).await >= first.len()
    })
    .await;
    proxy.down();
    world.publish_all(created(second)).await;
    // The writer cannot write now: it keeps the events queued (unacked or requeued).
    tokio::time::sleep(Duration::from_secs(2)).await;
    assert_eq!(
        world.stored_count(&rooms).await,
        first.len(),
        "the store was down"
    );
    proxy.up();
    eventually(
        Duration::from_secs(30),
        "the second half stored once the store is back",
        || async { world.stored_count(&rooms).await >= messages.len() },
    )
    .await;
    running.stop().await;

    assert_stored_exactly(&world, &rooms, &messages).await;
    assert_eq!(
        world.ready_in(&world.queue()).await,
        0,
        "nothing left queued"
    );
    assert!(
        world.drain(&world.dead_queue()).await.is_empty(),
        "an unavailable store dead-letters nothing"
    );
}
