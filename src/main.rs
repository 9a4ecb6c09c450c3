//! `cargo run --release`: the whole chat backend in one process.

use tokio::net::TcpListener;

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    service_kit::telemetry::init();
    let config = chat::Config::from_env()?;
    let listener = TcpListener::bind(config.listen).await?;
    let shutdown = service_kit::shutdown::on_signal();
    chat::run(config, listener, shutdown).await
}
