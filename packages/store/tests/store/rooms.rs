//! Rooms: creation and lookup, direct-room uniqueness, members, read pointers, and the order
//! of a user's rooms.

use std::sync::Arc;

use models::Timestamp;
use store::{ChatStore, Error, MemberRoom};

use crate::{direct, group, message, new_id, on_mongo, on_sqlite};

/// Well before the messages of [`message`], so a message always moves a room up.
const T0: i64 = 1_600_000_000_000;

/// The ids of a user's rooms, in the order the store gives them.
async fn room_ids(store: &dyn ChatStore, user: &str) -> Vec<String> {
    let rooms = store.rooms_of(user).await.expect("rooms_of");
    rooms.into_iter().map(|r| r.room.id).collect()
}

async fn rooms_by_activity(store: Arc<dyn ChatStore>) {
    let older = group("alice", &["bob"], T0);
    let newer = group("alice", &["carol"], T0 + 1000);
    store.create_room(&older).await.expect("create older");
    store.create_room(&newer).await.expect("create newer");

    assert_eq!(store.room(&older.id).await.unwrap(), Some(older.clone()));
    assert_eq!(store.room(&newer.id).await.unwrap(), Some(newer.clone()));
    assert_eq!(store.room(&new_id()).await.unwrap(), None);

    // Whole records, each with the caller's read pointer, newest activity first.
    assert_eq!(
        store.rooms_of("alice").await.unwrap(),
        [
            MemberRoom {
                room: newer.clone(),
                last_read_seq: 0
            },
            MemberRoom {
                room: older.clone(),
                last_read_seq: 0
            },
        ]
    );
    assert_eq!(room_ids(&*store, "bob").await, [older.id.as_str()]);
    assert_eq!(room_ids(&*store, "carol").await, [newer.id.as_str()]);
    assert!(room_ids(&*store, "dave").await.is_empty());

    // A message in the older room makes it the most recent.
    let m = message(&older, "bob", 1);
    store
        .insert_messages(std::slice::from_ref(&m))
        .await
        .expect("insert");
    let rooms = store.rooms_of("alice").await.unwrap();
    assert_eq!(
        rooms.iter().map(|r| &r.room.id).collect::<Vec<_>>(),
        [&older.id, &newer.id]
    );
    assert_eq!(rooms[0].room.last_seq, 1);
    assert_eq!(rooms[0].room.last_activity, m.created_at);
    assert_eq!(rooms[1].room.last_seq, 0);
    assert_eq!(rooms[1].room.last_activity, newer.last_activity);

    // The read pointer is the caller's own.
    assert!(store.set_read(&older.id, "alice", 1).await.unwrap());
    let alice = store.rooms_of("alice").await.unwrap();
    assert_eq!((&alice[0].room.id, alice[0].last_read_seq), (&older.id, 1));
    assert_eq!(alice[1].last_read_seq, 0);
    let bob = store.rooms_of("bob").await.unwrap();
    assert_eq!((&bob[0].room.id, bob[0].last_read_seq), (&older.id, 0));

    // Equal activity: ordered by id.
    let mut tie_a = group("alice", &[], T0 + 1000);
    let mut tie_b = group("alice", &[], T0 + 1000);
    tie_a.id = format!("a-{}", new_id());
    tie_b.id = format!("b-{}", new_id());
    store.create_room(&tie_b).await.unwrap();
    store.create_room(&tie_a).await.unwrap();
    let mut ties = vec![tie_a.id.clone(), tie_b.id.clone(), newer.id.clone()];
    ties.sort();
    let expected: Vec<String> = std::iter::once(older.id.clone()).chain(ties).collect();
    assert_eq!(room_ids(&*store, "alice").await, expected);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn rooms_by_activity_on_sqlite() {
    on_sqlite(rooms_by_activity).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn rooms_by_activity_on_mongo() {
    on_mongo(rooms_by_activity).await;
}

async fn one_direct_room_per_pair(store: Arc<dyn ChatStore>) {
    // Groups have no direct key: any number of them coexist.
    for _ in 0..3 {
        store
            .create_room(&group("alice", &["bob"], T0))
            .await
            .expect("create group");
    }
    let first = direct("alice", "bob", T0);
    store.create_room(&first).await.expect("create direct");
    let key = first.direct_key.clone().unwrap();
    assert_eq!(key, "alice:bob");

    // Asked for again, from either side: refused, and nothing of it stored.
    let second = direct("bob", "alice", T0 + 1);
    assert_eq!(second.direct_key.as_deref(), Some(key.as_str()));
    match store.create_room(&second).await {
        Err(Error::Duplicate(_)) => {}
        other => panic!("second direct room should be Duplicate, got {other:?}"),
    }
    assert_eq!(store.room(&second.id).await.unwrap(), None);

    assert_eq!(store.direct_room(&key).await.unwrap(), Some(first.clone()));
    assert_eq!(store.direct_room("alice:carol").await.unwrap(), None);
    // Another pair has a room of its own.
    let other = direct("carol", "alice", T0);
    store
        .create_room(&other)
        .await
        .expect("create another pair");
    assert_eq!(
        store.direct_room("alice:carol").await.unwrap(),
        Some(other.clone())
    );
    assert_eq!(store.direct_room(&key).await.unwrap(), Some(first.clone()));

    let bobs = store.rooms_of("bob").await.unwrap();
    assert_eq!(bobs.len(), 4, "three groups and one direct room: {bobs:?}");
    assert!(bobs.iter().any(|r| r.room == first));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn one_direct_room_per_pair_on_sqlite() {
    on_sqlite(one_direct_room_per_pair).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn one_direct_room_per_pair_on_mongo() {
    on_mongo(one_direct_room_per_pair).await;
}

async fn members_join_and_leave(store: Arc<dyn ChatStore>) {
    // A member listed twice is stored once, at its first place.
    let room = group("alice", &["bob", "alice", "bob"], T0);
    store.create_room(&room).await.expect("create");
    // The room's members, read both ways (the second may come from memory): they must agree.
    let members = async || {
        let listed = store.room(&room.id).await.unwrap().unwrap().members;
        assert_eq!(
            store.room_members(&room.id).await.unwrap(),
            Some(listed.clone())
        );
        listed
    };
    assert_eq!(members().await, ["alice", "bob"]);

    assert_eq!(store.membership(&room.id, "alice").await.unwrap(), Some(0));
    assert_eq!(store.membership(&room.id, "bob").await.unwrap(), Some(0));
    assert_eq!(store.membership(&room.id, "carol").await.unwrap(), None);
    assert_eq!(store.membership(&new_id(), "alice").await.unwrap(), None);

    assert!(store.add_member(&room.id, "carol").await.unwrap());
    assert!(!store.add_member(&room.id, "carol").await.unwrap());
    assert!(!store.add_member(&room.id, "alice").await.unwrap());
    assert_eq!(members().await, ["alice", "bob", "carol"]);
    assert_eq!(store.membership(&room.id, "carol").await.unwrap(), Some(0));
    assert_eq!(room_ids(&*store, "carol").await, [room.id.as_str()]);

    assert!(store.remove_member(&room.id, "bob").await.unwrap());
    assert!(!store.remove_member(&room.id, "bob").await.unwrap());
    assert!(!store.remove_member(&room.id, "dave").await.unwrap());
    assert_eq!(members().await, ["alice", "carol"]);
    assert_eq!(store.membership(&room.id, "bob").await.unwrap(), None);
    assert!(room_ids(&*store, "bob").await.is_empty());

    // Leaving drops the read pointer: who comes back starts again, last in join order.
    assert!(store.set_read(&room.id, "carol", 4).await.unwrap());
    assert_eq!(store.membership(&room.id, "carol").await.unwrap(), Some(4));
    assert!(store.remove_member(&room.id, "carol").await.unwrap());
    assert!(store.add_member(&room.id, "bob").await.unwrap());
    assert!(store.add_member(&room.id, "carol").await.unwrap());
    assert_eq!(members().await, ["alice", "bob", "carol"]);
    assert_eq!(store.membership(&room.id, "carol").await.unwrap(), Some(0));

    // A room that does not exist has no members to add or remove.
    let unknown = new_id();
    assert!(!store.add_member(&unknown, "alice").await.unwrap());
    assert!(!store.remove_member(&unknown, "alice").await.unwrap());
    assert_eq!(store.room(&unknown).await.unwrap(), None);
    assert_eq!(store.room_members(&unknown).await.unwrap(), None);
    assert_eq!(store.membership(&unknown, "alice").await.unwrap(), None);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn members_join_and_leave_on_sqlite() {
    on_sqlite(members_join_and_leave).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn members_join_and_leave_on_mongo() {
    on_mongo(members_join_and_leave).await;
}

async fn read_pointer_only_moves_forward(store: Arc<dyn ChatStore>) {
    let room = group("alice", &["bob"], T0);
    store.create_room(&room).await.expect("create");
    let pointer = async |user: &str| store.membership(&room.id, user).await.unwrap();

    assert!(!store.set_read(&room.id, "alice", 0).await.unwrap());
    assert_eq!(pointer("alice").await, Some(0));
    assert!(store.set_read(&room.id, "alice", 5).await.unwrap());
    assert_eq!(pointer("alice").await, Some(5));
    // Lower or equal: ignored (a late or repeated `read`).
    assert!(!store.set_read(&room.id, "alice", 3).await.unwrap());
    assert_eq!(pointer("alice").await, Some(5));
    assert!(!store.set_read(&room.id, "alice", 5).await.unwrap());
    assert_eq!(pointer("alice").await, Some(5));
    assert!(store.set_read(&room.id, "alice", 9).await.unwrap());
    assert_eq!(pointer("alice").await, Some(9));

    // Each member has their own; a non-member has none, and gets none by reading.
    assert_eq!(pointer("bob").await, Some(0));
    assert!(store.set_read(&room.id, "bob", 2).await.unwrap());
    assert_eq!(pointer("bob").await, Some(2));
    assert_eq!(pointer("alice").await, Some(9));
    assert!(!store.set_read(&room.id, "carol", 7).await.unwrap());
    assert_eq!(pointer("carol").await, None);
    assert!(!store.set_read(&new_id(), "alice", 7).await.unwrap());

    let alice = store.rooms_of("alice").await.unwrap();
    assert_eq!(alice.len(), 1);
    assert_eq!(alice[0].last_read_seq, 9);
    // Pointers are independent of the room's own counters.
    assert_eq!(alice[0].room.last_seq, 0);
    assert_eq!(alice[0].room.last_activity, Timestamp::from_millis(T0));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn read_pointer_only_moves_forward_on_sqlite() {
    on_sqlite(read_pointer_only_moves_forward).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn read_pointer_only_moves_forward_on_mongo() {
    on_mongo(read_pointer_only_moves_forward).await;
}
