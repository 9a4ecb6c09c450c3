//! Rate limiting with GCRA (the generic cell rate algorithm): each key keeps one number, its
//! "theoretical arrival time", which makes the limit exact, burst-friendly and cheap to share.
//!
//! [`RateLimiter`] has two implementations: [`RedisLimiter`], shared by every node (a user
//! cannot multiply their rate by spreading over nodes), and [`LocalLimiter`], in-process for
//! the standalone server.

mod local;
mod redis;

use std::time::Duration;

use async_trait::async_trait;

pub use local::LocalLimiter;
pub use redis::RedisLimiter;

/// Allow `burst` events at once, refilling at `burst` per `period`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Rule {
    pub burst: u32,
    pub period: Duration,
}

impl Rule {
    pub const fn new(burst: u32, period: Duration) -> Self {
        Rule { burst, period }
    }

    /// Time between two events at the sustained rate.
    fn interval_ms(&self) -> u64 {
        (self.period.as_millis() as u64 / u64::from(self.burst.max(1))).max(1)
    }

    fn period_ms(&self) -> u64 {
        self.period.as_millis() as u64
    }
}

/// Whether an event may happen now.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Decision {
    Allowed,
    Limited { retry_after: Duration },
}

impl Decision {
    pub fn is_allowed(self) -> bool {
        matches!(self, Decision::Allowed)
    }
}

#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// The shared store (Redis) did not answer.
    #[error("rate limiter unavailable: {0}")]
    Unavailable(String),
}

pub type Result<T, E = Error> = std::result::Result<T, E>;

#[async_trait]
pub trait RateLimiter: Send + Sync + 'static {
    /// Records one event under `key` if the rule allows it now.
    async fn hit(&self, key: &str, rule: Rule) -> Result<Decision>;
    /// Whether one event would be allowed now, without recording it.
    async fn peek(&self, key: &str, rule: Rule) -> Result<Decision>;
    /// Forgets `key` (e.g. a successful login clears its failures).
    async fn reset(&self, key: &str) -> Result<()>;
}

/// The GCRA step shared by both implementations: from the stored arrival time (if any) and
/// now, in milliseconds, the decision and the arrival time to store when allowed.
fn gcra(stored_tat: Option<u64>, now: u64, rule: Rule) -> (Decision, u64) {
    let tat = stored_tat.unwrap_or(now).max(now);
    let new_tat = tat + rule.interval_ms();
    let ahead = new_tat - now;
    if ahead > rule.period_ms() {
        let wait = ahead - rule.period_ms();
        (
            Decision::Limited {
                retry_after: Duration::from_millis(wait),
            },
            tat,
        )
    } else {
        (Decision::Allowed, new_tat)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn gcra_allows_the_burst_then_spaces_events() {
        let rule = Rule::new(3, Duration::from_secs(3));
        let mut tat = None;
        for _ in 0..3 {
            let (d, t) = gcra(tat, 10_000, rule);
            assert_eq!(d, Decision::Allowed);
            tat = Some(t);
        }
        let (d, _) = gcra(tat, 10_000, rule);
        assert_eq!(
            d,
            Decision::Limited {
                retry_after: Duration::from_millis(1000)
            }
        );
        let (d, _) = gcra(tat, 11_000, rule);
        assert_eq!(d, Decision::Allowed);
    }
}
