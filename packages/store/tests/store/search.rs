//! Message search: the matching rules, rooms, edits and deletes, paging and the index writes'
//! order-insensitivity, through [`store::search::find`] as the rooms API calls it.
//!
//! Each case writes messages as its mode does: the store's own writes, then the search
//! consumer's index writes ([`SearchStore::index_messages`], [`SearchStore::unindex_message`]),
//! which the embedded store has already done in the message's transaction (there they only
//! repair a row) and MongoDB's index needs.

use std::sync::Arc;

use models::chat::Message;
use store::search::{self, SearchCursor, SearchQuery, text};
use store::{ChatStore, RoomRecord, SearchStore};

use crate::{Erased, group, message, on_mongo, on_sqlite};

/// Both traits of one store.
pub trait Searchable: ChatStore + SearchStore {}
impl<T: ChatStore + SearchStore> Searchable for T {}

impl Erased for dyn Searchable {
    fn sqlite(store: store::SqliteStore) -> Arc<Self> {
        Arc::new(store)
    }
    fn mongo(store: store::MongoStore) -> Arc<Self> {
        Arc::new(store)
    }
}

/// A room of alice and bob with one message per body, in order (seq 1, 2, …), stored and
/// indexed.
async fn room_with(store: &dyn Searchable, bodies: &[&str]) -> (RoomRecord, Vec<Message>) {
    let room = group("alice", &["bob"], 1_600_000_000_000);
    store.create_room(&room).await.unwrap();
    let messages: Vec<Message> = bodies
        .iter()
        .enumerate()
        .map(|(i, body)| Message {
            body: body.to_string(),
            ..message(&room, "alice", i as u64 + 1)
        })
        .collect();
    store.insert_messages(&messages).await.unwrap();
    store.index_messages(&messages).await.unwrap();
    (room, messages)
}

/// The bodies `q` finds in `rooms`, newest first (one page of 50).
async fn bodies(store: &dyn Searchable, rooms: &[&RoomRecord], q: &str) -> Vec<String> {
    page(store, rooms, q, None, 50)
        .await
        .0
        .into_iter()
        .map(|m| m.body)
        .collect()
}

async fn page(
    store: &dyn Searchable,
    rooms: &[&RoomRecord],
    q: &str,
    before: Option<SearchCursor>,
    limit: usize,
) -> (Vec<Message>, Option<SearchCursor>) {
    let found = search::find(
        store,
        SearchQuery {
            text: text::tokens(q),
            rooms: rooms.iter().map(|r| r.id.clone()).collect(),
            before,
            limit,
        },
    )
    .await
    .unwrap();
    (found.messages, found.next)
}

async fn matching_rules(store: Arc<dyn Searchable>) {
    let (room, _) = room_with(
        &*store,
        &[
            "Café crème brûlée",
            "the CAFETERIA is open",
            "東京タワーへ行く",
            "nothing here",
            "a safe cafe",
            "Supercalifragilisticexpialidocious!",
            "中文abc",
        ],
    )
    .await;
    let r = &[&room];
    // Prefixes, whatever the case and accents, newest first.
    assert_eq!(
        bodies(&*store, r, "caf").await,
        ["a safe cafe", "the CAFETERIA is open", "Café crème brûlée"]
    );
    assert_eq!(bodies(&*store, r, "CRÈME").await, ["Café crème brûlée"]);
    assert_eq!(bodies(&*store, r, "Cafe").await.len(), 3);
    // A word matches from its start only.
    assert!(bodies(&*store, r, "afe").await.is_empty());
    // Every word is needed, in any order.
    assert_eq!(bodies(&*store, r, "brû caf").await, ["Café crème brûlée"]);
    assert!(bodies(&*store, r, "caf tea").await.is_empty());
    // Scripts without spaces match inside.
    assert_eq!(bodies(&*store, r, "京タ").await, ["東京タワーへ行く"]);
    assert_eq!(bodies(&*store, r, "へ").await, ["東京タワーへ行く"]);
    assert!(bodies(&*store, r, "京行").await.is_empty());
    assert_eq!(bodies(&*store, r, "中文 ab").await, ["中文abc"]);
    // A word longer than the indexed prefixes is still checked in full.
    assert_eq!(
        bodies(&*store, r, "supercalifragilisticexp").await,
        ["Supercalifragilisticexpialidocious!"]
    );
    assert!(
        bodies(&*store, r, "supercalifragilisticexx")
            .await
            .is_empty()
    );
}

