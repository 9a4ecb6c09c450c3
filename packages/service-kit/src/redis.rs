//! One way to connect to Redis: commands time out quickly (a send must fail fast with
//! `unavailable`, never hang), and the client reconnects by itself when Redis returns.

use std::time::Duration;

use fred::prelude::{Builder, Client, ClientLike, Config, PubsubInterface, ReconnectPolicy};

/// A connected client. Fails when the URL is bad or Redis does not answer at start-up.
pub async fn connect(url: &str) -> Result<Client, fred::error::Error> {
    let config = Config::from_url(url)?;
    let client = Builder::from_config(config)
        .with_connection_config(|c| {
            c.connection_timeout = Duration::from_secs(2);
            c.internal_command_timeout = Duration::from_secs(2);
            c.max_command_attempts = 2;
        })
        .with_performance_config(|p| {
            p.default_command_timeout = Duration::from_secs(2);
        })
        .set_policy(ReconnectPolicy::new_exponential(0, 100, 2_000, 2))
        .build()?;
    client.init().await?;
    Ok(client)
}

/// A pub/sub client (RESP3, which socketioxide's Redis adapter needs), reconnecting by itself.
pub async fn subscriber(url: &str) -> Result<fred::clients::SubscriberClient, fred::error::Error> {
    let mut config = Config::from_url(url)?;
    config.version = fred::types::RespVersion::RESP3;
    let client = Builder::from_config(config)
        .with_connection_config(|c| {
            c.connection_timeout = Duration::from_secs(2);
        })
        .with_performance_config(|p| {
            p.broadcast_channel_capacity = 1 << 16;
        })
        .set_policy(ReconnectPolicy::new_exponential(0, 100, 2_000, 2))
        .build_subscriber_client()?;
    client.init().await?;
    // fred's manage_subscriptions() sends an empty SUBSCRIBE when only shard channels are
    // tracked (socketioxide's adapter uses SSUBSCRIBE), so resubscribe them ourselves.
    let resub = client.clone();
    tokio::spawn(async move {
        let mut rx = fred::prelude::EventInterface::reconnect_rx(&resub);
        while rx.recv().await.is_ok() {
            let channels: Vec<fred::types::Key> = resub
                .tracked_channels()
                .into_iter()
                .map(Into::into)
                .collect();
            if !channels.is_empty() {
                let _ = resub.subscribe(channels).await;
            }
            for c in resub.tracked_shard_channels() {
                let _ = resub.ssubscribe(fred::types::Key::from(c)).await;
            }
        }
    });
    Ok(client)
}

/// Readiness: Redis answers a PING.
pub fn check(client: Client) -> std::sync::Arc<dyn crate::ops::Check> {
    crate::ops::check("redis", move || {
        let client = client.clone();
        async move { client.ping::<()>(None).await.map_err(|e| e.to_string()) }
    })
}
