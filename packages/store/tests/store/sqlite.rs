//! What only the SQLite file has: it outlives the process, it may be opened twice, and it
//! numbers messages itself (the embedded sequencer).

use std::sync::Arc;

use models::Timestamp;
use models::chat::{FileRef, Message};
use store::{
    AuthStore, ChatStore, Consumed, Error, FileRecord, FileState, FileStore, NewMessage, Page,
    SqliteStore,
};
use tokio::sync::Barrier;

use crate::{TempDir, direct, group, later, message, new_id, now, token, user};

#[tokio::test]
async fn data_survives_reopening_the_file() {
    let dir = TempDir::new();
    // Missing parent directories are created.
    let path = dir.path().join("nested").join("data").join("chat.db");

    let alice = user("alice");
    let used = token(&alice, &new_id(), later());
    let unused = token(&alice, &used.family_id, later());
    let revoked = token(&alice, &new_id(), later());
    {
        let store = SqliteStore::open(&path).expect("open");
        store.create_user(&alice).await.unwrap();
        store.create_family(&used).await.unwrap();
        store.add_token(&unused).await.unwrap();
        store.create_family(&revoked).await.unwrap();
        assert!(matches!(
            store.consume_token(&used.hash, now()).await.unwrap(),
            Consumed::Fresh { .. }
        ));
        store.revoke_family(&revoked.family_id).await.unwrap();
    }

    let store = SqliteStore::open(&path).expect("reopen");
    assert_eq!(
        store.user_by_username("alice").await.unwrap(),
        Some(alice.clone())
    );
    assert_eq!(
        store.search_users("al", 10).await.unwrap(),
        std::slice::from_ref(&alice)
    );
    assert_eq!(
        store.consume_token(&used.hash, now()).await.unwrap(),
        Consumed::Reused {
            family_id: used.family_id.clone()
        }
    );
    assert_eq!(
        store.consume_token(&unused.hash, now()).await.unwrap(),
        Consumed::Fresh {
            user_id: alice.id.clone(),
            family_id: used.family_id.clone()
        }
    );
    assert_eq!(
        store.consume_token(&revoked.hash, now()).await.unwrap(),
        Consumed::Dead
    );
    // The username is still unique after the schema ran a second time.
    assert!(matches!(
        store.create_user(&user("alice")).await,
        Err(Error::Duplicate(_))
    ));
}

#[tokio::test]
async fn refuses_a_file_from_a_newer_build() {
    let dir = TempDir::new();
    let path = dir.path().join("chat.db");
    drop(SqliteStore::open(&path).expect("create"));
    let conn = rusqlite::Connection::open(&path).unwrap();
    conn.pragma_update(None, "user_version", 1000).unwrap();
    drop(conn);

    match SqliteStore::open(&path) {
        Err(Error::Internal(msg)) => assert!(msg.contains("1000"), "{msg}"),
        other => panic!("expected a schema-version error, got {other:?}"),
    }
}

/// Two handles on one file behave like two processes: SQLite's lock, not our mutex, decides,
/// and the busy timeout makes the loser wait instead of failing.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn two_handles_on_one_file_agree() {
    let dir = TempDir::new();
    let path = dir.path().join("chat.db");
    let a: Arc<dyn AuthStore> = Arc::new(SqliteStore::open(&path).unwrap());
    let b: Arc<dyn AuthStore> = Arc::new(SqliteStore::open(&path).unwrap());
    let alice = user("alice");
    a.create_user(&alice).await.unwrap();

    for _round in 0..20 {
        let t = token(&alice, &new_id(), later());
        b.create_family(&t).await.unwrap();
        let tasks: Vec<_> = [&a, &b, &a, &b]
            .into_iter()
            .map(|store| {
                let (store, hash) = (store.clone(), t.hash.clone());
                tokio::spawn(async move { store.consume_token(&hash, now()).await.unwrap() })
            })
            .collect();
        let mut fresh = 0;
        for task in tasks {
            if matches!(task.await.unwrap(), Consumed::Fresh { .. }) {
                fresh += 1;
            }
        }
        assert_eq!(fresh, 1);
    }
}

