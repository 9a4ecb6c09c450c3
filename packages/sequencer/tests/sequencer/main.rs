//! Conformance suite of [`Sequencer`]: each shared case is one `async fn(Rig)`, run once on
//! [`StoreSequencer`] and once on [`RedisSequencer`] by a pair of tests named
//! `<case>_on_store` and `<case>_on_redis`, so `cargo test -p sequencer on_redis` picks one side.
//!
//! Every test gets a fresh SQLite store in its own temporary directory and, on Redis, a fresh
//! key prefix (`sequencer-test-<uuid>:`) whose keys are deleted afterwards. Redis comes from
//! `CHAT_TEST_REDIS_URL` (set by `scripts/test`); without it the Redis tests fail rather than
//! skip.
//!
//! - [`cases`]: what both implementations promise.
//! - [`changes`]: what both promise of changes to existing messages (`rev`).
//! - [`recovery`]: Redis losing its data while the writer lags.
//! - [`redis`]: what only the Redis one has (the recent log, its cap, the floor after Redis lost
//!   its data, a Redis that stops answering).

mod cases;
mod changes;
mod recovery;
mod redis;

use std::future::Future;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use fred::prelude::{Client, LuaInterface};
use models::Timestamp;
use models::chat::{FileRef, RoomKind};
use sequencer::{RedisSequencer, RedisSequencerConfig, Sequencer, StoreSequencer};
use store::{ChatStore, NewMessage, RoomRecord, SqliteStore};
use uuid::Uuid;

/// What a case runs against: a store with rooms, and as many sequencer nodes as it asks for.
pub struct Rig {
    pub store: SqliteStore,
    backend: Backend,
    _dir: TempDir,
}

enum Backend {
    Store,
    Redis {
        url: String,
        prefix: String,
        config: RedisSequencerConfig,
    },
}

impl Rig {
    /// One more sequencer node over the same store (and, on Redis, the same keys with a
    /// connection of its own), as another process would run it.
    pub async fn node(&self) -> Arc<dyn Sequencer> {
        match &self.backend {
            Backend::Store => Arc::new(StoreSequencer::new(self.store.clone())),
            Backend::Redis {
                url,
                prefix,
                config,
            } => Arc::new(RedisSequencer::new(
                connect(url).await,
                prefix.clone(),
                Arc::new(self.store.clone()),
                *config,
            )),
        }
    }

    /// A Redis node whose connection goes through `url` (a [`testkit::Proxy`]); panics on the
    /// store backend.
    pub async fn redis_node_via(&self, url: &str) -> Arc<dyn Sequencer> {
        let Backend::Redis { prefix, config, .. } = &self.backend else {
            panic!("a Redis-only case ran on the store backend");
        };
        Arc::new(RedisSequencer::new(
            connect(url).await,
            prefix.clone(),
            Arc::new(self.store.clone()),
            *config,
        ))
    }

    /// A plain client on the test Redis and the prefix of this test's keys, to look at or
    /// break what the sequencer stored; panics on the store backend.
    pub async fn redis(&self) -> (Client, String) {
        let Backend::Redis { url, prefix, .. } = &self.backend else {
            panic!("a Redis-only case ran on the store backend");
        };
        (connect(url).await, prefix.clone())
    }

    /// A new group room, stored.
    pub async fn room(&self) -> RoomRecord {
        let room = RoomRecord {
            id: new_id(),
            kind: RoomKind::Group,
            name: "sequenced".into(),
            created_by: "alice".into(),
            created_at: Timestamp::from_millis(T0),
            direct_key: None,
            members: vec!["alice".into(), "bob".into()],
            last_seq: 0,
            last_activity: Timestamp::from_millis(T0),
            rev: 0,
        };
        self.store.create_room(&room).await.expect("create room");
        room
    }
}

const T0: i64 = 1_700_000_000_000;

