//! The push-service binary: the push API, the consumer of the push-service queue, and
//! `/healthz`, `/readyz`, `/metrics`, on `CHAT_PUSH_LISTEN`.

use tokio::net::TcpListener;

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    service_kit::telemetry::init();
    let config = push_service::Config::from_env()?;
    let listener = TcpListener::bind(config.listen).await?;
    let shutdown = service_kit::shutdown::on_signal();
    push_service::run(config, listener, shutdown).await
}
