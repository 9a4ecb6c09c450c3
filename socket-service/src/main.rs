//! The distributed socket-service binary: one node of many behind a load balancer.

use tokio::net::TcpListener;

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    service_kit::telemetry::init();
    let config = socket_service::distributed::Config::from_env()?;
    let listener = TcpListener::bind(config.listen).await?;
    let shutdown = service_kit::shutdown::on_signal();
    socket_service::distributed::run(config, listener, shutdown).await
}
