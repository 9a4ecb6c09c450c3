//! The RabbitMQ consumer: takes events from one queue in batches, applies them to the store
//! (the db-writer queue with [`crate::Writer`], the search-index queue with
//! [`crate::SearchIndexer`]; see [`Apply`]), and acknowledges each delivery only once the
//! store confirmed it. Its metrics are labelled with the queue (`queue`).
//!
//! - **Batches.** Deliveries are gathered until [`ConsumerConfig::batch_max`] of them are in
//!   hand or [`ConsumerConfig::batch_wait`] has passed since the first; the channel's prefetch
//!   is twice the batch, so the next batch is already on its way while one is written.
//! - **Failures.** A body that is not an [`Event`] is rejected at once (dead-lettered by the
//!   queue's DLX). A store that is unavailable gets the whole batch requeued after a backoff,
//!   so nothing is lost. Any other store error makes the consumer apply the batch's events one
//!   by one, to find the poison one; a message is dead-lettered only after failing
//!   [`ConsumerConfig::max_attempts`] times (counted in memory by a hash of its body), and is
//!   requeued until then, so it neither blocks the queue nor loops forever.
//! - **Reconnection.** A lost connection ends the session; the consumer connects again with
//!   exponential backoff and declares the topology again. Unacknowledged deliveries of the lost
//!   connection come back from the broker and are written again, which the writes' idempotence
//!   makes harmless.
//! - **Shutdown.** On the token, the consumer stops gathering, writes and acks the batch in
//!   hand, and closes the connection (the broker requeues what was prefetched but not taken).

use std::collections::HashMap;
use std::collections::hash_map::DefaultHasher;
use std::hash::{Hash, Hasher};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

use futures_util::StreamExt;
use handoff::lapin::{
    self, Channel, Connection, ConnectionProperties,
    message::Delivery,
    options::{
        BasicAckOptions, BasicConsumeOptions, BasicNackOptions, BasicQosOptions,
        BasicRejectOptions, QueueDeclareOptions,
    },
    types::FieldTable,
    uri::AMQPUri,
};
use handoff::{ConsumerQueue, Topology};
use models::events::Event;
use service_kit::config::Secret;
use tokio::time::Instant;
use tokio_util::sync::CancellationToken;

/// What a consumer does with a batch of events: store them, idempotently (a redelivered or
/// reordered event changes nothing twice). [`store::Error::Unavailable`] requeues the batch.
#[async_trait::async_trait]
pub trait Apply: Send + Sync + 'static {
    async fn apply(&self, events: &[Event]) -> store::Result<()>;
}

/// How the consumer reaches the broker and sizes its batches.
#[derive(Debug, Clone)]
pub struct ConsumerConfig {
    /// `CHAT_AMQP_URL`: plain `amqp://user:pass@host:port/vhost`.
    pub amqp_url: Secret,
    /// Exchange and queue names (`CHAT_AMQP_PREFIX`).
    pub topology: Topology,
    /// `CHAT_WRITER_BATCH_MAX`, 500: the most events written in one bulk insert.
    pub batch_max: usize,
    /// `CHAT_WRITER_BATCH_WAIT_MS`, 20: how long a batch waits to fill after its first event;
    /// the extra latency a lone message pays for the throughput of bulk writes.
    pub batch_wait: Duration,
    /// `CHAT_WRITER_MAX_ATTEMPTS`, 5: how often one message may fail (other than by the store
    /// being unavailable) before it is dead-lettered.
    pub max_attempts: u32,
    /// How often the queue's depth is read for the lag gauge.
    pub lag_interval: Duration,
    /// The longest one connection attempt (TCP, handshake, topology) may take.
    pub connect_timeout: Duration,
    /// The longest one write to the store may take before it counts as the store being
    /// unavailable (the batch is requeued): a hung database must not hold a batch forever.
    pub write_timeout: Duration,
    /// The longest wait between two reconnection attempts (the backoff doubles up to it).
    pub max_reconnect_delay: Duration,
    /// AMQP heartbeat in seconds when the URL sets none: how soon a silent broker is noticed.
    pub heartbeat: u16,
}

