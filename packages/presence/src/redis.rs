//! [`RedisPresence`]: presence shared by every node, with per-node heartbeats so that a node
//! that dies without cleaning up (kill -9, lost host) takes its users offline within a bound.
//!
//! Keys (`{nodes}` is a Redis Cluster hash tag: the node registry lives in one slot, so the
//! scripts over it are atomic; each user's set is a single-key script of its own):
//!
//! - `{prefix}presence:user:{user_id}`: a set of `{node_id}:{socket_id}`, one per connected
//!   socket. The user is online while it exists (Redis deletes an empty set).
//! - `{prefix}presence:{nodes}`: the set of node ids that may hold sockets.
//! - `{prefix}presence:{nodes}:{node_id}:alive`: the node's heartbeat, set again every
//!   `node_ttl / 3` and expiring after `node_ttl`.
//! - `{prefix}presence:{nodes}:{node_id}:sockets`: a hash `socket_id → user_id` of the
//!   node's sockets, which is how a reaper finds what a dead node leaves behind.
//! - `{prefix}presence:{nodes}:{node_id}:reaper`: held (`SET NX`, `node_ttl`) by the node
//!   reaping that dead node, so one node does the work.
//!
//! Every node's background task beats its heartbeat and then reaps: for each registered node
//! whose heartbeat expired, it removes that node's sockets from the users' sets and announces
//! the users who thereby went offline on [`RedisPresence::subscribe_offline`]. Whether a user
//! went offline is decided by the same single-key script as a normal disconnect (`SREM`
//! removed the member and the set is now empty), so each transition is announced exactly
//! once, even when two reapers race.
//!
//! Ordering keeps the one invariant that matters, "a member of a user's set has its field in
//! its node's hash", whatever step fails: a connect writes the node hash before the user set,
//! a disconnect and a reap remove from the user set before the node hash. So a dead node's
//! sockets are always found, and a user is never left online for ever.

use std::collections::HashMap;
use std::sync::{Arc, Mutex, PoisonError};
use std::time::Duration;

use async_trait::async_trait;
use fred::prelude::{Client, HashesInterface, KeysInterface, SetsInterface};
use fred::types::scripts::Script;
use fred::types::{Expiration, SetOptions};
use tokio::sync::broadcast;
use tokio::time::MissedTickBehavior;
use tokio_util::sync::{CancellationToken, DropGuard};

use crate::{Error, Presence, Result};

/// KEYS: a user's set. ARGV: `{node_id}:{socket_id}`. 1 when the user came online.
const LINK_LUA: &str = r#"
if redis.call('SADD', KEYS[1], ARGV[1]) == 1 and redis.call('SCARD', KEYS[1]) == 1 then
  return 1
end
return 0
"#;

/// KEYS: a user's set. ARGV: `{node_id}:{socket_id}`. 1 when the user went offline.
const UNLINK_LUA: &str = r#"
if redis.call('SREM', KEYS[1], ARGV[1]) == 1 and redis.call('EXISTS', KEYS[1]) == 0 then
  return 1
end
return 0
"#;

/// KEYS: the node set, this node's heartbeat. ARGV: node id, TTL in milliseconds.
/// 1 when the heartbeat was still there, 0 when it had expired (or is new).
const BEAT_LUA: &str = r#"
local was = redis.call('SET', KEYS[2], '1', 'PX', ARGV[2], 'GET')
redis.call('SADD', KEYS[1], ARGV[1])
if was then return 1 end
return 0
"#;

/// KEYS: a dead node's heartbeat, its socket hash. ARGV: socket ids already removed from
/// their users' sets. Forgets them unless the node came back meanwhile (then it re-registers
/// them itself). Returns how many were forgotten.
const FORGET_LUA: &str = r#"
if redis.call('EXISTS', KEYS[1]) == 1 then return 0 end
return redis.call('HDEL', KEYS[2], unpack(ARGV))
"#;

