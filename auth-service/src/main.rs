//! The distributed auth-service binary.

use tokio::net::TcpListener;

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    service_kit::telemetry::init();
    let config = auth_service::Config::from_env()?;
    let listener = TcpListener::bind(config.listen).await?;
    let shutdown = service_kit::shutdown::on_signal();
    auth_service::run(config, listener, shutdown).await
}
