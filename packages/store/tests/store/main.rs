//! Conformance suite of the store traits: each case is one `async fn(Arc<dyn Trait>)` (an
//! [`AuthStore`], a [`ChatStore`], a [`PushStore`] or a [`FileStore`]), run once on
//! [`SqliteStore`] and once on [`MongoStore`] by a pair of tests named `<case>_on_sqlite` and
//! `<case>_on_mongo`, so `cargo test -p store on_mongo` picks one side.
//!
//! Every test gets a fresh SQLite file in its own temporary directory and a fresh MongoDB
//! database (`store_test_<uuid>`), dropped afterwards. The MongoDB server comes from
//! `CHAT_TEST_MONGODB_URL`; without it the MongoDB tests fail rather than skip.
//!
//! - [`users`], [`tokens`]: the shared [`AuthStore`] cases.
//! - [`rooms`], [`messages`]: the shared [`ChatStore`] cases.
//! - [`push`]: the shared [`store::PushStore`] cases.
//! - [`files`]: the shared [`FileStore`] cases.
//! - [`search`]: the shared [`store::SearchStore`] cases, with the [`ChatStore`] writes that
//!   feed them.
//! - [`sqlite`], [`mongo`]: what only one implementation has (reopening a file, the embedded
//!   sequencer, a down server).

mod files;
mod messages;
mod mongo;
mod push;
mod rooms;
mod search;
mod sqlite;
mod tokens;
mod users;

use std::future::Future;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use models::Timestamp;
use models::chat::{FileRef, Message, RoomKind};
use store::{
    AuthStore, ChatStore, FileStore, MongoStore, NewRefreshToken, PushStore, RoomRecord,
    SqliteStore, UserRecord,
};
use uuid::Uuid;

/// The `now` the cases consume tokens at, so expiry is exact rather than racing the clock.
fn now() -> Timestamp {
    Timestamp::from_millis(1_800_000_000_000)
}

/// A store trait the cases are written against: how each implementation becomes one.
trait Erased {
    fn sqlite(store: SqliteStore) -> Arc<Self>;
    fn mongo(store: MongoStore) -> Arc<Self>;
}

impl Erased for dyn AuthStore {
    fn sqlite(store: SqliteStore) -> Arc<Self> {
        Arc::new(store)
    }
    fn mongo(store: MongoStore) -> Arc<Self> {
        Arc::new(store)
    }
}

impl Erased for dyn ChatStore {
    fn sqlite(store: SqliteStore) -> Arc<Self> {
        Arc::new(store)
    }
    fn mongo(store: MongoStore) -> Arc<Self> {
        Arc::new(store)
    }
}

impl Erased for dyn FileStore {
    fn sqlite(store: SqliteStore) -> Arc<Self> {
        Arc::new(store)
    }
    fn mongo(store: MongoStore) -> Arc<Self> {
        Arc::new(store)
    }
}

impl Erased for dyn PushStore {
    fn sqlite(store: SqliteStore) -> Arc<Self> {
        Arc::new(store)
    }
    fn mongo(store: MongoStore) -> Arc<Self> {
        Arc::new(store)
    }
}

/// Runs `case` on a fresh SQLite file.
async fn on_sqlite<S, F, Fut>(case: F)
where
    S: Erased + ?Sized,
    F: FnOnce(Arc<S>) -> Fut,
    Fut: Future<Output = ()>,
{
    let dir = TempDir::new();
    let store = SqliteStore::open(dir.path().join("chat.db")).expect("open the SQLite store");
    case(S::sqlite(store)).await;
}

/// Runs `case` on a fresh MongoDB database, and drops the database afterwards, pass or fail.
async fn on_mongo<S, F, Fut>(case: F)
where
    S: Erased + ?Sized,
    F: FnOnce(Arc<S>) -> Fut,
    Fut: Future<Output = ()> + Send + 'static,
{
    let url = mongo_url();
    let database = unique_database();
    let store = MongoStore::connect(&url, &database)
        .await
        .unwrap_or_else(|e| panic!("connect to MongoDB at {url}: {e}"));
    // On a task, so a failed assertion still lets the database be dropped.
    let outcome = tokio::spawn(case(S::mongo(store))).await;
    drop_database(&url, &database).await;
    if let Err(e) = outcome {
        std::panic::resume_unwind(e.into_panic());
    }
}

