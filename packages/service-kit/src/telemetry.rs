//! Logs through `tracing`. `RUST_LOG` filters (default `info`); `CHAT_LOG_FORMAT=json` gives
//! one JSON object per line for log collectors. Text is coloured only on a terminal (and never
//! with `NO_COLOR` set), so a log file holds no escape codes.

use std::io::IsTerminal;

use tracing_subscriber::EnvFilter;

/// Installs the global subscriber once; later calls do nothing (tests start many services).
pub fn init() {
    let filter = EnvFilter::try_from_default_env().unwrap_or_else(|_| EnvFilter::new("info"));
    let json = std::env::var("CHAT_LOG_FORMAT").is_ok_and(|v| v == "json");
    let colour = std::io::stdout().is_terminal() && std::env::var_os("NO_COLOR").is_none();
    let builder = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_target(false)
        .with_ansi(colour);
    let _ = if json {
        builder.json().try_init()
    } else {
        builder.try_init()
    };
}

/// For tests: logs only when `TEST_LOG` is set.
pub fn init_for_tests() {
    if std::env::var_os("TEST_LOG").is_some() {
        init();
    }
}
