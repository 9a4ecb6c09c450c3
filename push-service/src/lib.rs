//! push-service: web push of new messages to room members who are offline, and the API
//! browsers subscribe through.
//!
//! - [`api`]: `GET /api/push/vapid-public-key`, `POST` and `DELETE /api/push/subscriptions`.
//! - [`sender`]: who gets a push for a message, RFC 8291 encryption and RFC 8292 VAPID, retries,
//!   deleting gone subscriptions; written once and run by both modes.
//! - [`consumer`]: the distributed mode's RabbitMQ consumer of the push-service queue.
//! - [`dedupe`]: at most one push per device and event, on Redis or in process.
//! - [`keys`]: the VAPID key pair, from configuration or generated once into a directory.
//! - [`Config`] and [`run`]: the service as its binary runs it; [`embedded`]: the pieces the
//!   standalone server mounts on its own hand-off and listener.

pub mod api;
pub mod consumer;
pub mod dedupe;
mod error;
pub mod keys;
pub mod sender;

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use axum::Router;
use presence::Presence;
use service_kit::config::{Backends, ConfigError, Secret, TokenConfig, env_or, secret_from_env};
use service_kit::ops;
use store::{AuthStore, ChatStore, PushStore};
use token::Verifier;
use tokio::net::TcpListener;
use tokio_util::sync::CancellationToken;

pub use api::AppState;
pub use consumer::{Consumer, ConsumerConfig, ConsumerStatus};
pub use dedupe::{Dedupe, MemoryDedupe, RedisDedupe};
pub use error::{Error, Result};
pub use keys::VapidKeys;
pub use sender::{Deps, Report, Sender, Settings};

impl Settings {
    /// The sender's settings from `CHAT_VAPID_SUBJECT` and `CHAT_PUSH_*`; both modes read them.
    pub fn from_env() -> Result<Self, ConfigError> {
        let d = Settings::default();
        let millis = |name: &str, default: Duration| -> Result<Duration, ConfigError> {
            Ok(Duration::from_millis(env_or(
                name,
                u64::try_from(default.as_millis()).unwrap_or(u64::MAX),
            )?))
        };
        let settings = Settings {
            subject: env_or("CHAT_VAPID_SUBJECT", d.subject)?,
            ttl: Duration::from_secs(env_or("CHAT_PUSH_TTL_SECS", d.ttl.as_secs())?),
            max_attempts: env_or("CHAT_PUSH_MAX_ATTEMPTS", d.max_attempts)?.max(1),
            retry_base: millis("CHAT_PUSH_RETRY_BASE_MS", d.retry_base)?,
            max_retry_delay: millis("CHAT_PUSH_MAX_RETRY_DELAY_MS", d.max_retry_delay)?,
            request_timeout: millis("CHAT_PUSH_REQUEST_TIMEOUT_MS", d.request_timeout)?,
            concurrency: env_or("CHAT_PUSH_CONCURRENCY", d.concurrency)?.max(1),
            max_pending_per_device: env_or(
                "CHAT_PUSH_MAX_PENDING_PER_DEVICE",
                d.max_pending_per_device,
            )?
            .max(1),
            stuck_after: millis("CHAT_PUSH_STUCK_AFTER_MS", d.stuck_after)?,
            dedupe_ttl: Duration::from_secs(env_or(
                "CHAT_PUSH_DEDUPE_TTL_SECS",
                d.dedupe_ttl.as_secs(),
            )?),
            allow_http_loopback: env_or("CHAT_PUSH_ALLOW_HTTP_LOOPBACK", d.allow_http_loopback)?,
        };
        if !(settings.subject.starts_with("mailto:") || settings.subject.starts_with("https://")) {
            return Err(ConfigError {
                name: "CHAT_VAPID_SUBJECT".into(),
                value: settings.subject,
                reason: "must be a mailto: or https: URL (RFC 8292)".into(),
            });
        }
        Ok(settings)
    }
}

/// The distributed service's configuration.
#[derive(Debug, Clone)]
pub struct Config {
    /// `CHAT_PUSH_LISTEN`, `0.0.0.0:8080`: the API and the operations endpoints.
    pub listen: SocketAddr,
    pub backends: Backends,
    /// How access tokens are verified (`CHAT_JWT_PUBLIC_KEY`, `CHAT_JWT_ISSUER`,
    /// `CHAT_JWT_AUDIENCE`).
    pub tokens: TokenConfig,
    /// The VAPID private key (P-256, PEM or base64url): `CHAT_VAPID_PRIVATE_KEY` or
    /// `CHAT_VAPID_PRIVATE_KEY_FILE`. Required.
    pub vapid_private_key: Secret,
    pub settings: Settings,
    /// The consumer; `CHAT_PUSH_PREFETCH` sizes it.
    pub consumer: ConsumerConfig,
}

