//! What only the MongoDB store has: a server that can be down, and many instances on one
//! database.

use std::time::{Duration, Instant};

use store::{AuthStore, Error, MongoStore};

use crate::{drop_database, mongo_url, unique_database, user};

#[tokio::test]
async fn a_down_server_is_unavailable_quickly() {
    // A loopback port nobody listens on.
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .expect("pick a free port")
        .port();
    let started = Instant::now();
    let outcome =
        MongoStore::connect(&format!("mongodb://127.0.0.1:{port}"), "store_test_down").await;
    let waited = started.elapsed();
    match outcome {
        Err(Error::Unavailable(_)) => {}
        other => panic!("expected Unavailable, got {other:?}"),
    }
    // The default server-selection timeout is 5 s, not the driver's 30 s.
    assert!(waited < Duration::from_secs(15), "took {waited:?}");
}

/// Every instance of a service connects and creates the indexes; the second must not fail on
/// indexes that exist, and must see the first one's data and constraints.
#[tokio::test]
async fn two_instances_share_one_database() {
    let url = mongo_url();
    let database = unique_database();
    let first = MongoStore::connect(&url, &database).await.expect("first");
    let second = MongoStore::connect(&url, &database).await.expect("second");

    let alice = user("alice");
    first.create_user(&alice).await.unwrap();
    let seen = second.user_by_username("alice").await;
    let duplicate = second.create_user(&user("alice")).await;
    drop_database(&url, &database).await;

    assert_eq!(seen.unwrap(), Some(alice));
    assert!(
        matches!(duplicate, Err(Error::Duplicate(_))),
        "{duplicate:?}"
    );
}
