//! Who belongs to which room, cached: every send, typing event and read checks membership, and
//! the store need not answer each time. Only positive answers are cached, for a bounded time;
//! a membership change evicts the entry on this node at once and, through [`Invalidator`], on
//! every other node.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use async_trait::async_trait;
use store::ChatStore;

use crate::Result;

/// How long a cached "is a member" stays trusted even without an invalidation.
const TTL: Duration = Duration::from_secs(60);
/// Past this many entries the cache is cleared (it refills from the store).
const MAX_ENTRIES: usize = 200_000;

/// Tells the other nodes that a membership changed.
#[async_trait]
pub trait Invalidator: Send + Sync + 'static {
    async fn membership_changed(&self, room_id: &str, user_id: &str);
}

/// One process: nobody else to tell.
pub struct LocalInvalidator;

#[async_trait]
impl Invalidator for LocalInvalidator {
    async fn membership_changed(&self, _room_id: &str, _user_id: &str) {}
}

pub struct Membership {
    store: Arc<dyn ChatStore>,
    invalidator: Arc<dyn Invalidator>,
    cache: Mutex<HashMap<(String, String), Instant>>,
}

impl Membership {
    pub fn new(store: Arc<dyn ChatStore>, invalidator: Arc<dyn Invalidator>) -> Self {
        Membership {
            store,
            invalidator,
            cache: Mutex::new(HashMap::new()),
        }
    }

    pub async fn is_member(&self, room_id: &str, user_id: &str) -> Result<bool> {
        let key = (room_id.to_string(), user_id.to_string());
        if let Some(at) = self.cache.lock().expect("cache lock").get(&key)
            && at.elapsed() < TTL
        {
            return Ok(true);
        }
        let member = self.store.membership(room_id, user_id).await?.is_some();
        if member {
            let mut cache = self.cache.lock().expect("cache lock");
            if cache.len() >= MAX_ENTRIES {
                cache.clear();
            }
            cache.insert(key, Instant::now());
        }
        Ok(member)
    }

    /// Forgets one entry on this node (a change here, or an invalidation from another node).
    pub fn evict(&self, room_id: &str, user_id: &str) {
        self.cache
            .lock()
            .expect("cache lock")
            .remove(&(room_id.to_string(), user_id.to_string()));
    }

    /// A membership changed: evict here and on every other node.
    pub async fn changed(&self, room_id: &str, user_id: &str) {
        self.evict(room_id, user_id);
        self.invalidator.membership_changed(room_id, user_id).await;
    }
}

/// The distributed invalidation: a Redis pub/sub channel every node listens on.
pub struct RedisInvalidator {
    client: fred::prelude::Client,
    channel: String,
}

impl RedisInvalidator {
    pub fn new(client: fred::prelude::Client, channel: String) -> Self {
        RedisInvalidator { client, channel }
    }

    /// Evicts on this node what other nodes announce, for as long as the process runs; the
    /// subscriber (`service_kit::redis::subscriber`) renews the subscription after a reconnect.
    pub async fn listen(
        subscriber: fred::clients::SubscriberClient,
        channel: String,
        membership: Arc<Membership>,
    ) -> Result<(), fred::error::Error> {
        use fred::prelude::{EventInterface, PubsubInterface};
        let mut messages = subscriber.message_rx();
        subscriber.subscribe(channel).await?;
        tokio::spawn(async move {
            loop {
                match messages.recv().await {
                    Ok(message) => {
                        if let Some(text) = message.value.as_str()
                            && let Some((room_id, user_id)) = text.split_once('\n')
                        {
                            membership.evict(room_id, user_id);
                        }
                    }
                    Err(tokio::sync::broadcast::error::RecvError::Lagged(_)) => continue,
                    Err(tokio::sync::broadcast::error::RecvError::Closed) => break,
                }
            }
        });
        Ok(())
    }
}

#[async_trait]
impl Invalidator for RedisInvalidator {
    async fn membership_changed(&self, room_id: &str, user_id: &str) {
        use fred::prelude::PubsubInterface;
        let payload = format!("{room_id}\n{user_id}");
        if let Err(e) = self
            .client
            .publish::<(), _, _>(self.channel.as_str(), payload)
            .await
        {
            // Other nodes fall back on the cache's time limit.
            tracing::warn!(error = %e, "membership invalidation not published");
        }
    }
}