/// KEYS: the node set, a dead node's heartbeat, its socket hash. ARGV: node id.
/// Unregisters the node once it is dead and holds no socket.
const RETIRE_LUA: &str = r#"
if redis.call('EXISTS', KEYS[2]) == 0 and redis.call('HLEN', KEYS[3]) == 0 then
  return redis.call('SREM', KEYS[1], ARGV[1])
end
return 0
"#;

/// How many offline announcements a slow subscriber may fall behind before it misses some
/// (it then gets `RecvError::Lagged`).
const OFFLINE_CAPACITY: usize = 4096;

/// Tuning of [`RedisPresence`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RedisPresenceConfig {
    /// How long a node's heartbeat lives. The node beats (and reaps dead nodes) every third of
    /// it, so a dead node's users go offline within about `4/3 × node_ttl`. Shorter reacts
    /// faster; longer tolerates longer pauses (GC-free Rust, but a stalled host or Redis
    /// failover) before a live node is taken for dead.
    pub node_ttl: Duration,
}

impl Default for RedisPresenceConfig {
    /// A 15 s heartbeat.
    fn default() -> Self {
        RedisPresenceConfig {
            node_ttl: Duration::from_secs(15),
        }
    }
}

/// Presence on Redis, shared by every node, with this node's heartbeat and reaper running in
/// the background until the shutdown token is cancelled or the value is dropped.
pub struct RedisPresence {
    shared: Arc<Shared>,
    /// Stops the background task when this value goes away.
    _stop: DropGuard,
}

/// What the public handle and the background task share.
struct Shared {
    client: Client,
    keys: Keys,
    node_id: String,
    node_ttl: Duration,
    scripts: Scripts,
    /// This node's sockets (`socket_id → user_id`), to register again if other nodes took
    /// this node for dead (a stall longer than `node_ttl`) and reaped it.
    local: Mutex<HashMap<String, String>>,
    offline: broadcast::Sender<String>,
}

struct Scripts {
    link: Script,
    unlink: Script,
    beat: Script,
    forget: Script,
    retire: Script,
}

/// The key layout described in the module docs.
struct Keys {
    prefix: String,
}

impl Keys {
    fn user(&self, user_id: &str) -> String {
        format!("{}presence:user:{user_id}", self.prefix)
    }

    fn nodes(&self) -> String {
        format!("{}presence:{{nodes}}", self.prefix)
    }

    fn node(&self, node_id: &str, what: &str) -> String {
        format!("{}presence:{{nodes}}:{node_id}:{what}", self.prefix)
    }
}

impl RedisPresence {
    /// Registers this node (`node_id`, unique per process: a fresh UUID) with its first
    /// heartbeat and starts the background task that beats and reaps every `node_ttl / 3`,
    /// until `shutdown` is cancelled or the value is dropped. Keys go under `prefix`, which
    /// keeps deployments and tests apart. Fails when Redis does not answer.
    ///
    /// Stopping does not unregister the node's sockets: the service disconnects them on
    /// shutdown, and whatever is left is reaped by the other nodes once the heartbeat expires.
    pub async fn start(
        client: Client,
        prefix: impl Into<String>,
        node_id: impl Into<String>,
        config: RedisPresenceConfig,
        shutdown: CancellationToken,
    ) -> Result<Self> {
        let (offline, _) = broadcast::channel(OFFLINE_CAPACITY);
        let shared = Arc::new(Shared {
            client,
            keys: Keys {
                prefix: prefix.into(),
            },
            node_id: node_id.into(),
            node_ttl: config.node_ttl.max(Duration::from_millis(30)),
            scripts: Scripts {
                link: Script::from_lua(LINK_LUA),
                unlink: Script::from_lua(UNLINK_LUA),
                beat: Script::from_lua(BEAT_LUA),
                forget: Script::from_lua(FORGET_LUA),
                retire: Script::from_lua(RETIRE_LUA),
            },
            local: Mutex::new(HashMap::new()),
            offline,
        });
        shared.beat().await?;

        let stop = shutdown.child_token();
        tokio::spawn(background(Arc::clone(&shared), stop.clone()));
        Ok(RedisPresence {
            shared,
            _stop: stop.drop_guard(),
        })
    }

