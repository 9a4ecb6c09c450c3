//! The search-index consumer beside the writer, against the real broker and store: what
//! members find once both queues are consumed, with edits, deletes, redeliveries and events
//! out of order, and `reindex` over what was stored.

use std::sync::Arc;
use std::time::Duration;

use db_writer::{Consumer, ConsumerStatus, SearchIndexer};
use handoff::ConsumerQueue;
use models::chat::Message;
use models::events::Event;
use store::search::{self, SearchQuery, text};
use store::{MongoStore, SearchStore};
use tokio_util::sync::CancellationToken;

use crate::support::*;

/// The search-index consumer of `world`'s queues, writing to its database.
async fn spawn_indexer(world: &World) -> Running {
    let index = MongoStore::connect(&mongodb_url(), &world.database)
        .await
        .expect("connect to the test MongoDB");
    let consumer = Consumer::of_queue(
        ConsumerQueue::SearchIndex,
        Arc::new(SearchIndexer::new(Arc::new(index))),
        world.config(),
        ConsumerStatus::default(),
    );
    let shutdown = CancellationToken::new();
    let task = tokio::spawn(consumer.run(shutdown.clone()));
    Running { shutdown, task }
}

async fn find(index: &dyn SearchStore, room: &str, q: &str) -> Vec<String> {
    search::find(
        index,
        SearchQuery {
            text: text::tokens(q),
            rooms: vec![room.to_owned()],
            before: None,
            limit: 50,
        },
    )
    .await
    .expect("search")
    .messages
    .into_iter()
    .map(|m| m.body)
    .collect()
}

fn edited(message: &Message, body: &str, rev: u64) -> Event {
    Event::MessageEdited {
        message: Message {
            body: body.into(),
            rev,
            ..message.clone()
        },
    }
}

fn deleted(message: &Message, rev: u64) -> Event {
    Event::MessageDeleted {
        room_id: message.room_id.clone(),
        message_id: message.id.clone(),
        seq: message.seq,
        rev,
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_index_follows_edits_and_deletes_whatever_order_and_copies_events_come_in() {
    let world = World::new().await;
    let room = world.create_room(&["alice", "bob"]).await;
    let station = message(&room, 1, "meet at the station");
    let closed = message(&room, 2, "station closed today");
    let later = message(&room, 3, "a later note");
    let lunch = message(&room, 4, "lunch at noon");
    let writer = world.spawn_consumer(world.config());
    let indexer = spawn_indexer(&world).await;

    let events = vec![
        // The edit of `later` before the message itself.
        edited(&later, "a later note about the harbour", 1),
        Event::MessageCreated {
            message: station.clone(),
        },
        Event::MessageCreated {
            message: closed.clone(),
        },
        edited(&station, "meet at the harbour", 2),
        deleted(&closed, 3),
        Event::MessageCreated {
            message: later.clone(),
        },
        Event::MessageCreated {
            message: lunch.clone(),
        },
        // Redeliveries of what came before: they change nothing.
        Event::MessageCreated {
            message: station.clone(),
        },
        Event::MessageCreated {
            message: closed.clone(),
        },
        edited(&station, "meet at the station", 0),
    ];
    world.publish_all(events).await;

    let search_store = MongoStore::connect(&mongodb_url(), &world.database)
        .await
        .unwrap();
    let search_queue = world.topology.queue(ConsumerQueue::SearchIndex);
    eventually(Duration::from_secs(20), "both queues consumed", || async {
        world.stored_count(std::slice::from_ref(&room)).await >= 4
            && world.ready_in(&world.queue()).await == 0
            && world.ready_in(&search_queue).await == 0
            && find(&search_store, &room, "lunch").await.len() == 1
    })
    .await;

    assert_eq!(
        find(&search_store, &room, "harb").await,
        ["a later note about the harbour", "meet at the harbour"]
    );
    assert!(find(&search_store, &room, "station").await.is_empty());
    assert!(find(&search_store, &room, "closed").await.is_empty());
    assert_eq!(
        find(&search_store, &room, "NOON lun").await,
        ["lunch at noon"]
    );

    writer.stop().await;
    indexer.stop().await;
    assert!(
        world
            .drain(&world.topology.dead_queue(ConsumerQueue::SearchIndex))
            .await
            .is_empty(),
        "nothing dead-lettered"
    );

    // Rebuilt from the stored messages, the index finds the same.
    assert_eq!(search_store.reindex().await.unwrap(), 3);
    assert_eq!(
        find(&search_store, &room, "harb").await,
        ["a later note about the harbour", "meet at the harbour"]
    );
    assert!(find(&search_store, &room, "station").await.is_empty());
}
