//! The distributed socket node: MongoDB for rooms and history, Redis for fan-out (socketioxide's
//! adapter), sequencing, presence, rate limits and membership invalidation, RabbitMQ for the
//! hand-off. Any number of nodes run side by side behind a load balancer.

use std::net::SocketAddr;
use std::sync::Arc;

use service_kit::config::{Backends, ConfigError, TokenConfig, env_or};
use service_kit::ops;
use socketioxide::SocketIo;
use socketioxide_redis::{FredAdapter, RedisAdapterConfig, RedisAdapterCtr};
use tokio::net::TcpListener;
use tokio_util::sync::CancellationToken;

use crate::membership::{Membership, RedisInvalidator};
use crate::{Chat, Deps, Limits, socket};

#[derive(Debug, Clone)]
pub struct Config {
    /// `CHAT_SOCKET_LISTEN`, `0.0.0.0:8080`.
    pub listen: SocketAddr,
    pub backends: Backends,
    /// How access tokens are verified (`CHAT_JWT_PUBLIC_KEY`, `CHAT_JWT_ISSUER`,
    /// `CHAT_JWT_AUDIENCE`).
    pub tokens: TokenConfig,
    /// `CHAT_PRESENCE_NODE_TTL_MS`, 15000: a dead node's users go offline within about 4/3 of it.
    pub presence_node_ttl: std::time::Duration,
    /// `CHAT_SEQUENCER_DRAIN_WRITER`, `true`: after Redis lost its data, numbering resumes only
    /// once db-writer has stored every event handed off before (so no `seq` or `rev` is given
    /// twice). `false` only where no db-writer runs, as in tests of the nodes alone.
    pub drain_writer: bool,
    pub limits: Limits,
}

impl Config {
    pub fn from_env() -> anyhow::Result<Self> {
        Ok(Config {
            listen: env_or("CHAT_SOCKET_LISTEN", SocketAddr::from(([0, 0, 0, 0], 8080)))?,
            backends: Backends::from_env()?,
            tokens: TokenConfig::from_env()?,
            presence_node_ttl: std::time::Duration::from_millis(env_or(
                "CHAT_PRESENCE_NODE_TTL_MS",
                15_000u64,
            )?),
            drain_writer: env_or("CHAT_SEQUENCER_DRAIN_WRITER", true)?,
            limits: Limits::from_env().map_err(|e: ConfigError| anyhow::anyhow!(e))?,
        })
    }
}

/// Runs one socket node on `listener` until `shutdown` is cancelled.
pub async fn run(
    config: Config,
    listener: TcpListener,
    shutdown: CancellationToken,
) -> anyhow::Result<()> {
    let b = &config.backends;
    let prefix = b.redis_prefix.clone();
    let store =
        Arc::new(store::MongoStore::connect(b.mongodb_url.expose(), &b.mongodb_database).await?);
    tracing::info!("connected to MongoDB");
    let redis = service_kit::redis::connect(b.redis_url.expose()).await?;
    tracing::info!("connected to Redis");
    let verifier = config.tokens.verifier()?;
    let presence = Arc::new(
        presence::RedisPresence::start(
            redis.clone(),
            prefix.clone(),
            uuid::Uuid::new_v4().simple().to_string(),
            presence::RedisPresenceConfig {
                node_ttl: config.presence_node_ttl,
            },
            shutdown.clone(),
        )
        .await?,
    );
    let handoff = Arc::new(
        handoff::RabbitHandOff::connect(
            b.amqp_url.expose(),
            handoff::Topology {
                prefix: b.amqp_prefix.clone(),
                ..Default::default()
            },
        )
        .await?,
    );
    tracing::info!("connected to RabbitMQ");
    let channel = format!("{prefix}membership");
    let membership = Arc::new(Membership::new(
        store.clone(),
        Arc::new(RedisInvalidator::new(redis.clone(), channel.clone())),
    ));
    RedisInvalidator::listen(
        service_kit::redis::subscriber(b.redis_url.expose()).await?,
        channel,
        membership.clone(),
    )
    .await?;
    let deps = Deps {
        users: store.clone(),
        store: store.clone(),
        files: store.clone(),
        search: store.clone(),
        sequencer: Arc::new({
            let sequencer = sequencer::RedisSequencer::new(
                redis.clone(),
                prefix.clone(),
                store.clone(),
                sequencer::RedisSequencerConfig::default(),
            );
            if config.drain_writer {
                sequencer.with_drain(Arc::new(WriterDrain {
                    handoff: handoff.clone(),
                    store: store.clone(),
                }))
            } else {
                sequencer
            }
        }),
        handoff: handoff.clone(),
        presence: presence.clone(),
        limiter: Arc::new(rate_limit::RedisLimiter::new(redis.clone(), prefix.clone())),
    };
    let chat = Arc::new(Chat::new(deps, config.limits.clone(), membership));

    let adapter = RedisAdapterCtr::new_with_fred_config(
        service_kit::redis::subscriber(b.redis_url.expose()).await?,
        RedisAdapterConfig::new().with_prefix(format!("{prefix}socket.io")),
    )
    .await?;
    let (layer, io) = crate::builder(&config.limits, chat.clone(), verifier.clone())
        .with_adapter::<FredAdapter<_>>(adapter)
        .build_layer();
    socket::register(&io, &chat).await?;
    announce_dead_nodes_users(&io, &chat, &presence, shutdown.clone());

    let service = crate::assemble(chat, io.clone(), layer, verifier.clone(), &config.limits);
    let checks = vec![
        ops::token_keys(verifier.clone()),
        ops::check("mongodb", {
            let store = store.clone();
            move || {
                let store = store.clone();
                async move {
                    store::AuthStore::ping(store.as_ref())
                        .await
                        .map_err(|e| e.to_string())
                }
            }
        }),
        ops::check("rabbitmq", move || {
            let handoff = handoff.clone();
            async move {
                if handoff.is_connected() {
                    Ok(())
                } else {
                    Err("not connected (reconnecting)".to_string())
                }
            }
        }),
        service_kit::redis::check(redis),
    ];
    let app = service.wrap(ops::with_operations(service.router.clone(), checks));
    tracing::info!(addr = %listener.local_addr()?, "socket-service listening");
    let stop = crate::close_then_drain(shutdown, io);
    axum::serve(
        listener,
        app.into_make_service_with_connect_info::<SocketAddr>(),
    )
    .with_graceful_shutdown(stop)
    .await?;
    Ok(())
}