impl Config {
    pub fn from_env() -> anyhow::Result<Self> {
        let vapid = secret_from_env("CHAT_VAPID_PRIVATE_KEY")?.ok_or_else(|| {
            anyhow::anyhow!(
                "set CHAT_VAPID_PRIVATE_KEY or CHAT_VAPID_PRIVATE_KEY_FILE (P-256 private key)"
            )
        })?;
        let backends = Backends::from_env()?;
        let mut consumer = ConsumerConfig::new(
            backends.amqp_url.clone(),
            handoff::Topology::with_prefix(backends.amqp_prefix.clone()),
        );
        consumer.prefetch = env_or("CHAT_PUSH_PREFETCH", consumer.prefetch)?.max(1);
        Ok(Config {
            listen: env_or("CHAT_PUSH_LISTEN", SocketAddr::from(([0, 0, 0, 0], 8080)))?,
            backends,
            tokens: TokenConfig::from_env()?,
            vapid_private_key: vapid,
            settings: Settings::from_env()?,
            consumer,
        })
    }
}

/// What the standalone server mounts: the sender (a background consumer of its hand-off) and
/// the API routes.
pub struct Embedded {
    pub sender: Arc<Sender>,
    pub router: Router,
}

/// The push service over one store that holds everything (the standalone SQLite file), the
/// process's presence, and in-process dedupe.
pub fn embedded<S>(
    store: Arc<S>,
    presence: Arc<dyn Presence>,
    verifier: Arc<Verifier>,
    keys: VapidKeys,
    settings: Settings,
) -> Result<Embedded>
where
    S: ChatStore + AuthStore + PushStore,
{
    let state = AppState {
        subscriptions: store.clone(),
        verifier: verifier.clone(),
        keys: keys.clone(),
        allow_http_loopback: settings.allow_http_loopback,
    };
    let deps = Deps {
        rooms: store.clone(),
        users: store.clone(),
        subscriptions: store,
        presence,
        dedupe: Arc::new(MemoryDedupe::new()),
    };
    Ok(Embedded {
        sender: Arc::new(Sender::new(deps, keys, settings)?),
        router: api::router(state),
    })
}

/// Runs the distributed service until `shutdown`: the API and the operations endpoints on
/// `listener`, and the consumer. Returns once both stopped.
pub async fn run(
    config: Config,
    listener: TcpListener,
    shutdown: CancellationToken,
) -> anyhow::Result<()> {
    let _ = ops::metrics_handle();
    let b = &config.backends;
    let keys = VapidKeys::from_private(config.vapid_private_key.expose())?;
    let verifier = config.tokens.verifier()?;
    let store =
        Arc::new(store::MongoStore::connect(b.mongodb_url.expose(), &b.mongodb_database).await?);
    let redis = service_kit::redis::connect(b.redis_url.expose()).await?;
    // A presence node without sockets: it only reads, and helps reap dead socket nodes.
    let presence = Arc::new(
        presence::RedisPresence::start(
            redis.clone(),
            b.redis_prefix.clone(),
            format!("push-{}", uuid::Uuid::new_v4().simple()),
            presence::RedisPresenceConfig::default(),
            shutdown.clone(),
        )
        .await?,
    );
    let deps = Deps {
        rooms: store.clone(),
        users: store.clone(),
        subscriptions: store.clone(),
        presence,
        dedupe: Arc::new(RedisDedupe::new(redis.clone(), b.redis_prefix.clone())),
    };
    let state = AppState {
        subscriptions: store.clone(),
        verifier: verifier.clone(),
        keys: keys.clone(),
        allow_http_loopback: config.settings.allow_http_loopback,
    };
    let sender = Arc::new(Sender::new(deps, keys, config.settings)?);
    let status = ConsumerStatus::default();
    let consumer =
        tokio::spawn(Consumer::new(sender, config.consumer, status.clone()).run(shutdown.clone()));

    let checks = vec![
        ops::token_keys(verifier.clone()),
        ops::check("mongodb", move || {
            let store = store.clone();
            async move {
                AuthStore::ping(store.as_ref())
                    .await
                    .map_err(|e| e.to_string())
            }
        }),
        ops::check("rabbitmq", move || {
            let consuming = status.is_consuming();
            async move {
                if consuming {
                    Ok(())
                } else {
                    Err("not consuming".to_string())
                }
            }
        }),
        service_kit::redis::check(redis),
    ];
    let app = ops::with_operations(api::router(state), checks);
    tracing::info!(addr = %listener.local_addr()?, "push-service listening");
    axum::serve(listener, app)
        .with_graceful_shutdown(shutdown.cancelled_owned())
        .await?;
    consumer.await?;
    Ok(())
}
