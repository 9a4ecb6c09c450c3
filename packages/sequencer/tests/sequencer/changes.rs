//! What both sequencers promise of changes to existing messages: each applied change gets the
//! room's next `rev` (contiguous under concurrency from several nodes), a change made from a
//! stale state or to a deleted message is refused, and every applied change can be read back
//! from the store merged with the sequencer, as `sync` reads it.

use std::collections::{BTreeSet, HashMap};
use std::sync::Arc;

use models::chat::Message;
use sequencer::Sequencer;
use store::{ChangeOutcome, ChatStore, MessageChange};

use crate::{Rig, message, on_redis, on_store};

/// `count` messages of the room, persisted as the writer would have.
async fn stored_messages(rig: &Rig, room: &store::RoomRecord, count: u64) -> Vec<Message> {
    let messages: Vec<Message> = (1..=count)
        .map(|seq| message(room, "alice", &format!("m{seq}")).into_message(seq))
        .collect();
    rig.store.insert_messages(&messages).await.unwrap();
    messages
}

fn edit(m: &Message, body: &str, base_rev: u64) -> MessageChange {
    MessageChange {
        message: Message {
            body: body.into(),
            edited_at: Some(models::Timestamp::now()),
            ..m.clone()
        },
        base_rev,
    }
}

fn applied(outcome: ChangeOutcome) -> Message {
    match outcome {
        ChangeOutcome::Applied(m) => *m,
        other => panic!("the change was not applied: {other:?}"),
    }
}

/// The newest state of every message that changed after `after_rev`, as `sync` merges the
/// store with the sequencer: (seq, rev, body).
async fn changes(
    rig: &Rig,
    node: &Arc<dyn Sequencer>,
    room_id: &str,
    after_rev: u64,
) -> Vec<(u64, u64, String)> {
    let mut newest: HashMap<String, Message> = HashMap::new();
    let stored = rig
        .store
        .changed_messages(room_id, after_rev, u64::MAX, 1000);
    let recent = node.changed(room_id, after_rev, u64::MAX, 1000);
    for m in stored
        .await
        .unwrap()
        .into_iter()
        .chain(recent.await.unwrap())
    {
        if newest.get(&m.id).is_none_or(|seen| seen.rev < m.rev) {
            newest.insert(m.id.clone(), m);
        }
    }
    let mut out: Vec<Message> = newest.into_values().collect();
    node.current(room_id, &mut out).await.unwrap();
    out.sort_by_key(|m| m.rev);
    out.into_iter().map(|m| (m.seq, m.rev, m.body)).collect()
}

