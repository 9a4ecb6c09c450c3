//! The RabbitMQ consumer of the distributed mode: takes `message.created` events from the
//! push-service queue and hands each to the [`Sender`].
//!
//! - **Concurrency.** Up to [`ConsumerConfig::prefetch`] events are handled at once, each on
//!   its own task, so an event whose devices are slow never holds up the next ones.
//! - **Settling.** An event is acked once every device is settled (sent, gone, refused or
//!   skipped as already sent). If some device still failed after all its attempts the event is
//!   rejected without requeue, which the queue dead-letters to `push-service.dead`; replaying it
//!   reaches only those devices (see [`crate::dedupe`]). A body that is not an event is
//!   dead-lettered at once. When a dependency is down (store, presence) the event is requeued
//!   after a backoff.
//! - **Reconnection.** A lost connection ends the session; the consumer connects again with
//!   exponential backoff and declares the topology again. Unacked events come back from the
//!   broker, and the dedupe claims keep their devices from a second push.
//! - **Shutdown.** On the token it takes no new events, lets the ones in hand finish for up to
//!   [`ConsumerConfig::shutdown_grace`], and closes the connection (the broker requeues the rest).

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

use futures_util::StreamExt;
use handoff::lapin::{
    self, Channel, Connection, ConnectionProperties,
    message::Delivery,
    options::{
        BasicAckOptions, BasicConsumeOptions, BasicNackOptions, BasicQosOptions, BasicRejectOptions,
    },
    types::FieldTable,
    uri::AMQPUri,
};
use handoff::{ConsumerQueue, Topology};
use models::events::Event;
use service_kit::config::Secret;
use tokio::task::JoinSet;
use tokio::time::Instant;
use tokio_util::sync::CancellationToken;

use crate::Sender;

#[derive(Debug, Clone)]
pub struct ConsumerConfig {
    /// `CHAT_AMQP_URL`.
    pub amqp_url: Secret,
    /// Exchange and queue names (`CHAT_AMQP_PREFIX`).
    pub topology: Topology,
    /// `CHAT_PUSH_PREFETCH`, 32: events handled at once.
    pub prefetch: u16,
    /// The longest one connection attempt (TCP, handshake, topology) may take.
    pub connect_timeout: Duration,
    /// The longest wait between two reconnection attempts (the backoff doubles up to it).
    pub max_reconnect_delay: Duration,
    /// AMQP heartbeat in seconds when the URL sets none.
    pub heartbeat: u16,
    /// How long events in hand may still run after shutdown was asked for.
    pub shutdown_grace: Duration,
}

impl ConsumerConfig {
    pub fn new(amqp_url: Secret, topology: Topology) -> Self {
        ConsumerConfig {
            amqp_url,
            topology,
            prefetch: 32,
            connect_timeout: Duration::from_secs(10),
            max_reconnect_delay: Duration::from_secs(5),
            heartbeat: 10,
            shutdown_grace: Duration::from_secs(20),
        }
    }
}

/// Whether the consumer is connected and consuming, for readiness probes.
#[derive(Debug, Clone, Default)]
pub struct ConsumerStatus {
    consuming: Arc<AtomicBool>,
}

impl ConsumerStatus {
    pub fn is_consuming(&self) -> bool {
        self.consuming.load(Ordering::Relaxed)
    }

    fn set(&self, consuming: bool) {
        self.consuming.store(consuming, Ordering::Relaxed);
        metrics::gauge!("chat_push_consuming").set(if consuming { 1.0 } else { 0.0 });
    }
}

pub struct Consumer {
    sender: Arc<Sender>,
    config: ConsumerConfig,
    status: ConsumerStatus,
}

impl Consumer {
    pub fn new(sender: Arc<Sender>, config: ConsumerConfig, status: ConsumerStatus) -> Self {
        Consumer {
            sender,
            config,
            status,
        }
    }

    /// Consumes until `shutdown`, reconnecting after any failure.
    pub async fn run(self, shutdown: CancellationToken) {
        const FIRST_DELAY: Duration = Duration::from_millis(100);
        let mut delay = FIRST_DELAY;
        while !shutdown.is_cancelled() {
            let started = Instant::now();
            let outcome = self.session(&shutdown).await;
            self.status.set(false);
            match outcome {
                Ok(()) => break,
                Err(e) => {
                    if started.elapsed() > Duration::from_secs(10) {
                        delay = FIRST_DELAY;
                    }
                    tracing::warn!(error = %e, retry_in = ?delay, "push consumer stopped; reconnecting");
                    metrics::counter!("chat_push_reconnects_total").increment(1);
                    tokio::select! {
                        _ = tokio::time::sleep(delay) => {}
                        _ = shutdown.cancelled() => break,
                    }
                    delay = (delay * 2).min(self.config.max_reconnect_delay);
                }
            }
        }
        tracing::info!("push consumer stopped");
    }

