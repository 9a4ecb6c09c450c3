//! The load generator's errors.

#[derive(Debug, thiserror::Error)]
pub enum Error {
    #[error("i/o: {0}")]
    Io(#[from] std::io::Error),
    #[error("websocket: {0}")]
    WebSocket(#[from] tokio_tungstenite::tungstenite::Error),
    #[error("http: {0}")]
    Http(#[from] reqwest::Error),
    #[error("json: {0}")]
    Json(#[from] serde_json::Error),
    #[error("the connection closed")]
    Closed,
    #[error("the server refused the connection: {0}")]
    Refused(String),
    #[error("protocol: {0}")]
    Protocol(String),
    #[error("set-up: {0}")]
    Setup(String),
}

pub type Result<T, E = Error> = std::result::Result<T, E>;