/// The test server's URL; a missing one is a failure, never a skip.
fn mongo_url() -> String {
    std::env::var("CHAT_TEST_MONGODB_URL").unwrap_or_else(|_| {
        panic!(
            "CHAT_TEST_MONGODB_URL is not set; run scripts/test, which starts a MongoDB-wire server"
        )
    })
}

fn unique_database() -> String {
    format!("store_test_{}", Uuid::now_v7().simple())
}

async fn drop_database(url: &str, database: &str) {
    let client = mongodb::Client::with_uri_str(url)
        .await
        .expect("MongoDB client for clean-up");
    if let Err(e) = client.database(database).drop().await {
        eprintln!("could not drop test database {database}: {e}");
    }
}

/// A fresh directory under the system temp dir, removed on drop (also when a test panics).
struct TempDir(PathBuf);

impl TempDir {
    fn new() -> Self {
        let path = std::env::temp_dir().join(format!("store-test-{}", Uuid::now_v7().simple()));
        std::fs::create_dir_all(&path).expect("create a temporary directory");
        TempDir(path)
    }

    fn path(&self) -> &Path {
        &self.0
    }
}

impl Drop for TempDir {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

fn new_id() -> String {
    Uuid::now_v7().to_string()
}

fn user(username: &str) -> UserRecord {
    UserRecord {
        id: new_id(),
        username: username.to_owned(),
        display_name: format!("{username} (display)"),
        password_hash: "$argon2id$v=19$m=19456,t=2,p=1$c2FsdHNhbHQ$aGFzaGhhc2hoYXNoaGFzaA".into(),
        created_at: Timestamp::from_millis(1_700_000_000_123),
    }
}

/// A token of `family_id` for `user`, with a random 64-hex-digit hash like a real SHA-256.
fn token(user: &UserRecord, family_id: &str, expires_at: Timestamp) -> NewRefreshToken {
    NewRefreshToken {
        hash: format!("{}{}", Uuid::now_v7().simple(), Uuid::now_v7().simple()),
        family_id: family_id.to_owned(),
        user_id: user.id.clone(),
        expires_at,
    }
}

/// An expiry comfortably after [`now`].
fn later() -> Timestamp {
    Timestamp::from_millis(now().millis() + 30 * 24 * 3600 * 1000)
}

/// A group room created by `owner` with `members` (the owner first), at `created_at` millis.
fn group(owner: &str, members: &[&str], created_at: i64) -> RoomRecord {
    RoomRecord {
        id: new_id(),
        kind: RoomKind::Group,
        name: format!("{owner}'s group"),
        created_by: owner.to_owned(),
        created_at: Timestamp::from_millis(created_at),
        direct_key: None,
        members: std::iter::once(owner)
            .chain(members.iter().copied())
            .map(str::to_owned)
            .collect(),
        last_seq: 0,
        last_activity: Timestamp::from_millis(created_at),
        rev: 0,
    }
}

/// The direct room of `a` and `b`, keyed as the services key it.
fn direct(a: &str, b: &str, created_at: i64) -> RoomRecord {
    let mut pair = [a, b];
    pair.sort_unstable();
    RoomRecord {
        id: new_id(),
        kind: RoomKind::Direct,
        name: String::new(),
        created_by: a.to_owned(),
        created_at: Timestamp::from_millis(created_at),
        direct_key: Some(pair.join(":")),
        members: vec![a.to_owned(), b.to_owned()],
        last_seq: 0,
        last_activity: Timestamp::from_millis(created_at),
        rev: 0,
    }
}

/// Message `seq` of `room`, sent by `sender` with client id `c<seq>`, created at
/// `1_700_000_000_000 + seq` millis, with one attachment.
fn message(room: &RoomRecord, sender: &str, seq: u64) -> Message {
    Message {
        id: new_id(),
        room_id: room.id.clone(),
        seq,
        sender_id: sender.to_owned(),
        client_id: format!("c{seq}"),
        body: format!("message {seq}"),
        attachments: vec![FileRef {
            id: new_id(),
            filename: format!("photo-{seq}.jpg"),
            content_type: "image/jpeg".into(),
            size: 1000 + seq,
        }],
        created_at: Timestamp::from_millis(1_700_000_000_000 + seq as i64),
        ..Message::default()
    }
}
