//! The epoch: what tells a node whether Redis still holds everything it was given, or lost its
//! data (a restart without persistence, a failover to an empty replica, a flush).
//!
//! A room's counter restarts from the store's `last_seq` (or `rev`) when Redis no longer has
//! it. That floor is exact only once the writer has stored every event handed off before:
//! otherwise a `seq` still waiting in the queue would be given again. So the epoch key
//! `{prefix}seq:epoch` (the Unix milliseconds it was made at, no TTL) is made only after a
//! [`Drain`]: a node that needs a floor and finds no epoch takes the recovery lease
//! (`{prefix}seq:recovery`), drains the writer, then makes the epoch. Until then sequencing into rooms Redis lost answers `unavailable`, and senders retry.
//!
//! Dedupe entries were lost with the rest, so a retry of a `client_id` made before the epoch
//! is not left to Redis' dedupe alone (see `RedisSequencer::recognizes_retry_of`).

use std::sync::atomic::{AtomicI64, Ordering};
use std::sync::{Arc, Mutex, PoisonError};
use std::time::{Duration, Instant};

use async_trait::async_trait;
use fred::prelude::{Client, KeysInterface};
use fred::types::{Expiration, SetOptions};

use crate::redis::unavailable;
use crate::{Error, Result};

/// Waits until the writer has stored every event handed off before the call, including those
/// of messages sequenced before it whose hand-off was still under way.
#[async_trait]
pub trait Drain: Send + Sync + 'static {
    async fn drain(&self) -> std::result::Result<(), String>;
}

/// How long a node that found no epoch waits for another node's recovery before answering
/// `unavailable`.
const AWAIT_RECOVERY: Duration = Duration::from_secs(3);
/// How long a recovery lease lasts if its node dies during the recovery.
const LEASE: Duration = Duration::from_secs(120);
/// How long a node trusts the epoch it last read.
const RECHECK: Duration = Duration::from_millis(500);

pub(crate) struct Epoch {
    key: String,
    lease_key: String,
    /// The epoch last read (Unix ms), 0 when none was read yet.
    made_at: AtomicI64,
    checked: Mutex<Option<Instant>>,
    drain: Option<Arc<dyn Drain>>,
}

impl Epoch {
    pub(crate) fn new(prefix: &str, drain: Option<Arc<dyn Drain>>) -> Self {
        Epoch {
            key: format!("{prefix}seq:epoch"),
            lease_key: format!("{prefix}seq:recovery"),
            made_at: AtomicI64::new(0),
            checked: Mutex::new(None),
            drain,
        }
    }

    /// When the epoch this node last read was made (Unix ms), if it read one.
    pub(crate) fn made_at(&self) -> Option<i64> {
        Some(self.made_at.load(Ordering::Relaxed)).filter(|&t| t > 0)
    }

    /// Whether the epoch should be read again.
    pub(crate) fn is_stale(&self) -> bool {
        self.checked
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .is_none_or(|at| at.elapsed() >= RECHECK)
    }

    /// Reads the epoch; `false` when Redis has none.
    pub(crate) async fn refresh(&self, client: &Client) -> Result<bool> {
        let made_at: Option<i64> = client.get(&self.key).await.map_err(unavailable)?;
        *self.checked.lock().unwrap_or_else(PoisonError::into_inner) = Some(Instant::now());
        match made_at {
            Some(t) => {
                self.made_at.store(t, Ordering::Relaxed);
                Ok(true)
            }
            None => Ok(false),
        }
    }

    /// Returns once Redis has an epoch, recovering it if this node gets the lease; the store's
    /// floors may be trusted after it.
    pub(crate) async fn verify(&self, client: &Client) -> Result<()> {
        let give_up = Instant::now() + AWAIT_RECOVERY;
        loop {
            if self.refresh(client).await? {
                return Ok(());
            }
            let token = uuid::Uuid::new_v4().to_string();
            let leased: Option<String> = client
                .set(
                    &self.lease_key,
                    &token,
                    Some(Expiration::PX(LEASE.as_millis() as i64)),
                    Some(SetOptions::NX),
                    false,
                )
                .await
                .map_err(unavailable)?;
            if leased.is_some() {
                self.recover(client).await?;
                continue;
            }
            if Instant::now() >= give_up {
                return Err(Error::Unavailable(
                    "Redis lost its data; sequencing resumes once the writer has caught up".into(),
                ));
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    }

    /// Holding the lease: drains the writer, then makes the epoch.
    async fn recover(&self, client: &Client) -> Result<()> {
        tracing::warn!(
            "Redis has no sequencing epoch: draining the writer before numbering resumes"
        );
        let drained = match &self.drain {
            Some(drain) => drain.drain().await,
            None => Ok(()),
        };
        let released: Result<i64> = client.del(&self.lease_key).await.map_err(unavailable);
        drained.map_err(|e| {
            Error::Unavailable(format!(
                "Redis lost its data and the writer has not caught up yet: {e}"
            ))
        })?;
        released?;
        let now = models::time::Timestamp::now().millis();
        let _: Option<String> = client
            .set(&self.key, now, None, Some(SetOptions::NX), false)
            .await
            .map_err(unavailable)?;
        tracing::info!("sequencing epoch made; numbering resumes above the store");
        Ok(())
    }
}
