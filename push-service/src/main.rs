//! The push-service binary. For now it serves only its operations endpoints
//! (`/healthz`, `/readyz`, `/metrics`); its work runs inside the standalone server.

use service_kit::config::env_or;
use tokio::net::TcpListener;

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    service_kit::telemetry::init();
    let listen: std::net::SocketAddr = env_or("CHAT_PUSH_LISTEN", "0.0.0.0:8080".parse()?)?;
    let listener = TcpListener::bind(listen).await?;
    let shutdown = service_kit::shutdown::on_signal();
    service_kit::ops::serve(listener, Vec::new(), shutdown).await?;
    Ok(())
}
