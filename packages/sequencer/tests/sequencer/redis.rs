//! What only [`sequencer::RedisSequencer`] has: the recent log (its pages and its cap), retries
//! of messages trimmed out of it, a counter that never goes below the store when Redis lost or
//! rolled back its data, and a Redis that stops answering.

use std::time::{Duration, Instant};

use fred::prelude::KeysInterface;
use models::chat::Message;
use sequencer::{Error, RedisSequencerConfig};
use store::{ChatStore, Page};

use crate::{Rig, delete_keys, message, on_redis, on_redis_with, redis_url};
use testkit::Proxy;

/// No message at all.
const NONE: [u64; 0] = [];

fn seqs(messages: &[Message]) -> Vec<u64> {
    messages.iter().map(|m| m.seq).collect()
}

fn capped(log_cap: usize) -> RedisSequencerConfig {
    RedisSequencerConfig {
        log_cap,
        ..RedisSequencerConfig::default()
    }
}

/// `recent` pages like the store: `After` the oldest above, `Before` the newest below, both
/// ascending, whole messages (empty attachment lists included) with their real `seq`.
async fn recent_pages(rig: Rig) {
    let room = rig.room().await;
    let node = rig.node().await;
    let mut sent = Vec::new();
    for i in 0..10 {
        let out = node
            .sequence(message(&room, "alice", &format!("c{i}")))
            .await
            .unwrap();
        sent.push(out.message);
    }
    assert!(sent.iter().any(|m| m.attachments.is_empty()));
    assert!(sent.iter().any(|m| !m.attachments.is_empty()));

    let page = async |page, limit| node.recent(&room.id, page, limit).await.unwrap();
    assert_eq!(page(Page::After(0), 100).await, sent);
    assert_eq!(seqs(&page(Page::After(3), 4).await), [4, 5, 6, 7]);
    assert_eq!(seqs(&page(Page::After(8), 4).await), [9, 10]);
    assert_eq!(seqs(&page(Page::After(10), 4).await), NONE);
    assert_eq!(seqs(&page(Page::Before(None), 3).await), [8, 9, 10]);
    assert_eq!(seqs(&page(Page::Before(Some(5)), 10).await), [1, 2, 3, 4]);
    assert_eq!(seqs(&page(Page::Before(Some(5)), 2).await), [3, 4]);
    assert_eq!(seqs(&page(Page::Before(Some(1)), 2).await), NONE);
    assert_eq!(seqs(&page(Page::After(0), 0).await), NONE);
    assert_eq!(page(Page::Before(None), 1).await, sent[9..]);
    // Another room's log is another log.
    let other = rig.room().await;
    assert_eq!(
        seqs(&node.recent(&other.id, Page::After(0), 10).await.unwrap()),
        NONE
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn recent_pages_on_redis() {
    on_redis(recent_pages).await;
}

/// The log keeps the newest `log_cap` messages; numbering goes on regardless.
async fn log_is_capped(rig: Rig) {
    let room = rig.room().await;
    let node = rig.node().await;
    for i in 0..8 {
        node.sequence(message(&room, "alice", &format!("c{i}")))
            .await
            .unwrap();
    }
    let log = node.recent(&room.id, Page::After(0), 100).await.unwrap();
    assert_eq!(seqs(&log), [4, 5, 6, 7, 8]);
    assert_eq!(node.last_seq(&room.id).await.unwrap(), Some(8));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn log_is_capped_on_redis() {
    on_redis_with(capped(5), log_is_capped).await;
}

/// A retry whose original left the log is answered from the store once the writer stored it,
/// and is refused (rather than numbered again) until then.
async fn retry_of_a_trimmed_message(rig: Rig) {
    let room = rig.room().await;
    let node = rig.node().await;
    let first = node
        .sequence(message(&room, "alice", "c0"))
        .await
        .unwrap()
        .message;
    for i in 1..3 {
        node.sequence(message(&room, "alice", &format!("c{i}")))
            .await
            .unwrap();
    }
    assert_eq!(
        seqs(&node.recent(&room.id, Page::After(0), 10).await.unwrap()),
        [2, 3]
    );

    let outcome = node.sequence(message(&room, "alice", "c0")).await;
    assert!(matches!(outcome, Err(Error::Unavailable(_))), "{outcome:?}");

    rig.store
        .insert_messages(std::slice::from_ref(&first))
        .await
        .unwrap();
    let again = node.sequence(message(&room, "alice", "c0")).await.unwrap();
    assert!(!again.fresh);
    assert_eq!(again.message, first);
    assert_eq!(node.last_seq(&room.id).await.unwrap(), Some(3));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn retry_of_a_trimmed_message_on_redis() {
    on_redis_with(capped(2), retry_of_a_trimmed_message).await;
}

/// Redis restarted empty under running nodes: the counter resumes above what the store holds
/// (not at 1), on a node that had already sequenced into the room.
async fn numbering_survives_redis_losing_its_data(rig: Rig) {
    let room = rig.room().await;
    let node = rig.node().await;
    let mut sent = Vec::new();
    for i in 0..3 {
        let out = node
            .sequence(message(&room, "alice", &format!("c{i}")))
            .await
            .unwrap();
        sent.push(out.message);
    }
    // The writer persisted them; then Redis lost everything.
    rig.store.insert_messages(&sent).await.unwrap();
    let (client, prefix) = rig.redis().await;
    delete_keys(&client, &prefix).await;
    assert_eq!(node.last_seq(&room.id).await.unwrap(), None);

    let out = node.sequence(message(&room, "bob", "after")).await.unwrap();
    assert_eq!((out.message.seq, out.fresh), (4, true));
    assert_eq!(node.last_seq(&room.id).await.unwrap(), Some(4));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn numbering_survives_redis_losing_its_data_on_redis() {
    on_redis(numbering_survives_redis_losing_its_data).await;
}

/// Redis came back with an older snapshot (a counter below what is stored): a node's first
/// message into the room lifts the counter above the store.
async fn stale_counter_is_lifted(rig: Rig) {
    let room = rig.room().await;
    let stored: Vec<Message> = (1..=5)
        .map(|seq| message(&room, "alice", &format!("old{seq}")).into_message(seq))
        .collect();
    rig.store.insert_messages(&stored).await.unwrap();
    let (client, prefix) = rig.redis().await;
    let () = client
        .set(
            format!("{prefix}seq:{{{}}}:counter", room.id),
            2,
            None,
            None,
            false,
        )
        .await
        .unwrap();

    let out = rig
        .node()
        .await
        .sequence(message(&room, "bob", "new"))
        .await
        .unwrap();
    assert_eq!(out.message.seq, 6);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn stale_counter_is_lifted_on_redis() {
    on_redis(stale_counter_is_lifted).await;
}

/// A Redis that stops answering (connection open, silent) makes every call fail with
/// `Unavailable` within seconds: a send must fail fast, never hang.
async fn silent_redis_is_unavailable(rig: Rig) {
    let room = rig.room().await;
    let (proxy, via) = Proxy::for_url(&redis_url()).await;
    let node = rig.redis_node_via(&via).await;
    node.sequence(message(&room, "alice", "c0")).await.unwrap();

    proxy.freeze();
    let bound = Duration::from_secs(10);
    let started = Instant::now();
    let outcome = tokio::time::timeout(bound, node.sequence(message(&room, "alice", "c1"))).await;
    let elapsed = started.elapsed();
    assert!(
        matches!(outcome, Ok(Err(Error::Unavailable(_)))),
        "sequence after {elapsed:?}: {outcome:?}"
    );
    eprintln!("sequence failed after {elapsed:?}");
    let outcome = tokio::time::timeout(bound, node.recent(&room.id, Page::After(0), 10)).await;
    assert!(
        matches!(outcome, Ok(Err(Error::Unavailable(_)))),
        "{outcome:?}"
    );
    let outcome = tokio::time::timeout(bound, node.last_seq(&room.id)).await;
    assert!(
        matches!(outcome, Ok(Err(Error::Unavailable(_)))),
        "{outcome:?}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn silent_redis_is_unavailable_on_redis() {
    on_redis(silent_redis_is_unavailable).await;
}

/// Until the hand-off is recorded, a retry must hand the message off again: its node may
/// have died between sequencing and publishing.
#[tokio::test]
async fn an_unrecorded_hand_off_is_repeated_by_retries() {
    on_redis(|rig: Rig| async move {
        let room = rig.room().await;
        let node = rig.node().await;
        let first = node.sequence(message(&room, "bob", "u1")).await.unwrap();
        let again = node.sequence(message(&room, "bob", "u1")).await.unwrap();
        assert!(!again.fresh);
        assert!(!again.handed_off);
        assert_eq!(again.message.seq, first.message.seq);
    })
    .await;
}
