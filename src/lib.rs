//! The standalone server: every service of the chat backend in one process, on one port, with
//! the embedded stand-ins instead of the external systems: an SQLite file instead of MongoDB,
//! the store's own transaction instead of the Redis sequencer, in-process fan-out, presence
//! and rate limits instead of Redis, an in-process hand-off to the writer (and, in the
//! background, to the web-push sender) instead of RabbitMQ, and a local directory whose URLs
//! the server signs itself instead of S3. This crate only composes; the logic lives in the
//! service crates.
//!
//! - [`Config`]: where to listen and where the data lives.
//! - [`run`]: builds the embedded adapters and serves every service's routes.
//! - [`web`]: the browser app at `/`.
//! - [`data_dir`]: the data directory, private to the server's user.

use std::net::SocketAddr;
use std::path::PathBuf;
use std::sync::Arc;

use service_kit::config::{ConfigError, env_or};
use service_kit::ops::{self, Check};
use tokio::net::TcpListener;
use tokio_util::sync::CancellationToken;

pub mod data_dir;
pub mod web;

/// The standalone server's own settings; each service adds its own from the environment.
#[derive(Debug, Clone)]
pub struct Config {
    /// `CHAT_LISTEN`, `127.0.0.1:3000`.
    pub listen: SocketAddr,
    /// `CHAT_DATA_DIR`, `./data`: the SQLite file, the generated keys and the uploaded files
    /// (`files/`).
    pub data_dir: PathBuf,
    /// `CHAT_WEB_DIR`, `web/dist`: the built browser app (`scripts/setup` builds it).
    pub web_dir: PathBuf,
    pub auth: auth_service::Settings,
    pub files: file_service::Settings,
    pub limits: socket_service::Limits,
    pub push: push_service::Settings,
}

impl Config {
    pub fn from_env() -> Result<Self, ConfigError> {
        Ok(Config {
            listen: env_or("CHAT_LISTEN", SocketAddr::from(([127, 0, 0, 1], 3000)))?,
            data_dir: env_or("CHAT_DATA_DIR", PathBuf::from("data"))?,
            web_dir: env_or("CHAT_WEB_DIR", PathBuf::from("web/dist"))?,
            auth: auth_service::Settings::from_env()?,
            files: file_service::Settings::from_env()?,
            limits: socket_service::Limits::from_env()?,
            push: push_service::Settings::from_env()?,
        })
    }
}

/// `reindex-search`: rebuilds the message search index of the data directory's `chat.db`.
pub async fn reindex_search(config: &Config) -> anyhow::Result<()> {
    use store::SearchStore;
    data_dir::prepare(&config.data_dir)?;
    let store = store::SqliteStore::open(config.data_dir.join("chat.db"))?;
    let indexed = store.reindex().await?;
    tracing::info!(indexed, "search index rebuilt");
    Ok(())
}

/// Serves everything on `listener` until `shutdown` is cancelled.
pub async fn run(
    config: Config,
    listener: TcpListener,
    shutdown: CancellationToken,
) -> anyhow::Result<()> {
    data_dir::prepare(&config.data_dir)?;
    let store = Arc::new(store::SqliteStore::open(config.data_dir.join("chat.db"))?);
    let keys = token::KeyPair::load_or_generate(&config.data_dir.join("keys"))?;
    let limiter = Arc::new(rate_limit::LocalLimiter::new());

    let auth = auth_service::AppState::new(store.clone(), limiter.clone(), &keys, config.auth)?;
    let writer = Arc::new(db_writer::Writer::new(store.clone()));
    let presence = Arc::new(presence::LocalPresence::new());
    let push = push_service::embedded(
        store.clone(),
        presence.clone(),
        auth.verifier.clone(),
        push_service::VapidKeys::load_or_generate(&config.data_dir.join("keys"))?,
        config.push,
    )?;
    let deps = socket_service::Deps {
        users: store.clone(),
        store: store.clone(),
        files: store.clone(),
        search: store.clone(),
        sequencer: Arc::new(sequencer::StoreSequencer::new((*store).clone())),
        handoff: Arc::new(handoff::EmbeddedHandOff::new(
            Arc::new(db_writer::EmbeddedWriter(writer)),
            vec![push.sender],
        )),
        presence,
        limiter,
    };
    let sockets = socket_service::local(deps, config.limits, auth.verifier.clone());
    // Uploads go to a directory; the server signs and serves their URLs itself.
    let objects = storage::LocalStorage::open(config.data_dir.join("files"), "")?;
    let files = file_service::AppState {
        files: store.clone(),
        rooms: store.clone(),
        storage: Arc::new(objects.clone()),
        verifier: auth.verifier.clone(),
        settings: Arc::new(config.files),
    };
    let sweeper = file_service::sweeper::spawn(files.clone(), shutdown.clone());
    let checks: Vec<Arc<dyn Check>> = vec![Arc::new(auth_service::state::StoreCheck(store))];

    let app = sockets.wrap(service_kit::http::with_security_headers(
        auth_service::router(auth)
            .merge(push.router)
            .merge(ops::router(checks))
            .merge(sockets.router.clone())
            .merge(file_service::router(files))
            .merge(objects.router())
            .fallback_service(web::fallback(&config.web_dir)),
    ));
    // Tell every client why before the listener stops, so they reconnect at once.
    let stop = socket_service::close_then_drain(shutdown, sockets.io.clone());
    tracing::info!("chat server listening on http://{}", listener.local_addr()?);
    axum::serve(
        listener,
        app.into_make_service_with_connect_info::<SocketAddr>(),
    )
    .with_graceful_shutdown(stop)
    .await?;
    sweeper.await?;
    Ok(())
}
