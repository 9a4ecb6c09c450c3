//! What several crates' fault tests share; a dev-dependency only, never part of a service.
//!
//! - [`servers`]: [`PrivateServers`], test servers of a test's own (scripts/test-servers), for
//!   a test that takes a server away: the servers other tests share must not blink.
//! - [`proxy`]: [`Proxy`], a loopback TCP proxy that cuts, refuses or freezes connections.
//! - [`eventually`]: polling until a condition holds, failing the test after a timeout.
//! - [`machine`]: the machine a benchmark ran on, in one line of its report.

pub mod proxy;
pub mod servers;

pub use proxy::Proxy;
pub use servers::PrivateServers;

use std::future::Future;
use std::time::Duration;

use tokio::time::Instant;

/// Waits until `condition` holds, polling every 50 ms; fails the test with `what` after
/// `timeout`.
pub async fn eventually<F, Fut>(timeout: Duration, what: &str, condition: F)
where
    F: FnMut() -> Fut,
    Fut: Future<Output = bool>,
{
    eventually_every(timeout, Duration::from_millis(50), what, condition).await;
}

/// [`eventually`], polling every `every` (for conditions that are costly to check).
pub async fn eventually_every<F, Fut>(
    timeout: Duration,
    every: Duration,
    what: &str,
    mut condition: F,
) where
    F: FnMut() -> Fut,
    Fut: Future<Output = bool>,
{
    let deadline = Instant::now() + timeout;
    loop {
        if condition().await {
            return;
        }
        assert!(
            Instant::now() < deadline,
            "timed out after {timeout:?}: {what}"
        );
        tokio::time::sleep(every).await;
    }
}

/// The CPU model, the cores and the memory of this machine, for a benchmark's report.
pub fn machine() -> String {
    let field = |file: &str, name: &str| {
        std::fs::read_to_string(file).ok().and_then(|info| {
            info.lines().find_map(|l| {
                l.strip_prefix(name)
                    .map(|v| v.trim_start_matches([' ', '\t', ':']).trim().to_owned())
            })
        })
    };
    let cpu = field("/proc/cpuinfo", "model name").unwrap_or_else(|| "unknown CPU".into());
    let cores = std::thread::available_parallelism().map_or(0, |n| n.get());
    let memory = field("/proc/meminfo", "MemTotal")
        .and_then(|v| v.trim_end_matches(" kB").parse::<u64>().ok())
        .map_or_else(
            || "unknown".into(),
            |kb| format!("{} GiB", kb / 1024 / 1024),
        );
    format!("{cpu}, {cores} cores, {memory} RAM")
}
