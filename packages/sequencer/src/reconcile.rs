//! [`Reconciler`]: the safety net under the hand-off, in the distributed mode.
//!
//! A socket node sequences a message in Redis, then publishes it to the broker. If the node dies
//! between the two and the sender never retries, the message is in the room's recent log (every
//! member already saw it) but no event will ever bring it to the store. The reconciler looks at
//! the recent log of every room that was active lately and stores whatever log entry older than
//! [`ReconcilerConfig::after`] the store still lacks. Storing is idempotent (the store's unique
//! indexes), so racing a slow writer only counts a duplicate there.
//!
//! Changes (edits, deletes) are reconciled the same way: a node that dies between giving a
//! change its `rev` and publishing it leaves the change in the room's recent changes, where
//! `sync` serves it; the reconciler applies every recent change older than
//! [`ReconcilerConfig::after`] to the store (idempotent: a change applies only over an older
//! `rev`), keeping a watermark by `rev`.
//!
//! One process at a time does the work: each pass first takes or renews a lease in Redis, so
//! several db-writer replicas do not read the same logs in parallel.

use std::sync::Arc;
use std::time::Duration;

use fred::prelude::{Client, HashesInterface, KeysInterface, SortedSetsInterface};
use fred::types::scripts::Script;
use fred::types::sorted_sets::{ZRange, ZRangeBound, ZRangeKind};
use models::chat::Message;
use models::time::Timestamp;
use store::{ChatStore, Page};
use tokio_util::sync::CancellationToken;

use crate::redis::{
    active_key, decode, decode_timed_change, exclusive, inf, room_key, unavailable,
};
use crate::{Error, Result};

/// Log entries read per round trip.
const PAGE: usize = 500;

/// How long a room stays listed as active after its last message: a reconciler that was away
/// for less than this still finds every room it has to look at.
const ACTIVE_RETENTION: Duration = Duration::from_secs(24 * 3600);

/// Takes the lease when it is free or already ours, renewing it. KEYS: the lease. ARGV: owner,
/// time to live in milliseconds. Replies 1 when held.
const LEASE_LUA: &str = r#"
local holder = redis.call('GET', KEYS[1])
if holder and holder ~= ARGV[1] then return 0 end
redis.call('SET', KEYS[1], ARGV[1], 'PX', ARGV[2])
return 1
"#;

/// Gives the lease up if it is ours. KEYS: the lease. ARGV: owner.
const RELEASE_LUA: &str = r#"
if redis.call('GET', KEYS[1]) == ARGV[1] then redis.call('DEL', KEYS[1]) end
return 0
"#;

/// Tuning of [`Reconciler`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ReconcilerConfig {
    /// A log entry older than this that the store lacks is stored. Longer than the hand-off
    /// normally takes (a publish, the writer's batch), or the reconciler races the writer for
    /// nothing.
    pub after: Duration,
    /// Time between passes.
    pub interval: Duration,
}

impl Default for ReconcilerConfig {
    /// After 30 s, every 5 s.
    fn default() -> Self {
        ReconcilerConfig {
            after: Duration::from_secs(30),
            interval: Duration::from_secs(5),
        }
    }
}

/// What one pass did.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Pass {
    /// Whether this process held the lease (otherwise nothing was looked at).
    pub leader: bool,
    pub rooms_checked: usize,
    /// Log entries the store lacked and now holds.
    pub restored: usize,
}

/// Stores recent-log entries whose hand-off was lost. See the module docs.
pub struct Reconciler {
    client: Client,
    prefix: String,
    store: Arc<dyn ChatStore>,
    config: ReconcilerConfig,
    owner: String,
    lease: Script,
    release: Script,
    /// Rooms whose last activity is older than this were fully looked at by an earlier pass
    /// of this process (Unix ms; 0 until a pass succeeded).
    settled_before: std::sync::atomic::AtomicI64,
}

impl Reconciler {
    /// Reads the logs the [`crate::RedisSequencer`] with the same `prefix` keeps on `client`,
    /// and writes to `store`.
    pub fn new(
        client: Client,
        prefix: impl Into<String>,
        store: Arc<dyn ChatStore>,
        config: ReconcilerConfig,
    ) -> Self {
        Reconciler {
            client,
            prefix: prefix.into(),
            store,
            config,
            owner: uuid::Uuid::now_v7().to_string(),
            lease: Script::from_lua(LEASE_LUA),
            release: Script::from_lua(RELEASE_LUA),
            settled_before: std::sync::atomic::AtomicI64::new(0),
        }
    }