/// A room's members as one handle knows them follow what another handle on the file (another
/// process) changed, as soon as the first one has run any call after it.
#[tokio::test]
async fn members_changed_through_another_handle_are_seen() {
    let dir = TempDir::new();
    let path = dir.path().join("chat.db");
    let a = SqliteStore::open(&path).unwrap();
    let b = SqliteStore::open(&path).unwrap();
    let room = group("alice", &[], now().millis());
    a.create_room(&room).await.unwrap();
    assert_eq!(a.room_members(&room.id).await.unwrap().unwrap(), ["alice"]);

    assert!(b.add_member(&room.id, "bob").await.unwrap());
    // Any call on `a` after the change, such as sequencing a message, brings it in.
    a.sequence_message(new_message(&room.id, "alice", "c1"))
        .await
        .unwrap();
    assert_eq!(
        a.room_members(&room.id).await.unwrap().unwrap(),
        ["alice", "bob"]
    );

    assert!(b.remove_member(&room.id, "alice").await.unwrap());
    a.membership(&room.id, "bob").await.unwrap();
    assert_eq!(a.room_members(&room.id).await.unwrap().unwrap(), ["bob"]);
}

/// Every chat record survives a reopen, and the sequencer carries on where it stopped.
#[tokio::test]
async fn chat_data_survives_reopening_the_file() {
    let dir = TempDir::new();
    let path = dir.path().join("chat.db");
    let room = group("alice", &["bob"], 1_600_000_000_000);
    let pair = direct("alice", "carol", 1_600_000_000_000);
    let stored = [message(&room, "bob", 1), message(&room, "alice", 2)];
    {
        let store = SqliteStore::open(&path).expect("open");
        store.create_room(&room).await.unwrap();
        store.create_room(&pair).await.unwrap();
        store.insert_messages(&stored).await.unwrap();
        assert!(store.add_member(&room.id, "dave").await.unwrap());
        assert!(store.set_read(&room.id, "bob", 2).await.unwrap());
        let edit = Message {
            body: "edited".into(),
            edited_at: Some(later()),
            rev: 1,
            ..stored[0].clone()
        };
        assert!(store.apply_change(&edit).await.unwrap());
        assert!(
            store
                .apply_delete(&room.id, &stored[1].id, 2)
                .await
                .unwrap()
        );
    }

    let store = SqliteStore::open(&path).expect("reopen");
    let reopened = store.room(&room.id).await.unwrap().unwrap();
    assert_eq!(reopened.members, ["alice", "bob", "dave"]);
    assert_eq!((reopened.last_seq, reopened.rev), (2, 2));
    assert_eq!(reopened.last_activity, stored[1].created_at);
    assert_eq!(
        store.direct_room("alice:carol").await.unwrap(),
        Some(pair.clone())
    );
    assert_eq!(store.membership(&room.id, "bob").await.unwrap(), Some(2));
    let history = store.messages(&room.id, Page::After(0), 10).await.unwrap();
    assert_eq!(
        history,
        [
            Message {
                body: "edited".into(),
                edited_at: Some(later()),
                rev: 1,
                ..stored[0].clone()
            },
            Message {
                body: String::new(),
                attachments: Vec::new(),
                deleted: true,
                rev: 2,
                ..stored[1].clone()
            },
        ]
    );
    // The direct pair is still unique, and the sequencer continues after seq 2.
    assert!(matches!(
        store.create_room(&direct("carol", "alice", 1)).await,
        Err(Error::Duplicate(_))
    ));
    let (next, fresh) = store
        .sequence_message(new_message(&room.id, "dave", "d1"))
        .await
        .unwrap();
    assert!(fresh);
    assert_eq!(next.seq, 3);
}

/// A message as the socket service hands it to the embedded sequencer.
fn new_message(room_id: &str, sender: &str, client_id: &str) -> NewMessage {
    NewMessage {
        id: new_id(),
        room_id: room_id.to_owned(),
        sender_id: sender.to_owned(),
        client_id: client_id.to_owned(),
        body: format!("{sender} says {client_id}"),
        attachments: Vec::new(),
        reply_to: None,
        created_at: Timestamp::from_millis(1_700_000_000_000),
        mentions: Vec::new(),
        mentions_room: false,
        thread_id: None,
    }
}