impl ConsumerConfig {
    /// The defaults for everything but where the broker is.
    pub fn new(amqp_url: Secret, topology: Topology) -> Self {
        ConsumerConfig {
            amqp_url,
            topology,
            batch_max: 500,
            batch_wait: Duration::from_millis(20),
            max_attempts: 5,
            lag_interval: Duration::from_secs(5),
            connect_timeout: Duration::from_secs(10),
            write_timeout: Duration::from_secs(30),
            max_reconnect_delay: Duration::from_secs(5),
            heartbeat: 10,
        }
    }

    fn prefetch(&self) -> u16 {
        u16::try_from(self.batch_max.max(1).saturating_mul(2)).unwrap_or(u16::MAX)
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

    fn set(&self, queue: ConsumerQueue, consuming: bool) {
        self.consuming.store(consuming, Ordering::Relaxed);
        metrics::gauge!("chat_writer_consuming", "queue" => queue.name()).set(if consuming {
            1.0
        } else {
            0.0
        });
    }
}

/// One queue's consumer; see the module docs.
pub struct Consumer {
    queue: ConsumerQueue,
    apply: Arc<dyn Apply>,
    config: ConsumerConfig,
    status: ConsumerStatus,
    attempts: Attempts,
}

/// Why a session ended other than by shutdown.
#[derive(Debug, thiserror::Error)]
enum SessionError {
    #[error("RabbitMQ: {0}")]
    Amqp(#[from] lapin::Error),
    #[error("{0}")]
    Other(String),
}

/// How a session ended.
enum Ended {
    /// Shutdown was requested and the batch in hand is settled.
    Shutdown,
}

impl Consumer {
    /// The db-writer queue's consumer, persisting with `writer`.
    pub fn new(writer: Arc<crate::Writer>, config: ConsumerConfig) -> Self {
        Self::with_status(writer, config, ConsumerStatus::default())
    }

    /// [`Consumer::new`] reporting to an existing status handle (made before the consumer, for
    /// readiness checks that start first).
    pub fn with_status(
        writer: Arc<crate::Writer>,
        config: ConsumerConfig,
        status: ConsumerStatus,
    ) -> Self {
        Self::of_queue(ConsumerQueue::DbWriter, writer, config, status)
    }

    /// The consumer of `queue`, handing its batches to `apply`.
    pub fn of_queue(
        queue: ConsumerQueue,
        apply: Arc<dyn Apply>,
        config: ConsumerConfig,
        status: ConsumerStatus,
    ) -> Self {
        Consumer {
            queue,
            apply,
            config,
            status,
            attempts: Attempts::default(),
        }
    }

    /// A handle on whether the consumer is consuming now.
    pub fn status(&self) -> ConsumerStatus {
        self.status.clone()
    }

    /// Consumes until `shutdown`, reconnecting after any failure; returns once the batch in
    /// hand at shutdown is written and acknowledged.
    pub async fn run(mut self, shutdown: CancellationToken) {
        const FIRST_DELAY: Duration = Duration::from_millis(100);
        let mut delay = FIRST_DELAY;
        while !shutdown.is_cancelled() {
            let started = Instant::now();
            let outcome = self.session(&shutdown).await;
            self.status.set(self.queue, false);
            match outcome {
                Ok(Ended::Shutdown) => break,
                Err(e) => {
                    // A session that ran a while was a good connection: start the backoff over.
                    if started.elapsed() > Duration::from_secs(10) {
                        delay = FIRST_DELAY;
                    }
                    tracing::warn!(error = %e, retry_in = ?delay, queue = self.queue.name(), "consumer stopped; reconnecting");
                    metrics::counter!("chat_writer_reconnects_total", "queue" => self.queue.name())
                        .increment(1);
                    tokio::select! {
                        _ = tokio::time::sleep(delay) => {}
                        _ = shutdown.cancelled() => break,
                    }
                    delay = (delay * 2).min(self.config.max_reconnect_delay);
                }
            }
        }
        tracing::info!(queue = self.queue.name(), "consumer stopped");
    }

