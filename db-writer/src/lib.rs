//! db-writer: persists what socket nodes accepted — messages, edits, deletes and read
//! pointers — idempotently, so a redelivered or reordered event changes nothing twice.
//!
//! - [`writer`]: the rules, written once against [`store::ChatStore`]; the standalone server
//!   runs them in-process as the embedded hand-off's durable consumer.
//! - [`consumer`]: the distributed mode's RabbitMQ consumer: batches, acks after the store
//!   confirmed, dead-letters poison messages, reconnects by itself. One runs per queue.
//! - [`search`]: keeping the message search index from the search-index queue.
//! - [`Config`] and [`run`]: the service as its binary runs it, with `/healthz`, `/readyz`
//!   and `/metrics`, and beside the consumer the [`sequencer::Reconciler`], which stores what
//!   the Redis recent log holds but no event ever brought (a node died between sequencing a
//!   message and publishing it).

pub mod consumer;
pub mod search;
pub mod writer;

use std::net::SocketAddr;
use std::sync::{Arc, OnceLock};
use std::time::Duration;

use handoff::{ConsumerQueue, Topology};
use sequencer::{Reconciler, ReconcilerConfig};
use service_kit::config::{Backends, ConfigError, Secret, env_or};
use store::ChatStore;
use tokio::net::TcpListener;
use tokio_util::sync::CancellationToken;

pub use consumer::{Apply, Consumer, ConsumerConfig, ConsumerStatus};
pub use search::SearchIndexer;
pub use writer::{EmbeddedWriter, Writer};

/// The service's configuration: defaults in code, overridden by `CHAT_...` variables.
#[derive(Debug, Clone)]
pub struct Config {
    /// `CHAT_DB_WRITER_LISTEN`, `0.0.0.0:8080`: the operations endpoints.
    pub listen: SocketAddr,
    /// `CHAT_MONGODB_URL`, `mongodb://127.0.0.1:27017`.
    pub mongodb_url: Secret,
    /// `CHAT_MONGODB_DATABASE`, `chat`.
    pub mongodb_database: String,
    /// The consumer: `CHAT_AMQP_URL`, `CHAT_AMQP_PREFIX`, `CHAT_WRITER_BATCH_MAX`,
    /// `CHAT_WRITER_BATCH_WAIT_MS`, `CHAT_WRITER_MAX_ATTEMPTS`.
    pub consumer: ConsumerConfig,
    /// `CHAT_REDIS_URL`, `redis://127.0.0.1:6379`: the sequencer's recent logs.
    pub redis_url: Secret,
    /// `CHAT_REDIS_PREFIX`, `chat:`: the socket nodes' key prefix.
    pub redis_prefix: String,
    /// `CHAT_RECONCILE_AFTER_MS` (30000) and `CHAT_RECONCILE_INTERVAL_MS` (5000).
    pub reconcile: ReconcilerConfig,
}

impl Config {
    pub fn from_env() -> Result<Self, ConfigError> {
        let backends = Backends::from_env()?;
        let mut consumer = ConsumerConfig::new(
            backends.amqp_url,
            Topology::with_prefix(backends.amqp_prefix),
        );
        consumer.batch_max = positive("CHAT_WRITER_BATCH_MAX", consumer.batch_max)?;
        consumer.batch_wait = Duration::from_millis(env_or("CHAT_WRITER_BATCH_WAIT_MS", 20)?);
        consumer.max_attempts = positive("CHAT_WRITER_MAX_ATTEMPTS", consumer.max_attempts)?;
        let defaults = ReconcilerConfig::default();
        let reconcile = ReconcilerConfig {
            after: Duration::from_millis(env_or(
                "CHAT_RECONCILE_AFTER_MS",
                defaults.after.as_millis() as u64,
            )?),
            interval: Duration::from_millis(positive(
                "CHAT_RECONCILE_INTERVAL_MS",
                defaults.interval.as_millis() as u64,
            )?),
        };
        Ok(Config {
            listen: env_or(
                "CHAT_DB_WRITER_LISTEN",
                SocketAddr::from(([0, 0, 0, 0], 8080)),
            )?,
            mongodb_url: backends.mongodb_url,
            mongodb_database: backends.mongodb_database,
            consumer,
            redis_url: backends.redis_url,
            redis_prefix: backends.redis_prefix,
            reconcile,
        })
    }
}

fn positive<T>(name: &str, default: T) -> Result<T, ConfigError>
where
    T: std::str::FromStr + PartialOrd + From<u8> + std::fmt::Display + Copy,
    T::Err: std::fmt::Display,
{
    let value = env_or(name, default)?;
    if value < T::from(1) {
        return Err(ConfigError {
            name: name.to_string(),
            value: value.to_string(),
            reason: "must be at least 1".to_string(),
        });
    }
    Ok(value)
}