#[tokio::test]
async fn sequencer_numbers_and_answers_retries() {
    let dir = TempDir::new();
    let store = SqliteStore::open(dir.path().join("chat.db")).unwrap();
    let room = group("alice", &["bob"], 1_600_000_000_000);
    store.create_room(&room).await.unwrap();

    let first = NewMessage {
        attachments: vec![FileRef {
            id: new_id(),
            filename: "a.pdf".into(),
            content_type: "application/pdf".into(),
            size: 12,
        }],
        reply_to: Some(new_id()),
        ..new_message(&room.id, "alice", "x")
    };
    let (sent, fresh) = store.sequence_message(first.clone()).await.unwrap();
    assert!(fresh);
    assert_eq!(sent, first.clone().into_message(1));
    assert_eq!(
        store.message(&room.id, &sent.id).await.unwrap(),
        Some(sent.clone())
    );

    // A retry, even with another id and body, is answered with the original and stores nothing.
    let retry = NewMessage {
        body: "different".into(),
        ..new_message(&room.id, "alice", "x")
    };
    let (again, fresh) = store.sequence_message(retry.clone()).await.unwrap();
    assert!(!fresh);
    assert_eq!(again, sent);
    assert_eq!(store.message(&room.id, &retry.id).await.unwrap(), None);

    // The same client id from another sender is a message of its own.
    let (bobs, fresh) = store
        .sequence_message(new_message(&room.id, "bob", "x"))
        .await
        .unwrap();
    assert!(fresh);
    assert_eq!(bobs.seq, 2);
    let now = store.room(&room.id).await.unwrap().unwrap();
    assert_eq!((now.last_seq, now.last_activity), (2, bobs.created_at));
    // A message stored by insert_messages moves the sequencer on too.
    store
        .insert_messages(&[message(&room, "bob", 3)])
        .await
        .unwrap();
    let (next, _) = store
        .sequence_message(new_message(&room.id, "bob", "y"))
        .await
        .unwrap();
    assert_eq!(next.seq, 4);

    match store
        .sequence_message(new_message(&new_id(), "alice", "z"))
        .await
    {
        Err(Error::Internal(_)) => {}
        other => panic!("an unknown room should be Internal, got {other:?}"),
    }
}

/// 8 tasks × 50 messages into one room, over two handles on one file (as two processes
/// would): seq 1..=400, each once; then every message retried is answered with its original.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn concurrent_sequencing_is_contiguous() {
    const TASKS: usize = 8;
    const EACH: usize = 50;
    let dir = TempDir::new();
    let path = dir.path().join("chat.db");
    let handles = [
        SqliteStore::open(&path).unwrap(),
        SqliteStore::open(&path).unwrap(),
    ];
    let room = group("alice", &["bob"], 1_600_000_000_000);
    handles[0].create_room(&room).await.unwrap();

    let barrier = Arc::new(Barrier::new(TASKS));
    let tasks: Vec<_> = (0..TASKS)
        .map(|task| {
            let store = handles[task % 2].clone();
            let (barrier, room_id) = (barrier.clone(), room.id.clone());
            tokio::spawn(async move {
                barrier.wait().await;
                let mut sent = Vec::new();
                for i in 0..EACH {
                    let m = new_message(&room_id, &format!("user{task}"), &format!("m{i}"));
                    let (message, fresh) = store.sequence_message(m).await.expect("sequence");
                    assert!(fresh);
                    sent.push(message);
                }
                sent
            })
        })
        .collect();
    let mut sent = Vec::new();
    for task in tasks {
        sent.extend(task.await.expect("sequencing task"));
    }

    let mut numbers: Vec<u64> = sent.iter().map(|m| m.seq).collect();
    numbers.sort_unstable();
    assert_eq!(numbers, (1..=(TASKS * EACH) as u64).collect::<Vec<_>>());
    // Each task saw its own messages in increasing order.
    for task in 0..TASKS {
        let own: Vec<u64> = sent
            .iter()
            .filter(|m| m.sender_id == format!("user{task}"))
            .map(|m| m.seq)
            .collect();
        assert!(own.is_sorted(), "user{task}: {own:?}");
    }
    let stored = handles[1].room(&room.id).await.unwrap().unwrap();
    assert_eq!(stored.last_seq, (TASKS * EACH) as u64);

    for original in sent.iter().step_by(7) {
        let retry = new_message(&room.id, &original.sender_id, &original.client_id);
        let (answer, fresh) = handles[0].sequence_message(retry).await.unwrap();
        assert!(!fresh);
        assert_eq!(&answer, original);
    }
    let all = handles[0]
        .messages(&room.id, Page::After(0), 1000)
        .await
        .unwrap();
    assert_eq!(all.len(), TASKS * EACH);
}

