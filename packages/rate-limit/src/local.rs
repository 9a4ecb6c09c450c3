//! The in-process limiter of the standalone server.

use std::collections::HashMap;
use std::sync::Mutex;
use std::time::Instant;

use async_trait::async_trait;

use crate::{Decision, RateLimiter, Result, Rule, gcra};

/// Keys live in one map; entries whose arrival time has passed are pruned as the map grows,
/// so memory stays bounded by the keys active within their periods.
pub struct LocalLimiter {
    epoch: Instant,
    state: Mutex<State>,
}

#[derive(Default)]
struct State {
    tats: HashMap<String, u64>,
    prune_at: usize,
}

impl Default for LocalLimiter {
    fn default() -> Self {
        Self::new()
    }
}

impl LocalLimiter {
    pub fn new() -> Self {
        LocalLimiter {
            epoch: Instant::now(),
            state: Mutex::new(State {
                tats: HashMap::new(),
                prune_at: 1024,
            }),
        }
    }

    fn now_ms(&self) -> u64 {
        self.epoch.elapsed().as_millis() as u64
    }

    fn decide(&self, key: &str, rule: Rule, record: bool) -> Decision {
        let now = self.now_ms();
        let mut state = self.state.lock().expect("limiter lock poisoned");
        let (decision, new_tat) = gcra(state.tats.get(key).copied(), now, rule);
        if record && decision.is_allowed() {
            state.tats.insert(key.to_string(), new_tat);
            if state.tats.len() >= state.prune_at {
                state.tats.retain(|_, tat| *tat > now);
                state.prune_at = (state.tats.len() * 2).max(1024);
            }
        }
        decision
    }
}

#[async_trait]
impl RateLimiter for LocalLimiter {
    async fn hit(&self, key: &str, rule: Rule) -> Result<Decision> {
        Ok(self.decide(key, rule, true))
    }

    async fn peek(&self, key: &str, rule: Rule) -> Result<Decision> {
        Ok(self.decide(key, rule, false))
    }

    async fn reset(&self, key: &str) -> Result<()> {
        self.state
            .lock()
            .expect("limiter lock poisoned")
            .tats
            .remove(key);
        Ok(())
    }
}
