//! The db-writer binary: consumes the db-writer queue into MongoDB, with `/healthz`, `/readyz`
//! and `/metrics` on `CHAT_DB_WRITER_LISTEN`.

use tokio::net::TcpListener;

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    service_kit::telemetry::init();
    let config = db_writer::Config::from_env()?;
    let listener = TcpListener::bind(config.listen).await?;
    let shutdown = service_kit::shutdown::on_signal();
    db_writer::run(config, listener, shutdown).await
}
