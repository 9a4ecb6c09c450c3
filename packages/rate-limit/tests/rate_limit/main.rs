//! One conformance suite for both limiters: the in-process one and the Redis one (against the
//! real Redis at `CHAT_TEST_REDIS_URL`, which `scripts/test` starts).

use std::sync::Arc;
use std::time::Duration;

use rate_limit::{Decision, LocalLimiter, RateLimiter, RedisLimiter, Rule};

async fn redis() -> Arc<dyn RateLimiter> {
    let url = std::env::var("CHAT_TEST_REDIS_URL")
        .expect("CHAT_TEST_REDIS_URL is not set; run scripts/test, which starts Redis");
    let client = service_kit::redis::connect(&url)
        .await
        .expect("Redis answers");
    let prefix = format!("test-{}:", uuid::Uuid::new_v4().simple());
    Arc::new(RedisLimiter::new(client, prefix))
}

fn local() -> Arc<dyn RateLimiter> {
    Arc::new(LocalLimiter::new())
}

async fn allows_the_burst_then_limits(limiter: Arc<dyn RateLimiter>) {
    let rule = Rule::new(5, Duration::from_secs(60));
    for i in 0..5 {
        assert_eq!(
            limiter.hit("k", rule).await.unwrap(),
            Decision::Allowed,
            "event {i}"
        );
    }
    match limiter.hit("k", rule).await.unwrap() {
        Decision::Limited { retry_after } => {
            assert!(retry_after > Duration::from_secs(5) && retry_after <= Duration::from_secs(12))
        }
        Decision::Allowed => panic!("the sixth event within the period must be limited"),
    }
    // Another key is untouched.
    assert!(limiter.hit("other", rule).await.unwrap().is_allowed());
}

async fn peek_does_not_consume(limiter: Arc<dyn RateLimiter>) {
    let rule = Rule::new(1, Duration::from_secs(60));
    for _ in 0..3 {
        assert!(limiter.peek("p", rule).await.unwrap().is_allowed());
    }
    assert!(limiter.hit("p", rule).await.unwrap().is_allowed());
    assert!(!limiter.peek("p", rule).await.unwrap().is_allowed());
}

async fn reset_forgets(limiter: Arc<dyn RateLimiter>) {
    let rule = Rule::new(1, Duration::from_secs(60));
    assert!(limiter.hit("r", rule).await.unwrap().is_allowed());
    assert!(!limiter.hit("r", rule).await.unwrap().is_allowed());
    limiter.reset("r").await.unwrap();
    assert!(limiter.hit("r", rule).await.unwrap().is_allowed());
}

async fn refills_over_time(limiter: Arc<dyn RateLimiter>) {
    let rule = Rule::new(2, Duration::from_millis(400));
    assert!(limiter.hit("t", rule).await.unwrap().is_allowed());
    assert!(limiter.hit("t", rule).await.unwrap().is_allowed());
    let Decision::Limited { retry_after } = limiter.hit("t", rule).await.unwrap() else {
        panic!("the third event must be limited");
    };
    tokio::time::sleep(retry_after + Duration::from_millis(30)).await;
    assert!(limiter.hit("t", rule).await.unwrap().is_allowed());
}

async fn concurrent_hits_never_exceed_the_burst(limiter: Arc<dyn RateLimiter>) {
    let rule = Rule::new(10, Duration::from_secs(60));
    let tasks: Vec<_> = (0..50)
        .map(|_| {
            let limiter = limiter.clone();
            tokio::spawn(async move { limiter.hit("c", rule).await.unwrap().is_allowed() })
        })
        .collect();
    let mut allowed = 0;
    for task in tasks {
        allowed += usize::from(task.await.unwrap());
    }
    assert_eq!(allowed, 10);
}

macro_rules! conformance {
    ($($case:ident),* $(,)?) => {
        mod local_limiter { $( #[tokio::test] async fn $case() { super::$case(super::local()).await } )* }
        mod redis_limiter { $( #[tokio::test] async fn $case() { super::$case(super::redis().await).await } )* }
    };
}

conformance!(
    allows_the_burst_then_limits,
    peek_does_not_consume,
    reset_forgets,
    refills_over_time,
    concurrent_hits_never_exceed_the_burst,
);
