//! The limits a socket node enforces, each configurable (`CHAT_*`) with a default here.

use std::time::Duration;

use rate_limit::Rule;
use service_kit::config::{ConfigError, env_opt, env_or};

/// Which browser origins may open a Socket.IO connection.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Origins {
    /// Any origin (`CHAT_ALLOWED_ORIGINS=*`).
    Any,
    /// Same-origin requests (Origin matching Host) and these origins.
    List(Vec<String>),
}

#[derive(Debug, Clone)]
pub struct Limits {
    /// `CHAT_MAX_BODY_CHARS`, 4000: a message body's length after trimming.
    pub max_body_chars: usize,
    /// `CHAT_MAX_PAYLOAD_BYTES`, 65536: one Socket.IO packet, one WebSocket message or frame,
    /// one polling request body. A client that exceeds it is disconnected.
    pub max_payload_bytes: usize,
    /// `CHAT_SEND_RATE_BURST` (30) messages per `CHAT_SEND_RATE_WINDOW_MS` (10000), per user
    /// across all their sockets.
    pub send_rate: Rule,
    /// `CHAT_TYPING_RATE_BURST` (5) typing events per `CHAT_TYPING_RATE_WINDOW_MS` (3000), per
    /// user and room; excess is dropped.
    pub typing_rate: Rule,
    /// `CHAT_SEARCH_RATE_BURST` (30) searches per `CHAT_SEARCH_RATE_WINDOW_MS` (10000), per
    /// user: a search reads far more than a send writes.
    pub search_rate: Rule,
    /// `CHAT_ALLOWED_ORIGINS`: comma-separated, or `*`; by default same-origin only.
    pub allowed_origins: Origins,
}

impl Default for Limits {
    fn default() -> Self {
        Limits {
            max_body_chars: 4000,
            max_payload_bytes: 64 * 1024,
            send_rate: Rule::new(30, Duration::from_secs(10)),
            typing_rate: Rule::new(5, Duration::from_secs(3)),
            search_rate: Rule::new(30, Duration::from_secs(10)),
            allowed_origins: Origins::List(Vec::new()),
        }
    }
}

impl Limits {
    pub fn from_env() -> Result<Self, ConfigError> {
        let d = Limits::default();
        let origins = match env_opt("CHAT_ALLOWED_ORIGINS") {
            Some(v) if v.trim() == "*" => Origins::Any,
            Some(v) => Origins::List(
                v.split(',')
                    .map(|o| o.trim().trim_end_matches('/').to_ascii_lowercase())
                    .filter(|o| !o.is_empty())
                    .collect(),
            ),
            None => d.allowed_origins,
        };
        Ok(Limits {
            max_body_chars: env_or("CHAT_MAX_BODY_CHARS", d.max_body_chars)?,
            max_payload_bytes: env_or("CHAT_MAX_PAYLOAD_BYTES", d.max_payload_bytes)?,
            send_rate: Rule::new(
                env_or("CHAT_SEND_RATE_BURST", d.send_rate.burst)?,
                Duration::from_millis(env_or("CHAT_SEND_RATE_WINDOW_MS", 10_000u64)?),
            ),
            typing_rate: Rule::new(
                env_or("CHAT_TYPING_RATE_BURST", d.typing_rate.burst)?,
                Duration::from_millis(env_or("CHAT_TYPING_RATE_WINDOW_MS", 3_000u64)?),
            ),
            search_rate: Rule::new(
                env_or("CHAT_SEARCH_RATE_BURST", d.search_rate.burst)?,
                Duration::from_millis(env_or("CHAT_SEARCH_RATE_WINDOW_MS", 10_000u64)?),
            ),
            allowed_origins: origins,
        })
    }
}