    /// Runs a pass every [`ReconcilerConfig::interval`] until `shutdown`. A failed pass (Redis
    /// or the store unreachable) is logged and tried again at the next one.
    pub async fn run(self, shutdown: CancellationToken) {
        let mut tick = tokio::time::interval(self.config.interval);
        tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        loop {
            tokio::select! {
                _ = tick.tick() => {}
                _ = shutdown.cancelled() => break,
            }
            match self.pass().await {
                Ok(pass) if pass.restored > 0 => tracing::warn!(
                    restored = pass.restored,
                    rooms = pass.rooms_checked,
                    "reconciler stored messages whose hand-off was lost"
                ),
                Ok(_) => {}
                Err(e) => tracing::warn!(error = %e, "reconciler pass failed; retrying"),
            }
        }
        // A replica that stays takes over at its next pass, not after the lease expires.
        if let Err(e) = self.release().await {
            tracing::debug!(error = %e, "could not release the reconciler lease");
        }
    }

    /// Gives the lease up if this process holds it.
    pub async fn release(&self) -> Result<()> {
        self.release
            .evalsha_with_reload::<i64, _, _>(
                &self.client,
                vec![self.lease_key()],
                vec![self.owner.clone()],
            )
            .await
            .map_err(unavailable)?;
        Ok(())
    }

    fn lease_key(&self) -> String {
        format!("{}seq:reconciler", self.prefix)
    }

    /// One pass: takes the lease, then looks at every room active since the last successful
    /// pass (every listed room on the first one).
    pub async fn pass(&self) -> Result<Pass> {
        let ttl_ms = (self.config.interval * 3).as_millis().max(1000).to_string();
        let held: i64 = self
            .lease
            .evalsha_with_reload(
                &self.client,
                vec![self.lease_key()],
                vec![self.owner.clone(), ttl_ms],
            )
            .await
            .map_err(unavailable)?;
        if held != 1 {
            // Another replica does the work; look at everything once it is ours.
            self.settled_before
                .store(0, std::sync::atomic::Ordering::Relaxed);
            return Ok(Pass::default());
        }

        let now = Timestamp::now().millis();
        let cutoff = now - i64::try_from(self.config.after.as_millis()).unwrap_or(i64::MAX);
        let active = active_key(&self.prefix);
        let retention = i64::try_from(ACTIVE_RETENTION.as_millis()).unwrap_or(i64::MAX);
        let _: i64 = self
            .client
            .zremrangebyscore(&active, f64::NEG_INFINITY, (now - retention) as f64)
            .await
            .map_err(unavailable)?;

        let since = self
            .settled_before
            .load(std::sync::atomic::Ordering::Relaxed);
        let rooms: Vec<String> = self
            .client
            .zrangebyscore(&active, score(since), inf(), false, None)
            .await
            .map_err(unavailable)?;

        let mut pass = Pass {
            leader: true,
            rooms_checked: rooms.len(),
            restored: 0,
        };
        for room_id in &rooms {
            pass.restored += self.reconcile_room(room_id, cutoff).await?;
            pass.restored += self.reconcile_changes(room_id, cutoff).await?;
        }
        // Rooms last active before the cutoff had only entries older than it: all looked at.
        self.settled_before
            .store(cutoff, std::sync::atomic::Ordering::Relaxed);
        metrics::counter!("chat_reconciler_messages_restored_total")
            .increment(pass.restored as u64);
        Ok(pass)
    }

    /// Stores what the store lacks among the room's log entries created before `cutoff`
    /// (Unix ms) and after its watermark, then moves the watermark. Returns how many it stored.
    async fn reconcile_room(&self, room_id: &str, cutoff: i64) -> Result<usize> {
        let mark_key = room_key(&self.prefix, room_id, "reconciled");
        let log_key = room_key(&self.prefix, room_id, "log");
        let mut mark = self.watermark(&mark_key).await?;
        let mut restored = 0;
        loop {
            let entries: Vec<(String, f64)> = self
                .client
                .zrangebyscore(
                    &log_key,
                    exclusive(mark),
                    inf(),
                    true,
                    Some((0, PAGE as i64)),
                )
                .await
                .map_err(unavailable)?;
            let full_page = entries.len() == PAGE;
            // In seq order; the first one too young ends the pass for this room, so the
            // watermark never skips an entry.
            let mut due = Vec::new();
            let mut young = false;
            for (json, seq) in &entries {
                let message = decode(json, *seq as u64)?;
                if message.created_at.millis() > cutoff {
                    young = true;
                    break;
                }
                due.push(message);
            }
            let Some(last) = due.last().map(|m| m.seq) else {
                break;
            };
            restored += self.store_missing(room_id, mark, due).await?;
            mark = last;
            self.set_watermark(&mark_key, mark).await?;
            if young || !full_page {
                break;
            }
        }
        Ok(restored)
    }