async fn only_the_rooms_asked_for(store: Arc<dyn Searchable>) {
    let (ours, _) = room_with(&*store, &["lunch at noon?"]).await;
    let (theirs, _) = room_with(&*store, &["lunch is over"]).await;
    assert_eq!(bodies(&*store, &[&ours], "lunch").await, ["lunch at noon?"]);
    assert_eq!(
        bodies(&*store, &[&ours, &theirs], "lunch").await,
        ["lunch is over", "lunch at noon?"]
    );
    assert!(bodies(&*store, &[], "lunch").await.is_empty());
}

async fn edits_are_found_by_their_new_text_and_deletes_never(store: Arc<dyn Searchable>) {
    let (room, messages) = room_with(&*store, &["meet at the station", "station closed"]).await;
    let r = &[&room];
    let edited = Message {
        body: "meet at the harbour".into(),
        rev: 1,
        ..messages[0].clone()
    };
    assert!(store.apply_change(&edited).await.unwrap());
    store
        .index_messages(std::slice::from_ref(&edited))
        .await
        .unwrap();
    assert_eq!(bodies(&*store, r, "harb").await, ["meet at the harbour"]);
    assert_eq!(bodies(&*store, r, "station").await, ["station closed"]);

    // The original redelivered after its edit changes nothing.
    store.index_messages(&messages[..1]).await.unwrap();
    assert_eq!(bodies(&*store, r, "harb").await, ["meet at the harbour"]);
    assert_eq!(bodies(&*store, r, "station").await, ["station closed"]);

    assert!(
        store
            .apply_delete(&room.id, &messages[1].id, 2)
            .await
            .unwrap()
    );
    store.unindex_message(&messages[1].id).await.unwrap();
    assert!(bodies(&*store, r, "station").await.is_empty());
    // Neither the message nor its edits come back from a redelivery.
    store.index_messages(&messages[1..]).await.unwrap();
    assert!(bodies(&*store, r, "closed").await.is_empty());
}

async fn pages_go_newest_first_without_repeats(store: Arc<dyn Searchable>) {
    let bodies_in: Vec<String> = (1..=25)
        .map(|i| {
            if i % 5 == 0 {
                format!("other {i}")
            } else {
                format!("report {i}")
            }
        })
        .collect();
    let refs: Vec<&str> = bodies_in.iter().map(String::as_str).collect();
    let (room, _) = room_with(&*store, &refs).await;
    let mut seen = Vec::new();
    let mut before = None;
    let mut pages = 0;
    loop {
        let (messages, next) = page(&*store, &[&room], "rep", before, 7).await;
        assert!(messages.len() <= 7);
        seen.extend(messages.into_iter().map(|m| m.seq));
        pages += 1;
        match next {
            Some(cursor) => before = Some(cursor),
            None => break,
        }
    }
    let expected: Vec<u64> = (1..=25).rev().filter(|i| i % 5 != 0).collect();
    assert_eq!(seen, expected);
    assert_eq!(pages, 3, "20 matches in pages of 7");
}

async fn reindex_rebuilds_from_the_messages(store: Arc<dyn Searchable>) {
    let (room, messages) = room_with(&*store, &["alpha one", "beta two", "alpha three"]).await;
    assert!(
        store
            .apply_delete(&room.id, &messages[2].id, 1)
            .await
            .unwrap()
    );
    assert_eq!(store.reindex().await.unwrap(), 2);
    assert_eq!(bodies(&*store, &[&room], "alp").await, ["alpha one"]);
    assert_eq!(bodies(&*store, &[&room], "two").await, ["beta two"]);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn matching_rules_on_sqlite() {
    on_sqlite(matching_rules).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn matching_rules_on_mongo() {
    on_mongo(matching_rules).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn only_the_rooms_asked_for_on_sqlite() {
    on_sqlite(only_the_rooms_asked_for).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn only_the_rooms_asked_for_on_mongo() {
    on_mongo(only_the_rooms_asked_for).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn edits_are_found_by_their_new_text_and_deletes_never_on_sqlite() {
    on_sqlite(edits_are_found_by_their_new_text_and_deletes_never).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn edits_are_found_by_their_new_text_and_deletes_never_on_mongo() {
    on_mongo(edits_are_found_by_their_new_text_and_deletes_never).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn pages_go_newest_first_without_repeats_on_sqlite() {
    on_sqlite(pages_go_newest_first_without_repeats).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn pages_go_newest_first_without_repeats_on_mongo() {
    on_mongo(pages_go_newest_first_without_repeats).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn reindex_rebuilds_from_the_messages_on_sqlite() {
    on_sqlite(reindex_rebuilds_from_the_messages).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn reindex_rebuilds_from_the_messages_on_mongo() {
    on_mongo(reindex_rebuilds_from_the_messages).await;
}