    /// One connection; `Ok` on shutdown.
    async fn session(&self, shutdown: &CancellationToken) -> Result<(), String> {
        let (connection, channel) = tokio::select! {
            connected = self.connect() => connected?,
            _ = shutdown.cancelled() => return Ok(()),
        };
        let queue = self.config.topology.queue(ConsumerQueue::PushService);
        let mut deliveries = channel
            .basic_consume(
                queue.clone().into(),
                "".into(),
                BasicConsumeOptions::default(),
                FieldTable::default(),
            )
            .await
            .map_err(|e| e.to_string())?;
        self.status.set(true);
        tracing::info!(%queue, "consuming");

        let mut tasks = JoinSet::new();
        let ended = loop {
            tokio::select! {
                _ = shutdown.cancelled() => break Ok(()),
                Some(_) = tasks.join_next(), if !tasks.is_empty() => {}
                next = deliveries.next() => match next {
                    Some(Ok(delivery)) => {
                        let sender = self.sender.clone();
                        tasks.spawn(handle(sender, delivery, shutdown.clone()));
                    }
                    Some(Err(e)) => break Err(e.to_string()),
                    None => break Err("the broker cancelled the consumer".to_string()),
                },
            }
        };
        let grace = tokio::time::sleep(self.config.shutdown_grace);
        tokio::pin!(grace);
        while !tasks.is_empty() {
            tokio::select! {
                _ = tasks.join_next() => {}
                _ = &mut grace => {
                    tracing::warn!(events = tasks.len(), "leaving unfinished events to the broker");
                    tasks.abort_all();
                    break;
                }
            }
        }
        if connection.status().connected() {
            let _ = connection.close(200, "push-service stopping".into()).await;
        }
        ended
    }

    async fn connect(&self) -> Result<(Connection, Channel), String> {
        let mut uri: AMQPUri = self
            .config
            .amqp_url
            .expose()
            .parse()
            .map_err(|e| format!("invalid AMQP URL: {e}"))?;
        if uri.query.heartbeat.is_none() {
            uri.query.heartbeat = Some(self.config.heartbeat);
        }
        let attempt = async {
            let properties =
                ConnectionProperties::default().with_connection_name("push-service".into());
            let connection = Connection::connect_uri(uri, properties).await?;
            let channel = connection.create_channel().await?;
            handoff::topology::declare(&channel, &self.config.topology).await?;
            channel
                .basic_qos(self.config.prefetch.max(1), BasicQosOptions::default())
                .await?;
            Ok::<_, lapin::Error>((connection, channel))
        };
        let timeout = self.config.connect_timeout;
        tokio::time::timeout(timeout, attempt)
            .await
            .map_err(|_| format!("connecting to RabbitMQ took longer than {timeout:?}"))?
            .map_err(|e| format!("RabbitMQ: {e}"))
    }
}

/// Delivers one event and settles it with the broker.
async fn handle(sender: Arc<Sender>, delivery: Delivery, shutdown: CancellationToken) {
    let settled = match serde_json::from_slice::<Event>(&delivery.data) {
        Err(e) => {
            tracing::warn!(error = %e, "undecodable message; dead-lettering it");
            metrics::counter!("chat_push_events_dead_lettered_total", "reason" => "undecodable")
                .increment(1);
            reject(&delivery).await
        }
        Ok(event) => match sender.deliver(&event).await {
            Ok(report) if report.dead > 0 => {
                metrics::counter!("chat_push_events_dead_lettered_total", "reason" => "undelivered")
                    .increment(1);
                reject(&delivery).await
            }
            Ok(_) => delivery
                .acker
                .ack(BasicAckOptions::default())
                .await
                .map(drop),
            Err(e) if e.is_transient() => {
                tracing::warn!(error = %e, "dependency unavailable; requeueing the event");
                tokio::select! {
                    _ = tokio::time::sleep(Duration::from_secs(1)) => {}
                    _ = shutdown.cancelled() => {}
                }
                delivery
                    .acker
                    .nack(BasicNackOptions {
                        multiple: false,
                        requeue: true,
                    })
                    .await
                    .map(drop)
            }
            Err(e) => {
                tracing::error!(error = %e, "event failed; dead-lettering it");
                metrics::counter!("chat_push_events_dead_lettered_total", "reason" => "failed")
                    .increment(1);
                reject(&delivery).await
            }
        },
    };
    if let Err(e) = settled {
        // The channel is gone; the broker redelivers the event to the next session.
        tracing::debug!(error = %e, "could not settle an event");
    }
}

async fn reject(delivery: &Delivery) -> lapin::Result<()> {
    delivery
        .acker
        .reject(BasicRejectOptions { requeue: false })
        .await
        .map(drop)
}
