//! Presence: a user is online while at least one of their sockets is connected, on any node.
//!
//! [`Presence`] has two implementations:
//!
//! - [`redis`]: [`RedisPresence`], Redis with per-node heartbeats and a reaper, in the
//!   distributed mode; it also announces users who went offline because a node died.
//! - [`LocalPresence`] (here): a map in one process, in the standalone server.

pub mod redis;

pub use redis::{RedisPresence, RedisPresenceConfig};

use std::collections::{HashMap, HashSet};
use std::sync::Mutex;

use async_trait::async_trait;

#[derive(Debug, thiserror::Error)]
pub enum Error {
    #[error("presence unavailable: {0}")]
    Unavailable(String),
}

pub type Result<T, E = Error> = std::result::Result<T, E>;

#[async_trait]
pub trait Presence: Send + Sync + 'static {
    /// Records a socket; `true` when this made the user come online.
    async fn connected(&self, user_id: &str, socket_id: &str) -> Result<bool>;
    /// Forgets a socket; `true` when this made the user go offline.
    async fn disconnected(&self, user_id: &str, socket_id: &str) -> Result<bool>;
    /// Which of these users are online, in the same order.
    async fn online(&self, user_ids: &[String]) -> Result<Vec<bool>>;
}

/// Presence within one process.
#[derive(Default)]
pub struct LocalPresence {
    sockets: Mutex<HashMap<String, HashSet<String>>>,
}

impl LocalPresence {
    pub fn new() -> Self {
        Self::default()
    }
}

#[async_trait]
impl Presence for LocalPresence {
    async fn connected(&self, user_id: &str, socket_id: &str) -> Result<bool> {
        let mut map = self.sockets.lock().expect("presence lock poisoned");
        let sockets = map.entry(user_id.to_string()).or_default();
        let first = sockets.is_empty();
        sockets.insert(socket_id.to_string());
        Ok(first)
    }

    async fn disconnected(&self, user_id: &str, socket_id: &str) -> Result<bool> {
        let mut map = self.sockets.lock().expect("presence lock poisoned");
        let Some(sockets) = map.get_mut(user_id) else {
            return Ok(false);
        };
        let removed = sockets.remove(socket_id);
        if sockets.is_empty() {
            map.remove(user_id);
            return Ok(removed);
        }
        Ok(false)
    }

    async fn online(&self, user_ids: &[String]) -> Result<Vec<bool>> {
        let map = self.sockets.lock().expect("presence lock poisoned");
        Ok(user_ids.iter().map(|u| map.contains_key(u)).collect())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn online_from_the_first_socket_to_the_last() {
        let p = LocalPresence::new();
        assert!(p.connected("u", "s1").await.unwrap());
        assert!(!p.connected("u", "s2").await.unwrap());
        assert_eq!(
            p.online(&["u".into(), "v".into()]).await.unwrap(),
            [true, false]
        );
        assert!(!p.disconnected("u", "s1").await.unwrap());
        assert!(p.disconnected("u", "s2").await.unwrap());
        assert!(!p.disconnected("u", "s2").await.unwrap());
        assert_eq!(p.online(&["u".into()]).await.unwrap(), [false]);
    }
}
