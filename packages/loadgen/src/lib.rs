//! The benchmarks' load generator and what surrounds it.
//!
//! - [`sio`]: one Socket.IO v5 client connection over WebSocket (what the official client
//!   sends), bound to a chosen 127.0.0.x source address.
//! - [`setup`]: users and rooms, over the chat's HTTP API or made up for a relay.
//! - [`load`]: the runs: rooms with open-loop senders in rising steps, and idle connections.
//! - [`stats`]: HDR latency histograms, counts, the servers' CPU time and memory from `/proc`.
//! - [`plot`]: the PNG plots of `BENCHMARKS.md` from the results of a run.
//! - [`raw`]: the ceiling: a plain WebSocket broadcast server speaking the same frames with
//!   none of Socket.IO behind them.

pub mod error;
pub mod load;
pub mod plot;
pub mod raw;
pub mod setup;
pub mod sio;
pub mod stats;

pub use error::{Error, Result};

/// Milliseconds since the Unix epoch.
pub fn unix_millis() -> u64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_millis() as u64)
        .unwrap_or(0)
}

/// A short id that differs between runs, for names (users, rooms, client ids) that must not
/// collide with an earlier run against the same server.
pub fn run_id() -> String {
    format!("{:x}", unix_millis() ^ ((std::process::id() as u64) << 40))
}
