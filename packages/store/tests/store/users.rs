//! Users: creation, lookup, uniqueness of the username, prefix search.

use std::sync::Arc;

use store::{AuthStore, Error, UserRecord};

use crate::{new_id, on_mongo, on_sqlite, user};

async fn create_and_lookup(store: Arc<dyn AuthStore>) {
    store.ping().await.expect("ping");
    let alice = user("alice");
    let bob = user("bob");
    store.create_user(&alice).await.expect("create alice");
    store.create_user(&bob).await.expect("create bob");

    assert_eq!(
        store.user_by_username("alice").await.unwrap(),
        Some(alice.clone())
    );
    assert_eq!(
        store.user_by_id(&alice.id).await.unwrap(),
        Some(alice.clone())
    );
    assert_eq!(store.user_by_id(&bob.id).await.unwrap(), Some(bob));
    // Exact match only: no prefix, no other user.
    assert_eq!(store.user_by_username("alic").await.unwrap(), None);
    assert_eq!(store.user_by_username("carol").await.unwrap(), None);
    assert_eq!(store.user_by_id(&new_id()).await.unwrap(), None);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn create_and_lookup_on_sqlite() {
    on_sqlite(create_and_lookup).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn create_and_lookup_on_mongo() {
    on_mongo(create_and_lookup).await;
}

async fn duplicate_username_is_refused(store: Arc<dyn AuthStore>) {
    let alice = user("alice");
    store.create_user(&alice).await.expect("create alice");

    let impostor = UserRecord {
        display_name: "Impostor".into(),
        ..user("alice")
    };
    match store.create_user(&impostor).await {
        Err(Error::Duplicate(_)) => {}
        other => panic!("second 'alice' should be Duplicate, got {other:?}"),
    }
    // The first one is untouched and the second left no trace.
    assert_eq!(
        store.user_by_username("alice").await.unwrap(),
        Some(alice.clone())
    );
    assert_eq!(store.user_by_id(&impostor.id).await.unwrap(), None);

    // Reusing an id is refused the same way.
    let same_id = UserRecord {
        username: "alicia".into(),
        ..alice.clone()
    };
    match store.create_user(&same_id).await {
        Err(Error::Duplicate(_)) => {}
        other => panic!("reused id should be Duplicate, got {other:?}"),
    }
    assert_eq!(store.user_by_username("alicia").await.unwrap(), None);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn duplicate_username_is_refused_on_sqlite() {
    on_sqlite(duplicate_username_is_refused).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn duplicate_username_is_refused_on_mongo() {
    on_mongo(duplicate_username_is_refused).await;
}

async fn search_by_prefix(store: Arc<dyn AuthStore>) {
    let names = [
        "alice", "al", "albert", "alfred", "bal", "am", "a_b", "axb", "al.x", "al-y", "al9",
    ];
    for name in names {
        store.create_user(&user(name)).await.expect("create user");
    }
    let search = async |prefix: &str, limit: usize| -> Vec<String> {
        let found = store.search_users(prefix, limit).await.expect("search");
        found.into_iter().map(|u| u.username).collect()
    };

    // Byte order: '-' < '.' < digits < '_' < letters. No "bal", no "am".
    assert_eq!(
        search("al", 10).await,
        ["al", "al-y", "al.x", "al9", "albert", "alfred", "alice"]
    );
    assert_eq!(search("al", 3).await, ["al", "al-y", "al.x"]);
    assert_eq!(search("b", 10).await, ["bal"]);
    assert_eq!(search("alice", 10).await, ["alice"]);
    assert!(search("alicea", 10).await.is_empty());
    assert!(search("al", 0).await.is_empty(), "limit 0 means none");
    // The punctuation allowed in usernames is literal, never a wildcard.
    assert_eq!(search("a_", 10).await, ["a_b"]);
    assert!(search("a%", 10).await.is_empty());
    // An empty prefix lists everyone, in order.
    assert_eq!(search("", 3).await, ["a_b", "al", "al-y"]);
    assert_eq!(search("", 100).await.len(), names.len());

    // Whole records come back, not just names.
    let found = store.search_users("albert", 1).await.unwrap();
    let albert = store.user_by_username("albert").await.unwrap();
    assert_eq!(found.into_iter().next(), albert);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn search_by_prefix_on_sqlite() {
    on_sqlite(search_by_prefix).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn search_by_prefix_on_mongo() {
    on_mongo(search_by_prefix).await;
}
