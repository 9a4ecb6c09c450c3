//! Web-push subscriptions: the browsers' `PushSubscription`s, each owned by one user.
//!
//! The endpoint is the key. A browser that subscribes again hands in the same endpoint, so it
//! is stored once; when another user signs in on that browser and subscribes, the endpoint
//! (and the device behind it) moves to that user.

use async_trait::async_trait;
use models::Timestamp;

use crate::Result;

/// One device's subscription, as the browser's `PushSubscription.toJSON()` gives it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PushSubscription {
    /// The push service URL the sender posts to; unique.
    pub endpoint: String,
    pub user_id: String,
    /// The device's P-256 public key, base64url (uncompressed point).
    pub p256dh: String,
    /// The device's 16-byte authentication secret, base64url.
    pub auth: String,
    pub created_at: Timestamp,
}

#[async_trait]
pub trait PushStore: Send + Sync + 'static {
    /// Stores `subscription`, replacing what was stored for its endpoint. An endpoint another
    /// user holds moves to this one only with the same `auth` secret, which only the browser
    /// holding the subscription knows (the same browser signed in to another account); else
    /// [`crate::Error::Duplicate`], and nothing changes.
    async fn subscribe(&self, subscription: &PushSubscription) -> Result<()>;
    /// Removes `endpoint` if `user_id` owns it; `true` when something was removed.
    async fn unsubscribe(&self, user_id: &str, endpoint: &str) -> Result<bool>;
    /// Every subscription of these users, ordered by endpoint.
    async fn subscriptions_of(&self, user_ids: &[String]) -> Result<Vec<PushSubscription>>;
    /// Removes `endpoint` whoever owns it (its push service said it is gone); `true` when
    /// something was removed.
    async fn remove_subscription(&self, endpoint: &str) -> Result<bool>;
}