/// Runs the service until `shutdown`: the operations endpoints on `listener` at once, then
/// (once MongoDB answers) the two consumers (messages, search index) and the reconciler.
/// Returns after the consumers settled their last batches.
pub async fn run(
    config: Config,
    listener: TcpListener,
    shutdown: CancellationToken,
) -> anyhow::Result<()> {
    // Installed before anything records, so no early count is lost.
    let _ = service_kit::ops::metrics_handle();

    let store_cell: Arc<OnceLock<Arc<dyn ChatStore>>> = Arc::new(OnceLock::new());
    let status = ConsumerStatus::default();
    let search_status = ConsumerStatus::default();
    let checks = {
        let store_cell = store_cell.clone();
        let status = status.clone();
        let search_status = search_status.clone();
        vec![
            service_kit::ops::check("mongodb", move || {
                let store = store_cell.get().cloned();
                async move {
                    let store = store.ok_or_else(|| "connecting".to_string())?;
                    // Any cheap read: errors mean the database does not answer.
                    store
                        .room("db-writer-readiness-probe")
                        .await
                        .map(|_| ())
                        .map_err(|e| e.to_string())
                }
            }),
            service_kit::ops::check("rabbitmq", move || {
                let consuming = status.is_consuming() && search_status.is_consuming();
                async move {
                    if consuming {
                        Ok(())
                    } else {
                        Err("not consuming".to_string())
                    }
                }
            }),
        ]
    };
    let ops = tokio::spawn(service_kit::ops::serve(listener, checks, shutdown.clone()));

    let Some(store) = connect_store(&config, &shutdown).await else {
        ops.await??;
        return Ok(());
    };
    let search: Arc<dyn store::SearchStore> = Arc::new(store.clone());
    let store: Arc<dyn ChatStore> = Arc::new(store);
    let _ = store_cell.set(store.clone());
    let indexer = Consumer::of_queue(
        ConsumerQueue::SearchIndex,
        Arc::new(SearchIndexer::new(search)),
        config.consumer.clone(),
        search_status,
    );
    let indexing = tokio::spawn(indexer.run(shutdown.clone()));

    let reconciler = tokio::spawn(reconcile(
        config.redis_url.clone(),
        config.redis_prefix.clone(),
        store.clone(),
        config.reconcile,
        shutdown.clone(),
    ));
    let consumer = Consumer::with_status(Arc::new(Writer::new(store)), config.consumer, status);
    consumer.run(shutdown.clone()).await;
    indexing.await?;
    reconciler.await?;
    ops.await??;
    Ok(())
}

/// `db-writer reindex-search`: indexes every stored message again (see
/// [`store::SearchStore::reindex`]).
pub async fn reindex_search(config: &Config) -> anyhow::Result<()> {
    use store::SearchStore;
    let store =
        store::MongoStore::connect(config.mongodb_url.expose(), &config.mongodb_database).await?;
    let started = std::time::Instant::now();
    let indexed = store.reindex().await?;
    tracing::info!(indexed, took = ?started.elapsed(), "search index rebuilt");
    Ok(())
}

/// Runs the reconciler once Redis answers. Redis being away never stops the consumer: the
/// reconciler only waits for it.
async fn reconcile(
    url: Secret,
    prefix: String,
    store: Arc<dyn ChatStore>,
    config: ReconcilerConfig,
    shutdown: CancellationToken,
) {
    let mut delay = Duration::from_millis(200);
    let client = loop {
        tokio::select! {
            connected = service_kit::redis::connect(url.expose()) => match connected {
                Ok(client) => break client,
                Err(e) => tracing::warn!(error = %e, retry_in = ?delay, "Redis not available"),
            },
            _ = shutdown.cancelled() => return,
        }
        tokio::select! {
            _ = tokio::time::sleep(delay) => {}
            _ = shutdown.cancelled() => return,
        }
        delay = (delay * 2).min(Duration::from_secs(5));
    };
    Reconciler::new(client, prefix, store, config)
        .run(shutdown)
        .await;
}

/// Connects to MongoDB, retrying with backoff until it answers; `None` on shutdown first.
async fn connect_store(config: &Config, shutdown: &CancellationToken) -> Option<store::MongoStore> {
    let mut delay = Duration::from_millis(200);
    loop {
        let attempt =
            store::MongoStore::connect(config.mongodb_url.expose(), &config.mongodb_database);
        tokio::select! {
            connected = attempt => match connected {
                Ok(store) => return Some(store),
                Err(e) => tracing::warn!(error = %e, retry_in = ?delay, "MongoDB not available"),
            },
            _ = shutdown.cancelled() => return None,
        }
        tokio::select! {
            _ = tokio::time::sleep(delay) => {}
            _ = shutdown.cancelled() => return None,
        }
        delay = (delay * 2).min(Duration::from_secs(5));
    }
}