    /// Applies to the store the room's recent changes made before `cutoff` (Unix ms) and after
    /// its `rev` watermark, then moves the watermark. Returns how many the store lacked.
    async fn reconcile_changes(&self, room_id: &str, cutoff: i64) -> Result<usize> {
        let mark_key = room_key(&self.prefix, room_id, "reconciled_rev");
        let changes_key = room_key(&self.prefix, room_id, "changes");
        let changed_key = room_key(&self.prefix, room_id, "changed");
        let mut mark = self.watermark(&mark_key).await?;
        let mut applied = 0;
        loop {
            let ids: Vec<String> = self
                .client
                .zrangebyscore(
                    &changes_key,
                    exclusive(mark),
                    inf(),
                    false,
                    Some((0, PAGE as i64)),
                )
                .await
                .map_err(unavailable)?;
            if ids.is_empty() {
                break;
            }
            let full_page = ids.len() == PAGE;
            let states: Vec<Option<String>> = self
                .client
                .hmget(&changed_key, ids)
                .await
                .map_err(unavailable)?;
            let mut young = false;
            let mut last = mark;
            // In `rev` order; the first one too young ends the pass for this room. An entry
            // trimmed between the two reads was older than the cap: the writer stored it.
            for state in states.into_iter().flatten() {
                let (message, at) = decode_timed_change(&state)?;
                if at > cutoff {
                    young = true;
                    break;
                }
                let stored = if message.deleted {
                    self.store
                        .apply_delete(room_id, &message.id, message.rev)
                        .await
                } else {
                    self.store.apply_change(&message).await
                };
                if stored.map_err(store_error)? {
                    tracing::warn!(
                        room_id,
                        rev = message.rev,
                        message_id = %message.id,
                        "storing a change from the recent changes: its hand-off never arrived"
                    );
                    applied += 1;
                }
                last = message.rev;
            }
            if last > mark {
                mark = last;
                self.set_watermark(&mark_key, mark).await?;
            }
            if young || !full_page {
                break;
            }
        }
        Ok(applied)
    }

    /// How far a room's log or changes are reconciled (a `seq` or a `rev`; 0 when not yet).
    async fn watermark(&self, key: &str) -> Result<u64> {
        Ok(self
            .client
            .get::<Option<u64>, _>(key)
            .await
            .map_err(unavailable)?
            .unwrap_or(0))
    }

    async fn set_watermark(&self, key: &str, mark: u64) -> Result<()> {
        self.client
            .set(key, mark, None, None, false)
            .await
            .map_err(unavailable)
    }

    /// Inserts those of `due` (seqs above `after`, ascending) that the store does not hold.
    async fn store_missing(&self, room_id: &str, after: u64, due: Vec<Message>) -> Result<usize> {
        let last = due.last().map_or(after, |m| m.seq);
        let span = usize::try_from(last - after).unwrap_or(usize::MAX);
        let stored: std::collections::HashSet<u64> = self
            .store
            .messages(room_id, Page::After(after), span)
            .await
            .map_err(store_error)?
            .into_iter()
            .map(|m| m.seq)
            .collect();
        let missing: Vec<Message> = due
            .into_iter()
            .filter(|m| !stored.contains(&m.seq))
            .collect();
        if missing.is_empty() {
            return Ok(0);
        }
        for message in &missing {
            tracing::warn!(
                room_id,
                seq = message.seq,
                message_id = %message.id,
                "storing a message from the recent log: its hand-off never arrived"
            );
        }
        let inserted = self
            .store
            .insert_messages(&missing)
            .await
            .map_err(store_error)?;
        Ok(inserted.inserted)
    }
}

fn score(millis: i64) -> ZRange {
    ZRange {
        kind: ZRangeKind::Inclusive,
        range: ZRangeBound::Score(millis as f64),
    }
}

fn store_error(e: store::Error) -> Error {
    Error::Unavailable(format!("store: {e}"))
}
