//! The limiter shared by every node, one Lua script per decision so concurrent nodes never
//! race. Time comes from the Redis server, so nodes with skewed clocks still agree.

use std::time::Duration;

use async_trait::async_trait;
use fred::prelude::{Client, KeysInterface};
use fred::types::scripts::Script;

use crate::{Decision, Error, RateLimiter, Result, Rule};

/// Returns 0 when allowed (and, when ARGV[3] is 1, records the event), otherwise the wait in
/// milliseconds. Same arithmetic as `crate::gcra`.
const GCRA_LUA: &str = r#"
local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
local interval = tonumber(ARGV[1])
local period = tonumber(ARGV[2])
local tat = tonumber(redis.call('GET', KEYS[1]) or now)
if tat < now then tat = now end
local new_tat = tat + interval
local ahead = new_tat - now
if ahead > period then return ahead - period end
if ARGV[3] == '1' then redis.call('SET', KEYS[1], new_tat, 'PX', ahead) end
return 0
"#;

pub struct RedisLimiter {
    client: Client,
    prefix: String,
    script: Script,
}

impl RedisLimiter {
    /// Keys are `{prefix}rl:{key}`; the prefix keeps deployments (and tests) apart.
    pub fn new(client: Client, prefix: impl Into<String>) -> Self {
        RedisLimiter {
            client,
            prefix: prefix.into(),
            script: Script::from_lua(GCRA_LUA),
        }
    }

    async fn run(&self, key: &str, rule: Rule, record: bool) -> Result<Decision> {
        let full = format!("{}rl:{key}", self.prefix);
        let args = vec![
            rule.interval_ms().to_string(),
            rule.period_ms().to_string(),
            if record { "1" } else { "0" }.to_string(),
        ];
        let wait: i64 = self
            .script
            .evalsha_with_reload(&self.client, full, args)
            .await
            .map_err(|e| Error::Unavailable(e.to_string()))?;
        Ok(if wait <= 0 {
            Decision::Allowed
        } else {
            Decision::Limited {
                retry_after: Duration::from_millis(wait as u64),
            }
        })
    }
}

#[async_trait]
impl RateLimiter for RedisLimiter {
    async fn hit(&self, key: &str, rule: Rule) -> Result<Decision> {
        self.run(key, rule, true).await
    }

    async fn peek(&self, key: &str, rule: Rule) -> Result<Decision> {
        self.run(key, rule, false).await
    }

    async fn reset(&self, key: &str) -> Result<()> {
        let full = format!("{}rl:{key}", self.prefix);
        self.client
            .del::<(), _>(full)
            .await
            .map_err(|e| Error::Unavailable(e.to_string()))
    }
}
