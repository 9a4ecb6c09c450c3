//! Messages: idempotent inserts and the room counters, paging, lookups, edits ordered by their
//! time, final deletes.

use std::sync::Arc;

use models::Timestamp;
use models::chat::Message;
use store::{ChatStore, Inserted, Page, RoomRecord};

use crate::{group, message, new_id, on_mongo, on_sqlite};

const T0: i64 = 1_600_000_000_000;

/// A room of alice and bob, stored.
async fn room(store: &dyn ChatStore) -> RoomRecord {
    let room = group("alice", &["bob"], T0);
    store.create_room(&room).await.expect("create room");
    room
}

/// Messages `seqs` of `room`, sent by alice.
fn messages(room: &RoomRecord, seqs: impl IntoIterator<Item = u64>) -> Vec<Message> {
    seqs.into_iter()
        .map(|seq| message(room, "alice", seq))
        .collect()
}

fn inserted(inserted: usize, duplicates: usize) -> Inserted {
    Inserted {
        inserted,
        duplicates,
    }
}

fn seqs(messages: &[Message]) -> Vec<u64> {
    messages.iter().map(|m| m.seq).collect()
}

async fn inserts_are_idempotent(store: Arc<dyn ChatStore>) {
    let room = room(&*store).await;
    let counters = async || {
        let r = store.room(&room.id).await.unwrap().unwrap();
        (r.last_seq, r.last_activity.millis())
    };
    assert_eq!(store.insert_messages(&[]).await.unwrap(), inserted(0, 0));

    let first = messages(&room, 1..=10);
    assert_eq!(
        store.insert_messages(&first).await.unwrap(),
        inserted(10, 0)
    );
    assert_eq!(counters().await, (10, first[9].created_at.millis()));

    // Redelivered with five new ones: only the new ones count.
    let more = messages(&room, 11..=15);
    let batch: Vec<Message> = first.iter().chain(&more).cloned().collect();
    assert_eq!(
        store.insert_messages(&batch).await.unwrap(),
        inserted(5, 10)
    );
    assert_eq!(counters().await, (15, more[4].created_at.millis()));
    // What was stored first stays, whole.
    for m in first.iter().chain(&more) {
        assert_eq!(
            store.message(&room.id, &m.id).await.unwrap().as_ref(),
            Some(m)
        );
    }

    // Same sender and client id at another seq: a retry, not a new message, and it moves
    // no counter.
    let retry = Message {
        id: new_id(),
        seq: 16,
        body: "sent again".into(),
        created_at: Timestamp::from_millis(1_900_000_000_000),
        ..first[2].clone()
    };
    // Same room and seq under another id and client id; and an id that is already stored.
    let same_seq = Message {
        id: new_id(),
        client_id: "other".into(),
        ..first[3].clone()
    };
    let same_id = Message {
        seq: 17,
        client_id: "another".into(),
        ..first[4].clone()
    };
    assert_eq!(
        store
            .insert_messages(&[retry.clone(), same_seq.clone(), same_id])
            .await
            .unwrap(),
        inserted(0, 3)
    );
    assert_eq!(counters().await, (15, more[4].created_at.millis()));
    assert_eq!(store.message(&room.id, &retry.id).await.unwrap(), None);
    assert_eq!(store.message(&room.id, &same_seq.id).await.unwrap(), None);
    let page = store.messages(&room.id, Page::After(0), 100).await.unwrap();
    assert_eq!(seqs(&page), (1..=15).collect::<Vec<_>>());

    // Out of order: the counters keep the highest seq and the latest time.
    let late = messages(&room, [20, 16, 18]);
    assert_eq!(store.insert_messages(&late).await.unwrap(), inserted(3, 0));
    assert_eq!(counters().await, (20, late[0].created_at.millis()));
    assert_eq!(
        store.insert_messages(&late[1..]).await.unwrap(),
        inserted(0, 2)
    );
    assert_eq!(counters().await, (20, late[0].created_at.millis()));

    // One batch, two rooms: seq and client ids are per room.
    let other = group("bob", &["alice"], T0);
    store.create_room(&other).await.unwrap();
    let mixed: Vec<Message> = messages(&other, 1..=3)
        .into_iter()
        .chain(messages(&room, [19, 17]))
        .collect();
    assert_eq!(store.insert_messages(&mixed).await.unwrap(), inserted(5, 0));
    assert_eq!(counters().await, (20, late[0].created_at.millis()));
    let other_now = store.room(&other.id).await.unwrap().unwrap();
    assert_eq!(
        (other_now.last_seq, other_now.last_activity),
        (3, mixed[2].created_at)
    );
    let page = store
        .messages(&room.id, Page::After(15), 100)
        .await
        .unwrap();
    assert_eq!(seqs(&page), [16, 17, 18, 19, 20]);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn inserts_are_idempotent_on_sqlite() {
    on_sqlite(inserts_are_idempotent).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn inserts_are_idempotent_on_mongo() {
    on_mongo(inserts_are_idempotent).await;
}

async fn pages_of_history(store: Arc<dyn ChatStore>) {
    let room = room(&*store).await;
    // Stored newest first, so only the store's ordering can put them back; seqs 2 and 10 also
    // catch a text sort.
    let all = messages(&room, 1..=25);
    let reversed: Vec<Message> = all.iter().rev().cloned().collect();
    store.insert_messages(&reversed).await.unwrap();
    // Another room's messages never show.
    let other = group("bob", &[], T0);
    store.create_room(&other).await.unwrap();
    store
        .insert_messages(&messages(&other, 1..=30))
        .await
        .unwrap();

    let page = async |page: Page, limit: usize| {
        store
            .messages(&room.id, page, limit)
            .await
            .expect("messages")
    };
    let range = |from: u64, to: u64| (from..=to).collect::<Vec<_>>();

    // The newest page, ascending, whole messages.
    assert_eq!(page(Page::Before(None), 10).await, all[15..25]);
    assert_eq!(seqs(&page(Page::Before(Some(16)), 10).await), range(6, 15));
    assert_eq!(seqs(&page(Page::Before(Some(6)), 10).await), range(1, 5));
    assert!(page(Page::Before(Some(1)), 10).await.is_empty());
    assert_eq!(
        seqs(&page(Page::Before(Some(1000)), 3).await),
        range(23, 25)
    );

    assert_eq!(page(Page::After(0), 10).await, all[0..10]);
    assert_eq!(seqs(&page(Page::After(10), 10).await), range(11, 20));
    assert_eq!(seqs(&page(Page::After(20), 10).await), range(21, 25));
    assert!(page(Page::After(25), 10).await.is_empty());
    // Bounds beyond any storable seq are not errors.
    assert!(page(Page::After(u64::MAX), 10).await.is_empty());
    assert_eq!(
        seqs(&page(Page::Before(Some(u64::MAX)), 100).await),
        range(1, 25)
    );

    assert_eq!(seqs(&page(Page::Before(None), 100).await), range(1, 25));
    assert_eq!(seqs(&page(Page::After(0), 1).await), [1]);
    assert_eq!(seqs(&page(Page::Before(None), 1).await), [25]);
    assert!(
        page(Page::Before(None), 0).await.is_empty(),
        "limit 0 means none"
    );
    assert!(
        page(Page::After(0), 0).await.is_empty(),
        "limit 0 means none"
    );

    let nowhere = store
        .messages(&new_id(), Page::Before(None), 10)
        .await
        .unwrap();
    assert!(nowhere.is_empty());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn pages_of_history_on_sqlite() {
    on_sqlite(pages_of_history).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn pages_of_history_on_mongo() {
    on_mongo(pages_of_history).await;
}

async fn lookups(store: Arc<dyn ChatStore>) {
    let room = room(&*store).await;
    let other = group("carol", &["alice"], T0);
    store.create_room(&other).await.unwrap();
    let mut m = message(&room, "bob", 1);
    m.reply_to = Some(new_id());
    m.attachments.push(models::chat::FileRef {
        id: new_id(),
        filename: "notes.txt".into(),
        content_type: "text/plain".into(),
        size: 0,
    });
    let plain = Message {
        attachments: Vec::new(),
        ..message(&room, "alice", 2)
    };
    // The same client id from another sender, and in another room.
    let alices = Message {
        client_id: m.client_id.clone(),
        ..message(&room, "alice", 3)
    };
    let elsewhere = message(&other, "bob", 1);
    store
        .insert_messages(&[m.clone(), plain.clone(), alices.clone(), elsewhere.clone()])
        .await
        .unwrap();

    assert_eq!(
        store.message(&room.id, &m.id).await.unwrap(),
        Some(m.clone())
    );
    assert_eq!(
        store.message(&room.id, &plain.id).await.unwrap(),
        Some(plain)
    );
    // A message is only found in its own room.
    assert_eq!(store.message(&other.id, &m.id).await.unwrap(), None);
    assert_eq!(store.message(&room.id, &new_id()).await.unwrap(), None);

    let by_client = async |room: &str, sender: &str, client_id: &str| {
        store
            .message_by_client_id(room, sender, client_id)
            .await
            .unwrap()
    };
    assert_eq!(
        by_client(&room.id, "bob", &m.client_id).await,
        Some(m.clone())
    );
    assert_eq!(
        by_client(&room.id, "alice", &m.client_id).await,
        Some(alices)
    );
    assert_eq!(
        by_client(&other.id, "bob", &m.client_id).await,
        Some(elsewhere)
    );
    assert_eq!(by_client(&room.id, "carol", &m.client_id).await, None);
    assert_eq!(by_client(&room.id, "bob", "c9").await, None);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn lookups_on_sqlite() {
    on_sqlite(lookups).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn lookups_on_mongo() {
    on_mongo(lookups).await;
}

/// `m` as changed to `body` by the room's change `rev`.
fn edited(m: &Message, body: &str, rev: u64) -> Message {
    Message {
        body: body.into(),
        edited_at: Some(Timestamp::from_millis(1_800_000_000_000 + rev as i64)),
        rev,
        ..m.clone()
    }
}

async fn newest_change_wins(store: Arc<dyn ChatStore>) {
    let room = room(&*store).await;
    let [m, neighbour] = [message(&room, "alice", 1), message(&room, "alice", 2)];
    store
        .insert_messages(&[m.clone(), neighbour.clone()])
        .await
        .unwrap();
    let stored = async |id: &str| store.message(&room.id, id).await.unwrap().unwrap();
    let room_rev = async || store.room(&room.id).await.unwrap().unwrap().rev;
    assert_eq!(room_rev().await, 0);

    // Applied out of order: the change of rev 2 arrives first and stays.
    assert!(store.apply_change(&edited(&m, "second", 2)).await.unwrap());
    assert!(!store.apply_change(&edited(&m, "first", 1)).await.unwrap());
    assert_eq!(stored(&m.id).await, edited(&m, "second", 2));
    assert_eq!(room_rev().await, 2);
    // The same rev again is not newer.
    assert!(!store.apply_change(&edited(&m, "again", 2)).await.unwrap());
    assert_eq!(stored(&m.id).await.body, "second");
    assert!(store.apply_change(&edited(&m, "third", 3)).await.unwrap());
    // Only the body, the edit time and the rev change.
    assert_eq!(stored(&m.id).await, edited(&m, "third", 3));
    assert_eq!(stored(&neighbour.id).await, neighbour);
    assert_eq!(room_rev().await, 3);

    // After a delete, no edit applies, however new.
    assert!(store.apply_delete(&room.id, &m.id, 4).await.unwrap());
    assert!(
        !store
            .apply_change(&edited(&m, "revived", 100))
            .await
            .unwrap()
    );
    let gone = stored(&m.id).await;
    assert!(gone.deleted);
    assert_eq!((gone.body.as_str(), gone.rev), ("", 4));
    assert_eq!(room_rev().await, 4);

    // A change that arrives before its message is stored stores it; the creation that
    // follows is a duplicate and changes nothing.
    let late = message(&room, "bob", 3);
    assert!(
        store
            .apply_change(&edited(&late, "early edit", 5))
            .await
            .unwrap()
    );
    assert_eq!(
        store
            .insert_messages(std::slice::from_ref(&late))
            .await
            .unwrap()
            .duplicates,
        1
    );
    assert_eq!(stored(&late.id).await, edited(&late, "early edit", 5));
    let room_now = store.room(&room.id).await.unwrap().unwrap();
    assert_eq!((room_now.last_seq, room_now.rev), (3, 5));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn newest_change_wins_on_sqlite() {
    on_sqlite(newest_change_wins).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn newest_change_wins_on_mongo() {
    on_mongo(newest_change_wins).await;
}

async fn messages_by_id_of_one_room(store: Arc<dyn ChatStore>) {
    let (room, other) = (room(&*store).await, room(&*store).await);
    let all = messages(&room, 1..=4);
    let elsewhere = message(&other, "alice", 1);
    store.insert_messages(&all).await.unwrap();
    store
        .insert_messages(std::slice::from_ref(&elsewhere))
        .await
        .unwrap();
    let ids = [
        all[3].id.clone(),
        all[1].id.clone(),
        elsewhere.id.clone(),
        new_id(),
    ];
    let mut found = store.messages_by_id(&room.id, &ids).await.unwrap();
    found.sort_by_key(|m| m.seq);
    assert_eq!(
        found,
        [all[1].clone(), all[3].clone()],
        "only the room's, unknown ids skipped"
    );
    assert!(
        store
            .messages_by_id(&room.id, &[])
            .await
            .unwrap()
            .is_empty()
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn messages_by_id_of_one_room_on_sqlite() {
    on_sqlite(messages_by_id_of_one_room).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn messages_by_id_of_one_room_on_mongo() {
    on_mongo(messages_by_id_of_one_room).await;
}

async fn threads_are_kept_and_paged(store: Arc<dyn ChatStore>) {
    use models::chat::ThreadSummary;
    let room = room(&*store).await;
    let root = message(&room, "alice", 1);
    let in_thread = |seq: u64| Message {
        thread_id: Some(root.id.clone()),
        ..message(&room, "bob", seq)
    };
    let all = [
        root.clone(),
        in_thread(2),
        message(&room, "alice", 3),
        in_thread(4),
        in_thread(5),
    ];
    store.insert_messages(&all).await.unwrap();
    let seqs = |ms: Vec<Message>| ms.iter().map(|m| m.seq).collect::<Vec<_>>();
    let page = async |page: Page, limit: usize| {
        seqs(
            store
                .thread_messages(&room.id, &root.id, page, limit)
                .await
                .unwrap(),
        )
    };
    assert_eq!(page(Page::After(0), 10).await, [2, 4, 5]);
    assert_eq!(page(Page::Before(None), 2).await, [4, 5]);
    assert_eq!(page(Page::Before(Some(4)), 10).await, [2]);
    assert_eq!(page(Page::After(4), 10).await, [5]);
    let stored = store.message(&room.id, &all[1].id).await.unwrap().unwrap();
    assert_eq!(stored.thread_id.as_deref(), Some(root.id.as_str()));

    // The root's summary is a change like any other, and a delete keeps it.
    let mut summary = ThreadSummary::with_reply(None, &all[1]);
    summary = ThreadSummary::with_reply(Some(&summary), &all[3]);
    let counted = Message {
        rev: 1,
        thread: Some(summary.clone()),
        ..root.clone()
    };
    assert!(store.apply_change(&counted).await.unwrap());
    assert_eq!(
        store.message(&room.id, &root.id).await.unwrap().unwrap(),
        counted
    );
    assert_eq!(summary.reply_count, 2);
    assert_eq!(summary.participant_ids, ["bob"]);
    assert!(store.apply_delete(&room.id, &root.id, 2).await.unwrap());
    let gone = store.message(&room.id, &root.id).await.unwrap().unwrap();
    assert!(gone.deleted);
    assert_eq!(gone.thread, Some(summary));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn threads_are_kept_and_paged_on_sqlite() {
    on_sqlite(threads_are_kept_and_paged).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn threads_are_kept_and_paged_on_mongo() {
    on_mongo(threads_are_kept_and_paged).await;
}

async fn mentions_are_kept_and_counted(store: Arc<dyn ChatStore>) {
    let room = room(&*store).await;
    let mention = |seq: u64, sender: &str, users: &[&str], all: bool| Message {
        mentions: users.iter().map(|u| u.to_string()).collect(),
        mentions_room: all,
        ..message(&room, sender, seq)
    };
    let all = [
        mention(1, "alice", &["bob"], false),
        mention(2, "alice", &[], false),
        mention(3, "alice", &[], true),
        mention(4, "alice", &["carol", "bob"], false),
        mention(5, "bob", &["bob"], true),
        mention(6, "alice", &["bob"], false),
    ];
    store.insert_messages(&all).await.unwrap();
    assert!(store.apply_delete(&room.id, &all[5].id, 1).await.unwrap());
    let stored = store.message(&room.id, &all[3].id).await.unwrap().unwrap();
    assert_eq!(stored.mentions, ["carol", "bob"]);
    assert!(
        store
            .message(&room.id, &all[2].id)
            .await
            .unwrap()
            .unwrap()
            .mentions_room
    );
    let count =
        async |user: &str, after: u64| store.unread_mentions(&room.id, user, after).await.unwrap();
    // bob: 1, 3 (@room) and 4; not his own 5, not the deleted 6.
    assert_eq!(count("bob", 0).await, 3);
    assert_eq!(count("bob", 3).await, 1);
    assert_eq!(count("carol", 0).await, 3, "4, and @room in 3 and 5");
    assert_eq!(count("alice", 0).await, 1, "@room in bob's 5");
    assert_eq!(count("bob", 6).await, 0);
    // An edit that drops the mention drops it from the count.
    let edited = Message {
        rev: 2,
        mentions: Vec::new(),
        ..all[3].clone()
    };
    assert!(store.apply_change(&edited).await.unwrap());
    assert_eq!(count("bob", 0).await, 2);
    assert!(
        store
            .message(&room.id, &all[3].id)
            .await
            .unwrap()
            .unwrap()
            .mentions
            .is_empty()
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn mentions_are_kept_and_counted_on_sqlite() {
    on_sqlite(mentions_are_kept_and_counted).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn mentions_are_kept_and_counted_on_mongo() {
    on_mongo(mentions_are_kept_and_counted).await;
}

async fn reactions_are_kept_with_the_message(store: Arc<dyn ChatStore>) {
    let room = room(&*store).await;
    let [m, other] = [message(&room, "alice", 1), message(&room, "alice", 2)];
    store
        .insert_messages(&[m.clone(), other.clone()])
        .await
        .unwrap();
    assert!(
        store
            .message(&room.id, &m.id)
            .await
            .unwrap()
            .unwrap()
            .reactions
            .is_empty()
    );

    let mut reacted = Message {
        rev: 1,
        ..m.clone()
    };
    reacted.add_reaction("👍", "bob").unwrap();
    reacted.add_reaction(":tada:", "carol").unwrap();
    reacted.add_reaction("👍", "carol").unwrap();
    assert!(store.apply_change(&reacted).await.unwrap());
    let stored = store.message(&room.id, &m.id).await.unwrap().unwrap();
    assert_eq!(
        stored, reacted,
        "reactions, their order and counts come back as stored"
    );
    assert_eq!(stored.reactions[0].count, 2);
    assert_eq!(
        store.changed_messages(&room.id, 0, 10, 10).await.unwrap(),
        [reacted.clone()]
    );
    // An older state does not bring the reactions back to what they were.
    assert!(
        !store
            .apply_change(&Message {
                rev: 0,
                ..m.clone()
            })
            .await
            .unwrap()
    );
    // A later change without them takes them away.
    let mut unreacted = Message {
        rev: 2,
        ..reacted.clone()
    };
    unreacted.remove_reaction(":tada:", "carol");
    assert!(store.apply_change(&unreacted).await.unwrap());
    assert_eq!(
        store.message(&room.id, &m.id).await.unwrap().unwrap(),
        unreacted
    );
    // A reaction that arrives before its message stores the message with it.
    let mut early = message(&room, "bob", 3);
    early.rev = 3;
    early.add_reaction("❤️", "alice").unwrap();
    assert!(store.apply_change(&early).await.unwrap());
    assert_eq!(
        store.message(&room.id, &early.id).await.unwrap().unwrap(),
        early
    );
    // A delete takes them with the body.
    assert!(store.apply_delete(&room.id, &m.id, 4).await.unwrap());
    assert!(
        store
            .message(&room.id, &m.id)
            .await
            .unwrap()
            .unwrap()
            .reactions
            .is_empty()
    );
    assert_eq!(
        store.message(&room.id, &other.id).await.unwrap().unwrap(),
        other
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn reactions_are_kept_with_the_message_on_sqlite() {
    on_sqlite(reactions_are_kept_with_the_message).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn reactions_are_kept_with_the_message_on_mongo() {
    on_mongo(reactions_are_kept_with_the_message).await;
}

async fn changes_by_rev(store: Arc<dyn ChatStore>) {
    let room = room(&*store).await;
    let all = messages(&room, 1..=6);
    store.insert_messages(&all).await.unwrap();
    // Changes in this order: seq 4 (rev 1), 2 (rev 2), 5 (rev 3), 4 again (rev 4), delete of
    // 6 (rev 5).
    for (seq, rev) in [(4, 1), (2, 2), (5, 3), (4, 4)] {
        let m = &all[seq - 1];
        assert!(
            store
                .apply_change(&edited(m, "changed", rev))
                .await
                .unwrap()
        );
    }
    assert!(store.apply_delete(&room.id, &all[5].id, 5).await.unwrap());
    let changed = async |after_rev: u64, max_seq: u64, limit: usize| -> Vec<(u64, u64)> {
        store
            .changed_messages(&room.id, after_rev, max_seq, limit)
            .await
            .unwrap()
            .iter()
            .map(|m| (m.seq, m.rev))
            .collect()
    };
    // Each message once, at its latest change, ascending by rev.
    assert_eq!(changed(0, 10, 10).await, [(2, 2), (5, 3), (4, 4), (6, 5)]);
    assert_eq!(changed(2, 10, 10).await, [(5, 3), (4, 4), (6, 5)]);
    assert_eq!(changed(0, 10, 2).await, [(2, 2), (5, 3)]);
    // Only what the caller already has (seq <= max_seq).
    assert_eq!(changed(0, 4, 10).await, [(2, 2), (4, 4)]);
    assert_eq!(changed(5, 10, 10).await, []);
    let deleted = store.changed_messages(&room.id, 4, 10, 10).await.unwrap();
    assert!(deleted[0].deleted && deleted[0].body.is_empty());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn changes_by_rev_on_sqlite() {
    on_sqlite(changes_by_rev).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn changes_by_rev_on_mongo() {
    on_mongo(changes_by_rev).await;
}

async fn delete_is_final(store: Arc<dyn ChatStore>) {
    let room = room(&*store).await;
    let all = messages(&room, 1..=3);
    store.insert_messages(&all).await.unwrap();
    let m = &all[1];
    assert!(!m.attachments.is_empty());

    assert!(!store.apply_delete(&room.id, &new_id(), 1).await.unwrap());
    assert!(!store.apply_delete(&new_id(), &m.id, 1).await.unwrap());
    assert!(
        !store
            .message(&room.id, &m.id)
            .await
            .unwrap()
            .unwrap()
            .deleted
    );

    assert!(store.apply_delete(&room.id, &m.id, 1).await.unwrap());
    // It keeps its place in the history, its ids and times; its content is gone.
    let tombstone = Message {
        body: String::new(),
        attachments: Vec::new(),
        deleted: true,
        rev: 1,
        ..m.clone()
    };
    assert_eq!(
        store.message(&room.id, &m.id).await.unwrap(),
        Some(tombstone.clone())
    );
    assert_eq!(
        store
            .message_by_client_id(&room.id, "alice", &m.client_id)
            .await
            .unwrap(),
        Some(tombstone.clone())
    );
    assert_eq!(
        store
            .messages(&room.id, Page::Before(None), 10)
            .await
            .unwrap(),
        [all[0].clone(), tombstone.clone(), all[2].clone()]
    );

    // A second delete, and a redelivery of the original, change nothing.
    assert!(!store.apply_delete(&room.id, &m.id, 2).await.unwrap());
    assert_eq!(
        store.insert_messages(&all).await.unwrap(),
        Inserted {
            inserted: 0,
            duplicates: 3
        }
    );
    assert_eq!(
        store.message(&room.id, &m.id).await.unwrap(),
        Some(tombstone)
    );
    let room_now = store.room(&room.id).await.unwrap().unwrap();
    assert_eq!(room_now.last_seq, 3);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn delete_is_final_on_sqlite() {
    on_sqlite(delete_is_final).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn delete_is_final_on_mongo() {
    on_mongo(delete_is_final).await;
}