    /// This node's id.
    pub fn node_id(&self) -> &str {
        &self.shared.node_id
    }

    /// Users who went offline because another node died with their last sockets: each such
    /// user once, announced by the one node that reaped it. Users going offline through
    /// [`Presence::disconnected`] are not repeated here: its caller already knows.
    pub fn subscribe_offline(&self) -> broadcast::Receiver<String> {
        self.shared.offline.subscribe()
    }
}

#[async_trait]
impl Presence for RedisPresence {
    async fn connected(&self, user_id: &str, socket_id: &str) -> Result<bool> {
        let came_online = self.shared.register(socket_id, user_id).await?;
        self.shared
            .local
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .insert(socket_id.to_owned(), user_id.to_owned());
        Ok(came_online)
    }

    async fn disconnected(&self, user_id: &str, socket_id: &str) -> Result<bool> {
        let shared = &self.shared;
        let went_offline = shared.unlink(user_id, &shared.node_id, socket_id).await?;
        let _: i64 = shared
            .client
            .hdel(shared.keys.node(&shared.node_id, "sockets"), socket_id)
            .await
            .map_err(unavailable)?;
        shared
            .local
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .remove(socket_id);
        Ok(went_offline)
    }

    async fn online(&self, user_ids: &[String]) -> Result<Vec<bool>> {
        if user_ids.is_empty() {
            return Ok(Vec::new());
        }
        let pipeline = self.shared.client.pipeline();
        for user_id in user_ids {
            let () = pipeline
                .exists(self.shared.keys.user(user_id))
                .await
                .map_err(unavailable)?;
        }
        let found: Vec<i64> = pipeline.all().await.map_err(unavailable)?;
        Ok(found.into_iter().map(|n| n > 0).collect())
    }
}

impl Shared {
    /// Adds a socket of this node: the node hash first, then the user's set.
    async fn register(&self, socket_id: &str, user_id: &str) -> Result<bool> {
        let _: i64 = self
            .client
            .hset(
                self.keys.node(&self.node_id, "sockets"),
                (socket_id, user_id),
            )
            .await
            .map_err(unavailable)?;
        let came_online: i64 = self
            .scripts
            .link
            .evalsha_with_reload(
                &self.client,
                self.keys.user(user_id),
                format!("{}:{socket_id}", self.node_id),
            )
            .await
            .map_err(unavailable)?;
        Ok(came_online == 1)
    }

    /// Removes one socket of `node_id` from the user's set; `true` when that was the last one.
    async fn unlink(&self, user_id: &str, node_id: &str, socket_id: &str) -> Result<bool> {
        let went_offline: i64 = self
            .scripts
            .unlink
            .evalsha_with_reload(
                &self.client,
                self.keys.user(user_id),
                format!("{node_id}:{socket_id}"),
            )
            .await
            .map_err(unavailable)?;
        Ok(went_offline == 1)
    }

    /// Sets the heartbeat; when it had expired although this node was already running, other
    /// nodes may have reaped it, so its sockets are registered again.
    async fn beat(&self) -> Result<bool> {
        let was_alive: i64 = self
            .scripts
            .beat
            .evalsha_with_reload(
                &self.client,
                vec![self.keys.nodes(), self.keys.node(&self.node_id, "alive")],
                vec![self.node_id.clone(), self.node_ttl.as_millis().to_string()],
            )
            .await
            .map_err(unavailable)?;
        if was_alive == 0 {
            let local: Vec<(String, String)> = self
                .local
                .lock()
                .unwrap_or_else(PoisonError::into_inner)
                .iter()
                .map(|(s, u)| (s.clone(), u.clone()))
                .collect();
            if !local.is_empty() {
                tracing::warn!(
                    node_id = %self.node_id,
                    sockets = local.len(),
                    "presence heartbeat had expired; registering this node's sockets again"
                );
            }
            for (socket_id, user_id) in local {
                self.register(&socket_id, &user_id).await?;
            }
        }
        Ok(was_alive != 0)
    }