    /// One connection: connect, declare, consume batches until shutdown or a failure.
    async fn session(&mut self, shutdown: &CancellationToken) -> Result<Ended, SessionError> {
        let (connection, channel) = tokio::select! {
            connected = self.connect() => connected?,
            _ = shutdown.cancelled() => return Ok(Ended::Shutdown),
        };
        let queue = self.config.topology.queue(self.queue);
        let deliveries = channel
            .basic_consume(
                queue.clone().into(),
                "".into(),
                BasicConsumeOptions::default(),
                FieldTable::default(),
            )
            .await?;
        self.status.set(self.queue, true);
        tracing::info!(%queue, "consuming");

        let ended = self.consume(&channel, &queue, deliveries, shutdown).await;
        // Closing requeues whatever was prefetched but not settled.
        if connection.status().connected() {
            let _ = connection.close(200, "consumer stopping".into()).await;
        }
        ended
    }

    /// Gathers and handles batches until shutdown or a failure of the channel.
    async fn consume(
        &mut self,
        channel: &Channel,
        queue: &str,
        mut deliveries: lapin::Consumer,
        shutdown: &CancellationToken,
    ) -> Result<Ended, SessionError> {
        let mut lag = tokio::time::interval(self.config.lag_interval);
        lag.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        let mut unavailable_delay = Duration::ZERO;
        loop {
            // The first delivery of a batch: wait as long as it takes.
            let first = tokio::select! {
                _ = shutdown.cancelled() => break Ok(Ended::Shutdown),
                _ = lag.tick() => {
                    record_lag(channel, queue, self.queue).await?;
                    continue;
                }
                next = deliveries.next() => next,
            };
            let first = match first {
                Some(delivery) => delivery?,
                None => break Err(cancelled_by_broker()),
            };
            let mut batch = vec![first];
            let deadline = Instant::now() + self.config.batch_wait;
            let mut stopping = false;
            let mut failed = None;
            while batch.len() < self.config.batch_max {
                tokio::select! {
                    biased;
                    next = deliveries.next() => match next {
                        Some(Ok(delivery)) => batch.push(delivery),
                        Some(Err(e)) => {
                            failed = Some(SessionError::Amqp(e));
                            break;
                        }
                        None => {
                            failed = Some(cancelled_by_broker());
                            break;
                        }
                    },
                    _ = tokio::time::sleep_until(deadline) => break,
                    _ = shutdown.cancelled() => { stopping = true; break; }
                }
            }
            if let Some(e) = failed {
                // Acks of this batch could not reach the broker any more; it redelivers them.
                break Err(e);
            }
            self.handle(batch, shutdown, &mut unavailable_delay).await?;
            if stopping || shutdown.is_cancelled() {
                break Ok(Ended::Shutdown);
            }
        }
    }

    async fn connect(&self) -> Result<(Connection, Channel), SessionError> {
        let mut uri: AMQPUri = self
            .config
            .amqp_url
            .expose()
            .parse()
            .map_err(|e| SessionError::Other(format!("invalid AMQP URL: {e}")))?;
        if uri.query.heartbeat.is_none() {
            uri.query.heartbeat = Some(self.config.heartbeat);
        }
        let attempt = async {
            let properties =
                ConnectionProperties::default().with_connection_name(self.queue.name().into());
            let connection = Connection::connect_uri(uri, properties).await?;
            let channel = connection.create_channel().await?;
            handoff::topology::declare(&channel, &self.config.topology).await?;
            channel
                .basic_qos(self.config.prefetch(), BasicQosOptions::default())
                .await?;
            Ok::<_, lapin::Error>((connection, channel))
        };
        let timeout = self.config.connect_timeout;
        tokio::time::timeout(timeout, attempt)
            .await
            .map_err(|_| {
                SessionError::Other(format!(
                    "connecting to RabbitMQ took longer than {timeout:?}"
                ))
            })?
            .map_err(SessionError::Amqp)
    }

