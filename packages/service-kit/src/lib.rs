//! What every service shares, so that each one starts, logs, answers errors, reports its
//! health and stops the same way.
//!
//! - [`config`]: reading `CHAT_*` environment variables with defaults; [`config::Secret`].
//! - [`telemetry`]: `tracing` set-up (plain or JSON logs).
//! - [`shutdown`]: one `CancellationToken` cancelled by SIGINT/SIGTERM.
//! - [`ops`]: `/healthz`, `/readyz`, `/metrics`.
//! - [`redis`]: connecting to Redis with the timeouts and reconnection every service wants.
//! - [`http`]: the contract's error response ([`http::ApiError`]) and a JSON extractor whose
//!   refusals use it.

pub mod config;
pub mod http;
pub mod ops;
pub mod redis;
pub mod shutdown;
pub mod telemetry;

pub use http::{ApiError, Json};
