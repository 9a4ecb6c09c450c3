//! [`PushStore`] on the SQLite file: the `push_subscriptions` table, keyed by endpoint.

use async_trait::async_trait;
use models::Timestamp;
use rusqlite::{Row, params, params_from_iter};

use super::SqliteStore;
use crate::push::{PushStore, PushSubscription};
use crate::{Error, Result};

fn subscription_from_row(row: &Row<'_>) -> rusqlite::Result<PushSubscription> {
    Ok(PushSubscription {
        endpoint: row.get(0)?,
        user_id: row.get(1)?,
        p256dh: row.get(2)?,
        auth: row.get(3)?,
        created_at: Timestamp::from_millis(row.get(4)?),
    })
}

#[async_trait]
impl PushStore for SqliteStore {
    async fn subscribe(&self, subscription: &PushSubscription) -> Result<()> {
        let s = subscription.clone();
        let stored = self
            .call(move |conn| {
                conn.execute(
                    "INSERT INTO push_subscriptions (endpoint, user_id, p256dh, auth, created_at)
                     VALUES (?1, ?2, ?3, ?4, ?5)
                     ON CONFLICT (endpoint) DO UPDATE SET user_id = excluded.user_id,
                         p256dh = excluded.p256dh, auth = excluded.auth,
                         created_at = excluded.created_at
                     WHERE push_subscriptions.user_id = excluded.user_id
                        OR push_subscriptions.auth = excluded.auth",
                    params![
                        s.endpoint,
                        s.user_id,
                        s.p256dh,
                        s.auth,
                        s.created_at.millis()
                    ],
                )
            })
            .await?;
        if stored == 0 {
            return Err(Error::Duplicate(
                "the endpoint is another user's subscription".into(),
            ));
        }
        Ok(())
    }

    async fn unsubscribe(&self, user_id: &str, endpoint: &str) -> Result<bool> {
        let (user_id, endpoint) = (user_id.to_owned(), endpoint.to_owned());
        self.call(move |conn| {
            let removed = conn.execute(
                "DELETE FROM push_subscriptions WHERE endpoint = ?1 AND user_id = ?2",
                params![endpoint, user_id],
            )?;
            Ok(removed > 0)
        })
        .await
    }

    async fn subscriptions_of(&self, user_ids: &[String]) -> Result<Vec<PushSubscription>> {
        if user_ids.is_empty() {
            return Ok(Vec::new());
        }
        let user_ids = user_ids.to_vec();
        self.call(move |conn| {
            // A JSON array as the one parameter: any number of users, one cached statement.
            let ids = serde_json::to_string(&user_ids).expect("strings always serialise");
            let mut stmt = conn.prepare_cached(
                "SELECT endpoint, user_id, p256dh, auth, created_at FROM push_subscriptions
                 WHERE user_id IN (SELECT value FROM json_each(?1))
                 ORDER BY endpoint",
            )?;
            let rows = stmt.query_map(params_from_iter([ids]), subscription_from_row)?;
            rows.collect()
        })
        .await
    }

    async fn remove_subscription(&self, endpoint: &str) -> Result<bool> {
        let endpoint = endpoint.to_owned();
        self.call(move |conn| {
            let removed = conn.execute(
                "DELETE FROM push_subscriptions WHERE endpoint = ?1",
                [endpoint],
            )?;
            Ok(removed > 0)
        })
        .await
    }
}