    /// Decodes, writes and settles one batch. An error means the channel failed: what is not
    /// settled yet comes back from the broker.
    async fn handle(
        &mut self,
        batch: Vec<Delivery>,
        shutdown: &CancellationToken,
        unavailable_delay: &mut Duration,
    ) -> Result<(), SessionError> {
        let mut events = Vec::with_capacity(batch.len());
        let mut kept = Vec::with_capacity(batch.len());
        for delivery in batch {
            match serde_json::from_slice::<Event>(&delivery.data) {
                Ok(event) => {
                    events.push(event);
                    kept.push(delivery);
                }
                Err(e) => {
                    tracing::warn!(error = %e, delivery_tag = delivery.delivery_tag, "undecodable message; dead-lettering it");
                    delivery
                        .acker
                        .reject(BasicRejectOptions { requeue: false })
                        .await?;
                    metrics::counter!("chat_writer_dead_lettered_total", "queue" => self.queue.name(), "reason" => "undecodable")
                        .increment(1);
                }
            }
        }
        if events.is_empty() {
            return Ok(());
        }
        metrics::histogram!("chat_writer_batch_size", "queue" => self.queue.name())
            .record(events.len() as f64);
        let started = std::time::Instant::now();
        let outcome = self.apply(&events).await;
        metrics::histogram!("chat_writer_batch_seconds", "queue" => self.queue.name())
            .record(started.elapsed().as_secs_f64());
        match outcome {
            Ok(()) => {
                *unavailable_delay = Duration::ZERO;
                for delivery in &kept {
                    self.attempts.succeeded(delivery);
                }
                // One ack for the whole batch: the channel's deliveries come in ascending tags,
                // and every one before this batch is settled already (batches are settled in
                // turn, and the rejected ones of this batch too), so "up to the last tag" is
                // exactly this batch's deliveries.
                if let Some(last) = kept.last() {
                    last.acker.ack(BasicAckOptions { multiple: true }).await?;
                }
                Ok(())
            }
            Err(store::Error::Unavailable(reason)) => {
                tracing::warn!(%reason, events = events.len(), "store unavailable; requeueing the batch");
                self.requeue_after_backoff(&kept, shutdown, unavailable_delay)
                    .await
            }
            Err(e) => {
                tracing::warn!(error = %e, events = events.len(), "batch failed; applying its events one by one");
                metrics::counter!("chat_writer_batch_failures_total", "queue" => self.queue.name())
                    .increment(1);
                self.one_by_one(events, kept, shutdown, unavailable_delay)
                    .await
            }
        }
    }

    /// [`Apply::apply`] within [`ConsumerConfig::write_timeout`].
    async fn apply(&self, events: &[Event]) -> store::Result<()> {
        let timeout = self.config.write_timeout;
        tokio::time::timeout(timeout, self.apply.apply(events))
            .await
            .unwrap_or_else(|_| {
                Err(store::Error::Unavailable(format!(
                    "the write took longer than {timeout:?}"
                )))
            })
    }

    /// The poison-message hunt: applies each event alone and settles it by its own outcome.
    async fn one_by_one(
        &mut self,
        events: Vec<Event>,
        deliveries: Vec<Delivery>,
        shutdown: &CancellationToken,
        unavailable_delay: &mut Duration,
    ) -> Result<(), SessionError> {
        for (i, (event, delivery)) in events.iter().zip(&deliveries).enumerate() {
            match self.apply(std::slice::from_ref(event)).await {
                Ok(()) => {
                    delivery.acker.ack(BasicAckOptions::default()).await?;
                    self.attempts.succeeded(delivery);
                }
                Err(store::Error::Unavailable(reason)) => {
                    tracing::warn!(%reason, "store unavailable; requeueing the rest of the batch");
                    return self
                        .requeue_after_backoff(&deliveries[i..], shutdown, unavailable_delay)
                        .await;
                }
                Err(e) => {
                    let attempts = self.attempts.failed(delivery);
                    if attempts >= self.config.max_attempts {
                        tracing::error!(
                            error = %e, kind = event.kind(), room_id = event.room_id(), attempts,
                            "event keeps failing; dead-lettering it"
                        );
                        delivery
                            .acker
                            .reject(BasicRejectOptions { requeue: false })
                            .await?;
                        self.attempts.forget(delivery);
                        metrics::counter!("chat_writer_dead_lettered_total", "queue" => self.queue.name(), "reason" => "failed")
                            .increment(1);
                    } else {
                        tracing::warn!(
                            error = %e, kind = event.kind(), room_id = event.room_id(), attempts,
                            "event failed; requeueing it"
                        );
                        delivery
                            .acker
                            .nack(BasicNackOptions {
                                multiple: false,
                                requeue: true,
                            })
                            .await?;
                    }
                }
            }
        }
        Ok(())
    }

