//! Delivery dedupe: a push to one device for one event is claimed before it is sent, so an
//! event delivered again (a RabbitMQ redelivery after a lost ack, a restart, a second replica)
//! does not notify the same device twice.
//!
//! [`Dedupe`] has two implementations: [`RedisDedupe`] (`SET NX PX`, shared by every replica)
//! in the distributed mode, and [`MemoryDedupe`] in the standalone server, whose in-process
//! hand-off never delivers an event twice across processes.
//!
//! A claim expires after a TTL long enough to outlive any redelivery; a send that failed for
//! good releases its claim, so a dead-lettered event that an operator moves back delivers to
//! the devices that missed it and to no other.

use std::collections::HashMap;
use std::sync::Mutex;
use std::time::{Duration, Instant};

use async_trait::async_trait;
use fred::prelude::{Client, KeysInterface};
use fred::types::{Expiration, SetOptions};

use crate::{Error, Result};

#[async_trait]
pub trait Dedupe: Send + Sync + 'static {
    /// Claims `key` for `ttl`; `false` when it is claimed already (by anyone).
    async fn claim(&self, key: &str, ttl: Duration) -> Result<bool>;
    /// Gives a claim up, so a later delivery of the event may try this device again.
    async fn release(&self, key: &str) -> Result<()>;
}

/// Claims in one process.
#[derive(Debug, Default)]
pub struct MemoryDedupe {
    claims: Mutex<HashMap<String, Instant>>,
}

impl MemoryDedupe {
    /// Claims kept before expired ones are swept out.
    const SWEEP_AT: usize = 10_000;

    pub fn new() -> Self {
        Self::default()
    }
}

#[async_trait]
impl Dedupe for MemoryDedupe {
    async fn claim(&self, key: &str, ttl: Duration) -> Result<bool> {
        let now = Instant::now();
        let mut claims = self.claims.lock().unwrap_or_else(|e| e.into_inner());
        if claims.len() >= Self::SWEEP_AT {
            claims.retain(|_, until| *until > now);
        }
        match claims.get(key) {
            Some(until) if *until > now => Ok(false),
            _ => {
                claims.insert(key.to_owned(), now + ttl);
                Ok(true)
            }
        }
    }

    async fn release(&self, key: &str) -> Result<()> {
        let mut claims = self.claims.lock().unwrap_or_else(|e| e.into_inner());
        claims.remove(key);
        Ok(())
    }
}

/// Claims on Redis, under `{prefix}push:sent:`.
#[derive(Clone)]
pub struct RedisDedupe {
    client: Client,
    prefix: String,
}

impl RedisDedupe {
    pub fn new(client: Client, prefix: impl Into<String>) -> Self {
        RedisDedupe {
            client,
            prefix: prefix.into(),
        }
    }

    fn key(&self, key: &str) -> String {
        format!("{}push:sent:{key}", self.prefix)
    }
}

#[async_trait]
impl Dedupe for RedisDedupe {
    async fn claim(&self, key: &str, ttl: Duration) -> Result<bool> {
        let millis = i64::try_from(ttl.as_millis()).unwrap_or(i64::MAX).max(1);
        let set: Option<String> = self
            .client
            .set(
                self.key(key),
                "1",
                Some(Expiration::PX(millis)),
                Some(SetOptions::NX),
                false,
            )
            .await
            .map_err(|e| Error::Dedupe(e.to_string()))?;
        Ok(set.is_some())
    }

    async fn release(&self, key: &str) -> Result<()> {
        let _: i64 = self
            .client
            .del(self.key(key))
            .await
            .map_err(|e| Error::Dedupe(e.to_string()))?;
        Ok(())
    }
}
