//! auth-service: accounts and tokens (`/api/auth/*`, `/api/users`).
//!
//! Registration and login return a session: a short-lived EdDSA access token and a refresh
//! token. Refresh tokens are stored only hashed, in families (one per login), single-use; a
//! reused token revokes its family. Failed logins are throttled per username and per client
//! address.
//!
//! - [`config`]: the service's settings and how the distributed binary reads them.
//! - [`state`]: what handlers share ([`AppState`]).
//! - [`routes`]: the HTTP handlers and [`router`].
//! - [`password`]: Argon2id hashing off the async runtime.
//! - [`error`]: the service's errors and their HTTP form.
//! - [`run`]: the distributed service: MongoDB, Redis, the listener, shutdown.

pub mod config;
pub mod error;
pub mod password;
pub mod routes;
pub mod state;

use std::net::SocketAddr;
use std::sync::Arc;

use service_kit::ops::{self, Check};
use tokio::net::TcpListener;
use tokio_util::sync::CancellationToken;

pub use config::{Config, Settings};
pub use error::{Error, Result};
pub use routes::router;
pub use state::AppState;

/// Runs the distributed auth-service on `listener` until `shutdown` is cancelled.
pub async fn run(
    config: Config,
    listener: TcpListener,
    shutdown: CancellationToken,
) -> anyhow::Result<()> {
    let store = Arc::new(
        store::MongoStore::connect(
            config.backends.mongodb_url.expose(),
            &config.backends.mongodb_database,
        )
        .await?,
    );
    let redis = service_kit::redis::connect(config.backends.redis_url.expose()).await?;
    let limiter = Arc::new(rate_limit::RedisLimiter::new(
        redis.clone(),
        config.backends.redis_prefix.clone(),
    ));
    let keys = config.signing_key()?;
    let state = AppState::new(store.clone(), limiter, &keys, config.settings.clone())?
        .with_published_keys(config.published_keys()?);
    let checks: Vec<Arc<dyn Check>> = vec![
        Arc::new(state::StoreCheck(store)),
        service_kit::redis::check(redis),
    ];
    let app = ops::with_operations(router(state), checks);
    tracing::info!(addr = %listener.local_addr()?, "auth-service listening");
    axum::serve(
        listener,
        app.into_make_service_with_connect_info::<SocketAddr>(),
    )
    .with_graceful_shutdown(shutdown.cancelled_owned())
    .await?;
    Ok(())
}
