//! `cargo run --release`: the whole chat backend in one process.
//!
//! `cargo run --release -- reindex-search` instead rebuilds the message search index of the
//! data directory's `chat.db` and exits (needed only after a `VACUUM` of the file).

use tokio::net::TcpListener;

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    service_kit::telemetry::init();
    let config = chat::Config::from_env()?;
    match std::env::args().nth(1).as_deref() {
        None => {}
        Some("reindex-search") => return chat::reindex_search(&config).await,
        Some(other) => anyhow::bail!("unknown command {other:?}; the only one is reindex-search"),
    }
    let listener = TcpListener::bind(config.listen).await?;
    let shutdown = service_kit::shutdown::on_signal();
    chat::run(config, listener, shutdown).await
}