/// How the sequencer waits for the writer after Redis lost its data: a barrier event through
/// the hand-off, behind everything handed off before it, and the writer's record of it.
struct WriterDrain {
    handoff: Arc<handoff::RabbitHandOff>,
    store: Arc<store::MongoStore>,
}

/// How long a drain waits for the writer before the sends that wait on it are refused (they
/// are retried, and the next one drains again).
const DRAIN_WAIT: std::time::Duration = std::time::Duration::from_secs(10);
/// How long a hand-off of a message sequenced before Redis lost its data may still take to
/// reach the broker: the barrier is published after it, so that it queues behind them.
const HAND_OFF_IN_FLIGHT: std::time::Duration = std::time::Duration::from_secs(2);

#[async_trait::async_trait]
impl sequencer::Drain for WriterDrain {
    async fn drain(&self) -> std::result::Result<(), String> {
        use handoff::HandOff;
        use store::ChatStore;
        tokio::time::sleep(HAND_OFF_IN_FLIGHT).await;
        let id = uuid::Uuid::now_v7().simple().to_string();
        self.handoff
            .publish(&models::events::Event::WriterBarrier { id: id.clone() })
            .await
            .map_err(|e| e.to_string())?;
        let give_up = tokio::time::Instant::now() + DRAIN_WAIT;
        loop {
            if self
                .store
                .barrier_recorded(&id)
                .await
                .map_err(|e| e.to_string())?
            {
                return Ok(());
            }
            if tokio::time::Instant::now() >= give_up {
                return Err(format!(
                    "the writer did not store barrier {id} within {DRAIN_WAIT:?}"
                ));
            }
            tokio::time::sleep(std::time::Duration::from_millis(100)).await;
        }
    }
}

/// When another node dies, the node that reaps it tells the co-members of its users that they
/// went offline.
fn announce_dead_nodes_users<A: socketioxide::adapter::Adapter>(
    io: &SocketIo<A>,
    chat: &Arc<Chat>,
    presence: &presence::RedisPresence,
    shutdown: CancellationToken,
) {
    let mut offline = presence.subscribe_offline();
    let io = io.clone();
    let chat = chat.clone();
    tokio::spawn(async move {
        loop {
            let user_id = tokio::select! {
                _ = shutdown.cancelled() => break,
                next = offline.recv() => match next {
                    Ok(user_id) => user_id,
                    Err(tokio::sync::broadcast::error::RecvError::Lagged(_)) => continue,
                    Err(tokio::sync::broadcast::error::RecvError::Closed) => break,
                },
            };
            if let Ok(rooms) = chat.room_ids_of(&user_id).await {
                crate::emit::Emitter::new(io.clone())
                    .presence(&user_id, &rooms, false)
                    .await;
            }
        }
    });
}
