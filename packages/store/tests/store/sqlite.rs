//! What only the SQLite file has: it outlives the process, and it may be opened twice.

use std::sync::Arc;

use store::{AuthStore, Consumed, Error, SqliteStore};

use crate::{TempDir, later, new_id, now, token, user};

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