    /// Waits a growing delay (cut short by shutdown), then requeues `deliveries`.
    async fn requeue_after_backoff(
        &self,
        deliveries: &[Delivery],
        shutdown: &CancellationToken,
        delay: &mut Duration,
    ) -> Result<(), SessionError> {
        metrics::counter!("chat_writer_store_unavailable_total", "queue" => self.queue.name())
            .increment(1);
        *delay = (*delay * 2).clamp(Duration::from_millis(100), Duration::from_secs(5));
        tokio::select! {
            _ = tokio::time::sleep(*delay) => {}
            _ = shutdown.cancelled() => {}
        }
        for delivery in deliveries {
            delivery
                .acker
                .nack(BasicNackOptions {
                    multiple: false,
                    requeue: true,
                })
                .await?;
        }
        Ok(())
    }
}

/// The consumer's stream ended: the broker cancelled it (the queue was deleted, the node
/// went down) or the connection closed.
fn cancelled_by_broker() -> SessionError {
    SessionError::Other("the broker cancelled the consumer".into())
}

/// Reads the queue's ready-message count (a passive declare) into the lag gauge.
async fn record_lag(
    channel: &Channel,
    queue: &str,
    consumer: ConsumerQueue,
) -> Result<(), SessionError> {
    let declared = channel
        .queue_declare(
            queue.into(),
            QueueDeclareOptions {
                passive: true,
                ..QueueDeclareOptions::default()
            },
            FieldTable::default(),
        )
        .await?;
    metrics::gauge!("chat_writer_queue_messages", "queue" => consumer.name())
        .set(f64::from(declared.message_count()));
    Ok(())
}

/// Failed attempts per message, keyed by a hash of the body. In memory only: another replica
/// (or this one after a restart) counts from zero again, which bounds the attempts at
/// `max_attempts` per process that sees the message rather than making them unbounded.
#[derive(Debug, Default)]
struct Attempts {
    failures: HashMap<u64, u32>,
}

impl Attempts {
    /// Bounds the memory a flood of distinct failing messages may take.
    const MAX_TRACKED: usize = 10_000;

    fn key(delivery: &Delivery) -> u64 {
        let mut hasher = DefaultHasher::new();
        delivery.data.hash(&mut hasher);
        hasher.finish()
    }

    /// Counts one more failure and returns the total so far.
    fn failed(&mut self, delivery: &Delivery) -> u32 {
        let key = Self::key(delivery);
        // A first delivery has never failed before, whatever an identical body did.
        if !delivery.redelivered {
            self.failures.remove(&key);
        }
        if self.failures.len() >= Self::MAX_TRACKED && !self.failures.contains_key(&key) {
            self.failures.clear();
        }
        let count = self.failures.entry(key).or_insert(0);
        *count += 1;
        *count
    }

    fn succeeded(&mut self, delivery: &Delivery) {
        if delivery.redelivered && !self.failures.is_empty() {
            self.forget(delivery);
        }
    }

    fn forget(&mut self, delivery: &Delivery) {
        self.failures.remove(&Self::key(delivery));
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn delivery(body: &[u8], redelivered: bool) -> Delivery {
        Delivery::mock(
            1,
            "".into(),
            "message.created".into(),
            redelivered,
            body.to_vec(),
        )
    }

    #[test]
    fn attempts_count_redeliveries_of_one_body_and_restart_at_a_first_delivery() {
        let mut attempts = Attempts::default();
        assert_eq!(attempts.failed(&delivery(b"poison", false)), 1);
        assert_eq!(attempts.failed(&delivery(b"poison", true)), 2);
        assert_eq!(attempts.failed(&delivery(b"other", true)), 1);
        assert_eq!(attempts.failed(&delivery(b"poison", true)), 3);
        // The same bytes published anew have never failed.
        assert_eq!(attempts.failed(&delivery(b"poison", false)), 1);
        attempts.succeeded(&delivery(b"other", true));
        assert_eq!(attempts.failed(&delivery(b"other", true)), 1);
    }

    #[test]
    fn prefetch_is_two_batches_and_fits_amqp() {
        let mut config = ConsumerConfig::new(Secret::new("amqp://x"), Topology::default());
        assert_eq!(config.prefetch(), 1_000);
        config.batch_max = 1_000_000;
        assert_eq!(config.prefetch(), u16::MAX);
    }
}