/// A file from before the chat tables (schema version 1) gets them, and every later table, on
/// open, and keeps its users.
#[tokio::test]
async fn a_version_1_file_gains_the_chat_tables() {
    let dir = TempDir::new();
    let path = dir.path().join("chat.db");
    let alice = user("alice");
    {
        let store = SqliteStore::open(&path).expect("create");
        store.create_user(&alice).await.unwrap();
    }
    let conn = rusqlite::Connection::open(&path).unwrap();
    conn.execute_batch(
        "DROP TABLE messages; DROP TABLE room_members; DROP TABLE rooms; DROP TABLE files;
         PRAGMA user_version = 1;",
    )
    .unwrap();
    drop(conn);

    let store = SqliteStore::open(&path).expect("migrate");
    assert_eq!(
        store.user_by_username("alice").await.unwrap(),
        Some(alice.clone())
    );
    let room = group("alice", &[], 1_600_000_000_000);
    store.create_room(&room).await.unwrap();
    assert_eq!(store.room(&room.id).await.unwrap(), Some(room.clone()));
    let file = FileRecord {
        id: new_id(),
        room_id: room.id.clone(),
        uploader_id: alice.id.clone(),
        filename: "a.txt".into(),
        content_type: "text/plain".into(),
        size: 1,
        state: FileState::Pending,
        object_key: "files/a".into(),
        message_id: None,
        created_at: Timestamp::now(),
    };
    store.create_file(&file).await.unwrap();
    assert_eq!(store.file(&file.id).await.unwrap(), Some(file));
    let conn = rusqlite::Connection::open(&path).unwrap();
    let version: i64 = conn
        .pragma_query_value(None, "user_version", |row| row.get(0))
        .unwrap();
    // Every batch after the first was applied.
    assert_eq!(version, store::sqlite::SCHEMA_VERSION);
    assert!(version > 1);
}

/// Search the messages of `room` for `q`, as the rooms API does.
async fn search_bodies(store: &SqliteStore, room: &str, q: &str) -> Vec<String> {
    let found = store::search::find(
        store,
        store::SearchQuery {
            text: store::search::text::tokens(q),
            rooms: vec![room.to_owned()],
            before: None,
            limit: 20,
        },
    )
    .await
    .unwrap();
    found.messages.into_iter().map(|m| m.body).collect()
}

#[tokio::test]
async fn a_file_from_before_search_has_its_messages_indexed_when_opened() {
    let dir = TempDir::new();
    let path = dir.path().join("chat.db");
    let room = group("alice", &[], 1_600_000_000_000);
    {
        let store = SqliteStore::open(&path).expect("create");
        store.create_room(&room).await.unwrap();
        let old = Message {
            body: "written before search existed".into(),
            ..message(&room, "alice", 1)
        };
        store.insert_messages(&[old]).await.unwrap();
    }
    let conn = rusqlite::Connection::open(&path).unwrap();
    conn.execute_batch("DROP TABLE message_search; PRAGMA user_version = 10;")
        .unwrap();
    drop(conn);

    let store = SqliteStore::open(&path).expect("migrate");
    assert_eq!(
        search_bodies(&store, &room.id, "befo exist").await,
        ["written before search existed"]
    );
}

#[tokio::test]
async fn reindex_repairs_an_index_that_lost_its_rows() {
    let dir = TempDir::new();
    let path = dir.path().join("chat.db");
    let store = SqliteStore::open(&path).expect("create");
    let room = group("alice", &[], 1_600_000_000_000);
    store.create_room(&room).await.unwrap();
    let kept = Message {
        body: "kept in the index".into(),
        ..message(&room, "alice", 1)
    };
    store.insert_messages(&[kept]).await.unwrap();
    let conn = rusqlite::Connection::open(&path).unwrap();
    conn.execute("DELETE FROM message_search", []).unwrap();
    drop(conn);
    assert!(search_bodies(&store, &room.id, "kept").await.is_empty());

    assert_eq!(store::SearchStore::reindex(&store).await.unwrap(), 1);
    assert_eq!(
        search_bodies(&store, &room.id, "kept").await,
        ["kept in the index"]
    );
}
