//! What several crates' fault tests share; a dev-dependency only, never part of a service.
//!
//! - [`servers`]: [`PrivateServers`], test servers of a test's own (scripts/test-servers), for
//!   a test that takes a server away: the servers other tests share must not blink.
//! - [`proxy`]: [`Proxy`], a loopback TCP proxy that cuts, refuses or freezes connections.
//! - [`eventually`]: polling until a condition holds, failing the test after a timeout.

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
