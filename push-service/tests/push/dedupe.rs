//! Both [`Dedupe`] implementations: a claim is taken once until released or expired.

use std::sync::Arc;
use std::time::Duration;

use push_service::{Dedupe, MemoryDedupe, RedisDedupe};

use crate::{env, unique};

async fn claims(dedupe: Arc<dyn Dedupe>) {
    let [a, b] = [unique(), unique()];
    let long = Duration::from_secs(60);
    assert!(dedupe.claim(&a, long).await.unwrap());
    assert!(!dedupe.claim(&a, long).await.unwrap());
    assert!(dedupe.claim(&b, long).await.unwrap());
    dedupe.release(&a).await.unwrap();
    assert!(dedupe.claim(&a, long).await.unwrap());
    assert!(!dedupe.claim(&a, long).await.unwrap());

    let short = unique();
    assert!(
        dedupe
            .claim(&short, Duration::from_millis(100))
            .await
            .unwrap()
    );
    tokio::time::sleep(Duration::from_millis(300)).await;
    assert!(dedupe.claim(&short, long).await.unwrap());
}

#[tokio::test]
async fn claims_in_memory() {
    claims(Arc::new(MemoryDedupe::new())).await;
}

#[tokio::test]
async fn claims_on_redis() {
    let client = service_kit::redis::connect(&env("CHAT_TEST_REDIS_URL"))
        .await
        .unwrap();
    claims(Arc::new(RedisDedupe::new(
        client,
        format!("push-test:{}:", unique()),
    )))
    .await;
}