    /// Reaps every registered node whose heartbeat expired and announces who went offline.
    async fn reap(&self) -> Result<()> {
        let nodes: Vec<String> = self
            .client
            .smembers(self.keys.nodes())
            .await
            .map_err(unavailable)?;
        for node_id in nodes.iter().filter(|n| **n != self.node_id) {
            let alive: i64 = self
                .client
                .exists(self.keys.node(node_id, "alive"))
                .await
                .map_err(unavailable)?;
            if alive > 0 {
                continue;
            }
            let claimed: Option<String> = self
                .client
                .set(
                    self.keys.node(node_id, "reaper"),
                    self.node_id.as_str(),
                    Some(Expiration::PX(millis(self.node_ttl))),
                    Some(SetOptions::NX),
                    false,
                )
                .await
                .map_err(unavailable)?;
            if claimed.is_none() {
                continue;
            }
            let offline = self.reap_node(node_id).await?;
            tracing::info!(
                node_id = %self.node_id,
                dead_node = %node_id,
                users_offline = offline,
                "reaped a node whose presence heartbeat expired"
            );
        }
        Ok(())
    }

    /// Removes a dead node's sockets from its users' sets, then the node itself; returns how
    /// many users went offline.
    async fn reap_node(&self, node_id: &str) -> Result<usize> {
        let sockets_key = self.keys.node(node_id, "sockets");
        let sockets: HashMap<String, String> = self
            .client
            .hgetall(&sockets_key)
            .await
            .map_err(unavailable)?;
        let mut offline = 0;
        for (socket_id, user_id) in &sockets {
            if self.unlink(user_id, node_id, socket_id).await? {
                offline += 1;
                // No subscriber is not an error: nobody needed to hear it.
                let _ = self.offline.send(user_id.clone());
            }
        }
        if !sockets.is_empty() {
            let _: i64 = self
                .scripts
                .forget
                .evalsha_with_reload(
                    &self.client,
                    vec![self.keys.node(node_id, "alive"), sockets_key.clone()],
                    sockets.into_keys().collect::<Vec<_>>(),
                )
                .await
                .map_err(unavailable)?;
        }
        let _: i64 = self
            .scripts
            .retire
            .evalsha_with_reload(
                &self.client,
                vec![
                    self.keys.nodes(),
                    self.keys.node(node_id, "alive"),
                    sockets_key,
                ],
                node_id,
            )
            .await
            .map_err(unavailable)?;
        Ok(offline)
    }
}

/// Beats and reaps every `node_ttl / 3` until `stop`; a failed round is logged and retried at
/// the next tick.
async fn background(shared: Arc<Shared>, stop: CancellationToken) {
    let period = shared.node_ttl / 3;
    // `start` has just beaten; the first round is one period later.
    let mut tick = tokio::time::interval_at(tokio::time::Instant::now() + period, period);
    tick.set_missed_tick_behavior(MissedTickBehavior::Delay);
    let mut grace_until = tokio::time::Instant::now();
    loop {
        tokio::select! {
            () = stop.cancelled() => break,
            _ = tick.tick() => {}
        }
        // Cancellation must not wait for a round, so each round races the token too.
        let round = async {
            match shared.beat().await {
                Ok(true) => {}
                Ok(false) => grace_until = tokio::time::Instant::now() + shared.node_ttl,
                Err(e) => {
                    grace_until = tokio::time::Instant::now() + shared.node_ttl;
                    tracing::warn!(node_id = %shared.node_id, "presence heartbeat failed: {e}");
                    return;
                }
            }
            if tokio::time::Instant::now() < grace_until {
                return;
            }
            if let Err(e) = shared.reap().await {
                tracing::warn!(node_id = %shared.node_id, "presence reaping failed: {e}");
            }
        };
        tokio::select! {
            () = stop.cancelled() => break,
            () = round => {}
        }
    }
}

fn millis(d: Duration) -> i64 {
    i64::try_from(d.as_millis()).unwrap_or(i64::MAX)
}

fn unavailable(e: fred::error::Error) -> Error {
    Error::Unavailable(format!("redis: {e}"))
}