/// Runs `case` on [`StoreSequencer`].
pub async fn on_store<F, Fut>(case: F)
where
    F: FnOnce(Rig) -> Fut,
    Fut: Future<Output = ()>,
{
    let dir = TempDir::new();
    let store = SqliteStore::open(dir.path().join("chat.db")).expect("open the SQLite store");
    case(Rig {
        store,
        backend: Backend::Store,
        _dir: dir,
    })
    .await;
}

/// Runs `case` on [`RedisSequencer`] with the default configuration.
pub async fn on_redis<F, Fut>(case: F)
where
    F: FnOnce(Rig) -> Fut,
    Fut: Future<Output = ()> + Send + 'static,
{
    on_redis_with(RedisSequencerConfig::default(), case).await;
}

/// Runs `case` on [`RedisSequencer`] under a fresh prefix, whose keys are deleted afterwards,
/// pass or fail.
pub async fn on_redis_with<F, Fut>(config: RedisSequencerConfig, case: F)
where
    F: FnOnce(Rig) -> Fut,
    Fut: Future<Output = ()> + Send + 'static,
{
    let url = redis_url();
    let prefix = format!("sequencer-test-{}:", Uuid::now_v7().simple());
    let dir = TempDir::new();
    let store = SqliteStore::open(dir.path().join("chat.db")).expect("open the SQLite store");
    let rig = Rig {
        store,
        backend: Backend::Redis {
            url: url.clone(),
            prefix: prefix.clone(),
            config,
        },
        _dir: dir,
    };
    // On a task, so a failed assertion still lets the keys be deleted.
    let outcome = tokio::spawn(case(rig)).await;
    delete_keys(&connect(&url).await, &prefix).await;
    if let Err(e) = outcome {
        std::panic::resume_unwind(e.into_panic());
    }
}

/// The test server's URL; a missing one is a failure, never a skip.
pub fn redis_url() -> String {
    std::env::var("CHAT_TEST_REDIS_URL").unwrap_or_else(|_| {
        panic!("CHAT_TEST_REDIS_URL is not set; run scripts/test, which starts Redis")
    })
}

pub async fn connect(url: &str) -> Client {
    service_kit::redis::connect(url)
        .await
        .unwrap_or_else(|e| panic!("connect to Redis at {url}: {e}"))
}

/// Deletes every key under `prefix` (the prefix is a UUID, so nothing else matches).
pub async fn delete_keys(client: &Client, prefix: &str) {
    let script = "local n = 0
        for _, k in ipairs(redis.call('KEYS', ARGV[1])) do n = n + redis.call('DEL', k) end
        return n";
    let deleted: Result<i64, _> = client
        .eval(script, Vec::<String>::new(), format!("{prefix}*"))
        .await;
    if let Err(e) = deleted {
        eprintln!("could not delete the test keys under {prefix}: {e}");
    }
}

pub fn new_id() -> String {
    Uuid::now_v7().to_string()
}

/// A message of `sender` into `room` with this client id; every third one has an attachment
/// and replies to something, the others have neither (an empty list must survive the log).
pub fn message(room: &RoomRecord, sender: &str, client_id: &str) -> NewMessage {
    let n = client_id.bytes().map(u64::from).sum::<u64>();
    let rich = n % 3 == 0;
    NewMessage {
        id: new_id(),
        room_id: room.id.clone(),
        sender_id: sender.to_owned(),
        client_id: client_id.to_owned(),
        body: format!("hello from {sender} ({client_id})"),
        attachments: if rich {
            vec![FileRef {
                id: new_id(),
                filename: "cat.png".into(),
                content_type: "image/png".into(),
                size: 1234,
            }]
        } else {
            Vec::new()
        },
        reply_to: rich.then(new_id),
        created_at: Timestamp::from_millis(T0 + i64::try_from(n).unwrap_or(0)),
        mentions: Vec::new(),
        mentions_room: false,
        thread_id: None,
    }
}

/// A fresh directory under the system temp dir, removed on drop (also when a test panics).
struct TempDir(PathBuf);

impl TempDir {
    fn new() -> Self {
        let path = std::env::temp_dir().join(format!("sequencer-test-{}", Uuid::now_v7().simple()));
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
