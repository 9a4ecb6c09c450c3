//! [`PushStore`] on MongoDB: the `push_subscriptions` collection, `_id` = endpoint, with an
//! index on `user_id` for the sender's lookups.

use async_trait::async_trait;
use models::Timestamp;
use mongodb::bson::doc;
use mongodb::{Collection, IndexModel};
use serde::{Deserialize, Serialize};

use super::{MongoStore, map_err};
use crate::Result;
use crate::push::{PushStore, PushSubscription};

/// A subscription as stored.
#[derive(Debug, Serialize, Deserialize)]
struct SubscriptionDoc {
    /// The endpoint.
    #[serde(rename = "_id")]
    endpoint: String,
    user_id: String,
    p256dh: String,
    auth: String,
    created_at: i64,
}

impl From<SubscriptionDoc> for PushSubscription {
    fn from(d: SubscriptionDoc) -> Self {
        PushSubscription {
            endpoint: d.endpoint,
            user_id: d.user_id,
            p256dh: d.p256dh,
            auth: d.auth,
            created_at: Timestamp::from_millis(d.created_at),
        }
    }
}

impl MongoStore {
    fn push_subscriptions(&self) -> Collection<SubscriptionDoc> {
        self.db.collection("push_subscriptions")
    }

    pub(super) async fn create_push_indexes(&self) -> Result<()> {
        self.push_subscriptions()
            .create_index(IndexModel::builder().keys(doc! { "user_id": 1 }).build())
            .await
            .map_err(map_err)?;
        Ok(())
    }
}

#[async_trait]
impl PushStore for MongoStore {
    async fn subscribe(&self, subscription: &PushSubscription) -> Result<()> {
        let s = subscription;
        let set = doc! { "$set": {
            "user_id": &s.user_id,
            "p256dh": &s.p256dh,
            "auth": &s.auth,
            "created_at": s.created_at.millis(),
        } };
        // The owner's own endpoint, or one the same browser subscription (its secret) holds;
        // tried one after the other, since nx-27017 mis-applies `$or` in an update.
        for held in [doc! { "user_id": &s.user_id }, doc! { "auth": &s.auth }] {
            let mut filter = doc! { "_id": &s.endpoint };
            filter.extend(held);
            let updated = self
                .push_subscriptions()
                .update_one(filter, set.clone())
                .await
                .map_err(map_err)?;
            if updated.matched_count > 0 {
                return Ok(());
            }
        }
        // A new endpoint; one another user holds makes this a duplicate.
        self.push_subscriptions()
            .insert_one(SubscriptionDoc {
                endpoint: s.endpoint.clone(),
                user_id: s.user_id.clone(),
                p256dh: s.p256dh.clone(),
                auth: s.auth.clone(),
                created_at: s.created_at.millis(),
            })
            .await
            .map_err(map_err)?;
        Ok(())
    }

    async fn unsubscribe(&self, user_id: &str, endpoint: &str) -> Result<bool> {
        let removed = self
            .push_subscriptions()
            .delete_one(doc! { "_id": endpoint, "user_id": user_id })
            .await
            .map_err(map_err)?;
        Ok(removed.deleted_count > 0)
    }

    async fn subscriptions_of(&self, user_ids: &[String]) -> Result<Vec<PushSubscription>> {
        if user_ids.is_empty() {
            return Ok(Vec::new());
        }
        let mut cursor = self
            .push_subscriptions()
            .find(doc! { "user_id": { "$in": user_ids } })
            .sort(doc! { "_id": 1 })
            .await
            .map_err(map_err)?;
        let mut found = Vec::new();
        while cursor.advance().await.map_err(map_err)? {
            found.push(cursor.deserialize_current().map_err(map_err)?.into());
        }
        Ok(found)
    }

    async fn remove_subscription(&self, endpoint: &str) -> Result<bool> {
        let removed = self
            .push_subscriptions()
            .delete_one(doc! { "_id": endpoint })
            .await
            .map_err(map_err)?;
        Ok(removed.deleted_count > 0)
    }
}