async fn changes_are_counted_and_checked(rig: Rig) {
    let room = rig.room().await;
    let all = stored_messages(&rig, &room, 5).await;
    let [a, b] = [rig.node().await, rig.node().await];

    let two = applied(a.change(edit(&all[1], "two, edited", 0)).await.unwrap());
    assert_eq!((two.seq, two.rev, two.body.as_str()), (2, 1, "two, edited"));
    let three = applied(b.change(edit(&all[2], "three, edited", 0)).await.unwrap());
    assert_eq!(three.rev, 2);
    // Made from the state before the first edit: refused, whichever node.
    assert_eq!(
        b.change(edit(&all[1], "lost update", 0)).await.unwrap(),
        ChangeOutcome::Stale
    );
    let again = applied(b.change(edit(&two, "two, again", 1)).await.unwrap());
    assert_eq!(again.rev, 3);
    let four = applied(
        a.change(MessageChange {
            message: all[3].clone().into_deleted(),
            base_rev: 0,
        })
        .await
        .unwrap(),
    );
    assert!(four.deleted && four.rev == 4);
    // A delete is final.
    assert_eq!(
        a.change(edit(&four, "revived", 4)).await.unwrap(),
        ChangeOutcome::Gone
    );

    // The current state of each message, on either node.
    for node in [&a, &b] {
        let mut current = rig
            .store
            .messages(&room.id, store::Page::After(0), 10)
            .await
            .unwrap();
        node.current(&room.id, &mut current).await.unwrap();
        let seen: Vec<(u64, u64, bool)> =
            current.iter().map(|m| (m.seq, m.rev, m.deleted)).collect();
        assert_eq!(
            seen,
            [
                (1, 0, false),
                (2, 3, false),
                (3, 2, false),
                (4, 4, true),
                (5, 0, false)
            ]
        );
        assert_eq!(current[1].body, "two, again");
        assert_eq!(
            changes(&rig, node, &room.id, 0).await,
            [
                (3, 2, "three, edited".to_string()),
                (2, 3, "two, again".to_string()),
                (4, 4, String::new()),
            ]
        );
        assert_eq!(changes(&rig, node, &room.id, 3).await.len(), 1);
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn changes_are_counted_and_checked_on_store() {
    on_store(changes_are_counted_and_checked).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn changes_are_counted_and_checked_on_redis() {
    on_redis(changes_are_counted_and_checked).await;
}

/// 8 tasks on two nodes each edit the same 3 messages 10 times, making each change again from
/// the current state when refused as stale: every change lands once, with `rev` 1..=240.
async fn concurrent_changes_get_contiguous_revs(rig: Rig) {
    let room = rig.room().await;
    let all = stored_messages(&rig, &room, 3).await;
    let nodes = [rig.node().await, rig.node().await];
    let mut tasks = Vec::new();
    for t in 0..8 {
        let node = nodes[t % 2].clone();
        let all = all.clone();
        let room_id = room.id.clone();
        let store = rig.store.clone();
        tasks.push(tokio::spawn(async move {
            let mut revs = Vec::new();
            for i in 0..30 {
                let id = &all[i % 3].id;
                loop {
                    let mut current = [store.message(&room_id, id).await.unwrap().unwrap()];
                    node.current(&room_id, &mut current).await.unwrap();
                    let [current] = current;
                    let base = current.rev;
                    match node
                        .change(edit(&current, &format!("t{t} i{i}"), base))
                        .await
                        .unwrap()
                    {
                        ChangeOutcome::Applied(m) => {
                            revs.push(m.rev);
                            break;
                        }
                        ChangeOutcome::Stale => continue,
                        ChangeOutcome::Gone => panic!("nothing was deleted"),
                    }
                }
            }
            revs
        }));
    }
    let mut revs = BTreeSet::new();
    for task in tasks {
        for rev in task.await.unwrap() {
            assert!(revs.insert(rev), "rev {rev} given twice");
        }
    }
    assert_eq!(revs, (1..=240).collect());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn concurrent_changes_get_contiguous_revs_on_store() {
    on_store(concurrent_changes_get_contiguous_revs).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn concurrent_changes_get_contiguous_revs_on_redis() {
    on_redis(concurrent_changes_get_contiguous_revs).await;
}

/// A Redis that lost the room's counter starts again above the `rev` the store holds.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn revs_continue_above_the_store_after_redis_lost_them() {
    on_redis(|rig: Rig| async move {
        let room = rig.room().await;
        let all = stored_messages(&rig, &room, 2).await;
        let node = rig.node().await;
        let first = applied(node.change(edit(&all[0], "one", 0)).await.unwrap());
        assert_eq!(first.rev, 1);
        // The writer stored changes up to rev 7 (from other rooms' nodes, say), then Redis
        // lost everything of the room.
        let stored = Message {
            rev: 7,
            ..first.clone()
        };
        assert!(rig.store.apply_change(&stored).await.unwrap());
        let (redis, prefix) = rig.redis().await;
        for what in ["rev", "changes", "changed"] {
            let key = format!("{prefix}seq:{{{}}}:{what}", room.id);
            let _: i64 = fred::prelude::KeysInterface::del(&redis, key)
                .await
                .unwrap();
        }
        let next = applied(node.change(edit(&all[1], "two", 0)).await.unwrap());
        assert_eq!(next.rev, 8);
        assert_eq!(node.last_rev(&room.id).await.unwrap(), Some(8));
    })
    .await;
}
