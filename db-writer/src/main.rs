//! The db-writer binary: consumes the db-writer queue into MongoDB and the search-index queue
//! into the search index, with `/healthz`, `/readyz` and `/metrics` on
//! `CHAT_DB_WRITER_LISTEN`.
//!
//! `db-writer reindex-search` instead rebuilds the search index from the stored messages and
//! exits (safe while other db-writers run: every index write is ordered by `rev`).

use tokio::net::TcpListener;

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    service_kit::telemetry::init();
    let config = db_writer::Config::from_env()?;
    match std::env::args().nth(1).as_deref() {
        None => {}
        Some("reindex-search") => return db_writer::reindex_search(&config).await,
        Some(other) => anyhow::bail!("unknown command {other:?}; the only one is reindex-search"),
    }
    let listener = TcpListener::bind(config.listen).await?;
    let shutdown = service_kit::shutdown::on_signal();
    db_writer::run(config, listener, shutdown).await
}
