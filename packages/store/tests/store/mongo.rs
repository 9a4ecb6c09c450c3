//! What only the MongoDB store has: a server that can be down, many instances on one
//! database, and documents another writer may have shaped differently.

use std::time::{Duration, Instant};

use models::Timestamp;
use mongodb::bson::{Bson, doc};
use store::{AuthStore, ChatStore, Error, MongoStore};

use crate::{drop_database, group, message, mongo_url, unique_database, user};

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

/// A `deleted` flag stored as a number (how nx-27017 hands back a `$set` `true`) reads as the
/// boolean it stands for, and such a message still counts as deleted for edits.
#[tokio::test]
async fn a_numeric_deleted_flag_reads_as_a_boolean() {
    let url = mongo_url();
    let database = unique_database();
    let store = MongoStore::connect(&url, &database).await.expect("connect");
    let room = group("alice", &[], 1_600_000_000_000);
    store.create_room(&room).await.unwrap();
    let [gone, kept] = [message(&room, "alice", 1), message(&room, "alice", 2)];
    store
        .insert_messages(&[gone.clone(), kept.clone()])
        .await
        .unwrap();
    let messages = mongodb::Client::with_uri_str(&url)
        .await
        .unwrap()
        .database(&database)
        .collection::<mongodb::bson::Document>("messages");
    let set = |id: &str, flag: Bson| {
        messages.update_one(doc! { "_id": id }, doc! { "$set": { "deleted": flag } })
    };
    set(&gone.id, Bson::Int32(1)).await.unwrap();
    set(&kept.id, Bson::Int64(0)).await.unwrap();

    let read_gone = store.message(&room.id, &gone.id).await;
    let read_kept = store.message(&room.id, &kept.id).await;
    let edited = store
        .apply_change(&models::chat::Message {
            body: "revived".into(),
            edited_at: Some(Timestamp::now()),
            rev: 1,
            ..gone.clone()
        })
        .await;
    drop_database(&url, &database).await;

    assert!(read_gone.unwrap().unwrap().deleted);
    assert!(!read_kept.unwrap().unwrap().deleted);
    assert!(!edited.unwrap(), "an edit applied to a deleted message");
}
