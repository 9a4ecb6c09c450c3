//! What both sequencers promise: contiguous numbers per room under concurrency from several
//! nodes, retries answered with the original, independent rooms, a `last_seq` that covers
//! what was sequenced, numbering above what the store already holds, and every accepted
//! message readable from the store or the recent log.

use std::collections::{BTreeSet, HashMap};
use std::sync::Arc;

use models::chat::Message;
use sequencer::{Error, Sequencer};
use store::{ChatStore, Page};

use crate::{Rig, message, new_id, on_redis, on_store};

/// No message at all.
const NONE: [u64; 0] = [];

fn seqs(messages: &[Message]) -> Vec<u64> {
    messages.iter().map(|m| m.seq).collect()
}

/// 10 tasks × 50 messages into one room, the tasks spread over two nodes.
async fn contiguous_under_concurrency(rig: Rig) {
    let room = rig.room().await;
    let nodes = [rig.node().await, rig.node().await];
    let tasks: Vec<_> = (0..10)
        .map(|t| {
            let node = Arc::clone(&nodes[t % 2]);
            let room = room.clone();
            tokio::spawn(async move {
                let mut got = Vec::new();
                for i in 0..50 {
                    let sent = message(&room, &format!("user{t}"), &format!("c{i}"));
                    let out = node.sequence(sent.clone()).await.expect("sequence");
                    assert!(out.fresh, "a new client id is fresh");
                    assert_eq!(out.message, sent.clone().into_message(out.message.seq));
                    got.push(out.message.seq);
                }
                got
            })
        })
        .collect();
    let mut all = Vec::new();
    for task in tasks {
        let got = task.await.expect("task");
        // One sender's messages are numbered in the order it sent them.
        assert!(got.windows(2).all(|w| w[0] < w[1]), "{got:?}");
        all.extend(got);
    }
    all.sort_unstable();
    assert_eq!(all, (1..=500).collect::<Vec<_>>(), "no gap, no repeat");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn contiguous_under_concurrency_on_store() {
    on_store(contiguous_under_concurrency).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn contiguous_under_concurrency_on_redis() {
    on_redis(contiguous_under_concurrency).await;
}

/// A (sender, client id) seen before returns the original, on the same node or another one;
/// the same client id from another sender is another message.
async fn retry_returns_the_original(rig: Rig) {
    let room = rig.room().await;
    let (a, b) = (rig.node().await, rig.node().await);
    let first = a.sequence(message(&room, "alice", "c1")).await.unwrap();
    assert!(first.fresh);
    assert_eq!(first.message.seq, 1);
    a.sequence(message(&room, "bob", "x")).await.unwrap();

    // The retry carries a new id and, say, a re-typed body: the original wins.
    let mut retry = message(&room, "alice", "c1");
    retry.body = "typed again".into();
    for node in [&a, &b] {
        let again = node.sequence(retry.clone()).await.unwrap();
        assert!(!again.fresh, "a retry is not fresh");
        assert_eq!(again.message, first.message);
    }

    let other_sender = b.sequence(message(&room, "bob", "c1")).await.unwrap();
    assert!(other_sender.fresh);
    assert_eq!(other_sender.message.seq, 3);
    // Retries took no number.
    let next = a.sequence(message(&room, "alice", "c2")).await.unwrap();
    assert_eq!((next.message.seq, next.fresh), (4, true));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn retry_returns_the_original_on_store() {
    on_store(retry_returns_the_original).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn retry_returns_the_original_on_redis() {
    on_redis(retry_returns_the_original).await;
}

/// Each room counts from 1 on its own, and a client id is per room.
async fn rooms_are_independent(rig: Rig) {
    let rooms = [rig.room().await, rig.room().await, rig.room().await];
    let node = rig.node().await;
    let mut got: HashMap<String, Vec<u64>> = HashMap::new();
    for i in 0..12 {
        let room = &rooms[i % 3];
        // Same sender and client id in every room: not a retry across rooms.
        let out = node
            .sequence(message(room, "alice", &format!("c{}", i / 3)))
            .await
            .unwrap();
        assert!(out.fresh);
        got.entry(room.id.clone())
            .or_default()
            .push(out.message.seq);
    }
    for room in &rooms {
        assert_eq!(got[&room.id], [1, 2, 3, 4], "room {}", room.id);
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn rooms_are_independent_on_store() {
    on_store(rooms_are_independent).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn rooms_are_independent_on_redis() {
    on_redis(rooms_are_independent).await;
}

/// The room's last `seq` as the services compute it (the store's, raised by the sequencer's)
/// is the last one assigned, on any node.
async fn last_seq_covers_what_was_sequenced(rig: Rig) {
    let room = rig.room().await;
    let (a, b) = (rig.node().await, rig.node().await);
    let last = async |node: &Arc<dyn Sequencer>| {
        let stored = rig.store.room(&room.id).await.unwrap().unwrap().last_seq;
        stored.max(node.last_seq(&room.id).await.unwrap().unwrap_or(0))
    };
    assert_eq!(last(&a).await, 0);
    for i in 0..3 {
        a.sequence(message(&room, "alice", &format!("c{i}")))
            .await
            .unwrap();
    }
    assert_eq!(last(&a).await, 3);
    assert_eq!(last(&b).await, 3);
    // A retry moves nothing.
    b.sequence(message(&room, "alice", "c0")).await.unwrap();
    assert_eq!(last(&b).await, 3);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn last_seq_covers_what_was_sequenced_on_store() {
    on_store(last_seq_covers_what_was_sequenced).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn last_seq_covers_what_was_sequenced_on_redis() {
    on_redis(last_seq_covers_what_was_sequenced).await;
}

/// With seq 1..5 already stored (and, on Redis, nothing in Redis), the next one is 6.
async fn numbering_continues_above_the_store(rig: Rig) {
    let room = rig.room().await;
    let stored: Vec<Message> = (1..=5)
        .map(|seq| message(&room, "alice", &format!("old{seq}")).into_message(seq))
        .collect();
    rig.store.insert_messages(&stored).await.unwrap();

    let node = rig.node().await;
    let out = node.sequence(message(&room, "bob", "new")).await.unwrap();
    assert_eq!((out.message.seq, out.fresh), (6, true));
    let out = rig
        .node()
        .await
        .sequence(message(&room, "bob", "newer"))
        .await
        .unwrap();
    assert_eq!(out.message.seq, 7);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn numbering_continues_above_the_store_on_store() {
    on_store(numbering_continues_above_the_store).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn numbering_continues_above_the_store_on_redis() {
    on_redis(numbering_continues_above_the_store).await;
}

/// Every accepted message can be read back, whole, from `store.messages ∪ sequencer.recent`
/// (how history reads merge them), whether or not the writer has persisted it yet.
async fn accepted_messages_are_readable(rig: Rig) {
    let room = rig.room().await;
    let node = rig.node().await;
    let mut sent = Vec::new();
    for i in 0..20 {
        sent.push(
            node.sequence(message(&room, "alice", &format!("c{i}")))
                .await
                .unwrap()
                .message,
        );
    }
    for page in [Page::After(0), Page::Before(None)] {
        let mut readable: HashMap<u64, Message> = node
            .recent(&room.id, page, 100)
            .await
            .unwrap()
            .into_iter()
            .map(|m| (m.seq, m))
            .collect();
        readable.extend(
            rig.store
                .messages(&room.id, page, 100)
                .await
                .unwrap()
                .into_iter()
                .map(|m| (m.seq, m)),
        );
        for m in &sent {
            assert_eq!(readable.get(&m.seq), Some(m), "{page:?}");
        }
        let numbers: BTreeSet<u64> = readable.keys().copied().collect();
        assert_eq!(numbers, (1..=20).collect(), "{page:?}");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn accepted_messages_are_readable_on_store() {
    on_store(accepted_messages_are_readable).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn accepted_messages_are_readable_on_redis() {
    on_redis(accepted_messages_are_readable).await;
}

/// Sequencing into a room the store does not know is refused (callers check membership
/// first; a number for a room that does not exist would be a bug).
async fn unknown_room_is_refused(rig: Rig) {
    let mut room = rig.room().await;
    room.id = new_id();
    let outcome = rig
        .node()
        .await
        .sequence(message(&room, "alice", "c"))
        .await;
    assert!(matches!(outcome, Err(Error::Unavailable(_))), "{outcome:?}");
    let node = rig.node().await;
    assert_eq!(
        seqs(&node.recent(&room.id, Page::After(0), 10).await.unwrap()),
        NONE
    );
    assert_eq!(node.last_seq(&room.id).await.unwrap(), None);
    assert_eq!(
        seqs(
            &rig.store
                .messages(&room.id, Page::After(0), 10)
                .await
                .unwrap()
        ),
        NONE
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn unknown_room_is_refused_on_store() {
    on_store(unknown_room_is_refused).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn unknown_room_is_refused_on_redis() {
    on_redis(unknown_room_is_refused).await;
}

/// Once a message's hand-off is recorded, a retry of its client id says so on every node, so
/// the retry is not handed off a second time.
async fn a_recorded_hand_off_is_reported_to_retries(rig: Rig) {
    let room = rig.room().await;
    let nodes = [rig.node().await, rig.node().await];
    let first = nodes[0]
        .sequence(message(&room, "alice", "h1"))
        .await
        .unwrap();
    assert!(first.fresh && !first.handed_off);
    nodes[0]
        .record_hand_off(&first.message, sequencer::HandOffState::Done)
        .await
        .unwrap();
    for node in &nodes {
        let again = node.sequence(message(&room, "alice", "h1")).await.unwrap();
        assert!(!again.fresh);
        assert!(again.handed_off, "the retry knows the hand-off completed");
        assert_eq!(again.message.id, first.message.id);
    }
}

#[tokio::test]
async fn a_recorded_hand_off_is_reported_to_retries_on_store() {
    on_store(a_recorded_hand_off_is_reported_to_retries).await;
}

#[tokio::test]
async fn a_recorded_hand_off_is_reported_to_retries_on_redis() {
    on_redis(a_recorded_hand_off_is_reported_to_retries).await;
}
