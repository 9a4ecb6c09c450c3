//! The distributed file-service binary.

use tokio::net::TcpListener;

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    service_kit::telemetry::init();
    let config = file_service::Config::from_env()?;
    let listener = TcpListener::bind(config.listen).await?;
    let shutdown = service_kit::shutdown::on_signal();
    file_service::run(config, listener, shutdown).await
}
