//! Conformance suite of [`Presence`]: each shared case is one `async fn(Rig)`, run once on
//! [`LocalPresence`] and once on [`RedisPresence`] by a pair of tests named `<case>_on_local`
//! and `<case>_on_redis`, so `cargo test -p presence on_redis` picks one side.
//!
//! On Redis every test uses a fresh key prefix (`presence-test-<uuid>:`), whose keys are
//! deleted afterwards, and every node its own connection and node id. Redis comes from
//! `CHAT_TEST_REDIS_URL` (set by `scripts/test`); without it the Redis tests fail rather than
//! skip.
//!
//! - [`cases`]: what both implementations promise.
//! - [`redis`]: what only the Redis one has (dead nodes reaped, a node taken for dead coming
//!   back, a Redis that stops answering).

mod cases;
mod redis;

use std::future::Future;
use std::sync::Arc;
use std::time::Duration;

use fred::prelude::{Client, LuaInterface};
use presence::{LocalPresence, Presence, RedisPresence, RedisPresenceConfig};
use tokio_util::sync::CancellationToken;
use uuid::Uuid;

/// What a case runs against: as many presence nodes as it asks for.
pub struct Rig {
    backend: Backend,
}

enum Backend {
    /// One process: every "node" is the same instance.
    Local(Arc<LocalPresence>),
    Redis {
        url: String,
        prefix: String,
    },
}

impl Rig {
    /// One more node. On Redis, a [`RedisPresence`] with its own connection and node id (and
    /// the default heartbeat), running until the returned value is dropped.
    pub async fn node(&self) -> Arc<dyn Presence> {
        match &self.backend {
            Backend::Local(local) => Arc::clone(local) as Arc<dyn Presence>,
            Backend::Redis { .. } => Arc::new(self.redis_node(Duration::from_secs(15)).await),
        }
    }

    /// A Redis node with this heartbeat TTL; panics on the local backend.
    pub async fn redis_node(&self, node_ttl: Duration) -> RedisPresence {
        let Backend::Redis { url, .. } = &self.backend else {
            panic!("a Redis-only case ran on the local backend");
        };
        self.redis_node_via(url, node_ttl).await
    }

    /// A Redis node connected through `url` (a [`testkit::Proxy`]); panics on the local backend.
    pub async fn redis_node_via(&self, url: &str, node_ttl: Duration) -> RedisPresence {
        let Backend::Redis { prefix, .. } = &self.backend else {
            panic!("a Redis-only case ran on the local backend");
        };
        RedisPresence::start(
            connect(url).await,
            prefix.clone(),
            Uuid::now_v7().to_string(),
            RedisPresenceConfig { node_ttl },
            CancellationToken::new(),
        )
        .await
        .expect("start a presence node")
    }

    /// A plain client on the test Redis and the prefix of this test's keys; panics on the
    /// local backend.
    pub async fn redis(&self) -> (Client, String) {
        let Backend::Redis { url, prefix } = &self.backend else {
            panic!("a Redis-only case ran on the local backend");
        };
        (connect(url).await, prefix.clone())
    }
}

/// Runs `case` on [`LocalPresence`].
pub async fn on_local<F, Fut>(case: F)
where
    F: FnOnce(Rig) -> Fut,
    Fut: Future<Output = ()>,
{
    case(Rig {
        backend: Backend::Local(Arc::new(LocalPresence::new())),
    })
    .await;
}

/// Runs `case` on [`RedisPresence`] under a fresh prefix, whose keys are deleted afterwards,
/// pass or fail.
pub async fn on_redis<F, Fut>(case: F)
where
    F: FnOnce(Rig) -> Fut,
    Fut: Future<Output = ()> + Send + 'static,
{
    let url = redis_url();
    let prefix = format!("presence-test-{}:", Uuid::now_v7().simple());
    let rig = Rig {
        backend: Backend::Redis {
            url: url.clone(),
            prefix: prefix.clone(),
        },
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

async fn connect(url: &str) -> Client {
    service_kit::redis::connect(url)
        .await
        .unwrap_or_else(|e| panic!("connect to Redis at {url}: {e}"))
}

/// Deletes every key under `prefix` (the prefix is a UUID, so nothing else matches).
async fn delete_keys(client: &Client, prefix: &str) {
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

/// `user_ids` as the owned strings [`Presence::online`] takes.
pub fn users(user_ids: &[&str]) -> Vec<String> {
    user_ids.iter().map(|u| (*u).to_owned()).collect()
}
