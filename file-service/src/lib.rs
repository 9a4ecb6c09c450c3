//! file-service: attachments (`/api/files`). The bytes go straight between the browser and
//! object storage through short-lived URLs this service signs: an upload URL bound to the
//! declared size and type, and download URLs for members of the file's room only. `complete`
//! checks what was stored (size, type, and the first bytes against the declared type) before
//! a message may attach the file.
//!
//! - [`config`]: the settings both run modes share ([`Settings`]) and the distributed
//!   service's [`Config`].
//! - [`state`]: what handlers share ([`AppState`]).
//! - [`routes`]: the HTTP handlers and [`router`].
//! - [`sniff`]: does a file start the way its declared type says?
//! - [`sweeper`]: removing expired uploads and the files of deleted messages from storage.
//! - [`error`]: the service's errors and their HTTP form.
//! - [`run`]: the distributed service: MongoDB, S3, the listener, shutdown.

pub mod config;
pub mod error;
pub mod routes;
pub mod sniff;
pub mod state;
pub mod sweeper;

use std::sync::Arc;

use service_kit::ops::{self, Check};
use storage::ObjectStorage;
use tokio::net::TcpListener;
use tokio_util::sync::CancellationToken;

pub use config::{Config, S3Settings, Settings};
pub use error::{Error, Result};
pub use routes::router;
pub use state::AppState;

/// Runs the distributed file-service on `listener` until `shutdown` is cancelled.
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
    let storage = Arc::new(storage::S3Storage::connect(config.s3.to_s3_config()).await?);
    let verifier = config.tokens.verifier()?;
    let state = AppState {
        files: store.clone(),
        rooms: store.clone(),
        storage: storage.clone(),
        verifier: verifier.clone(),
        settings: Arc::new(config.settings),
    };
    let checks: Vec<Arc<dyn Check>> = vec![
        ops::token_keys(verifier.clone()),
        ops::check("mongodb", move || {
            let store = store.clone();
            async move {
                store::AuthStore::ping(store.as_ref())
                    .await
                    .map_err(|e| e.to_string())
            }
        }),
        ops::check("s3", move || {
            let storage = storage.clone();
            async move { storage.ping().await.map_err(|e| e.to_string()) }
        }),
    ];
    let sweeper = sweeper::spawn(state.clone(), shutdown.clone());
    let app = ops::with_operations(router(state), checks);
    tracing::info!(addr = %listener.local_addr()?, "file-service listening");
    axum::serve(listener, app)
        .with_graceful_shutdown(shutdown.cancelled_owned())
        .await?;
    sweeper.await?;
    Ok(())
}
