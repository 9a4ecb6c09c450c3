//! Refresh-token families: single use, reuse detection, revocation, expiry, races.

use std::sync::Arc;

use models::Timestamp;
use store::{AuthStore, Consumed, NewRefreshToken, UserRecord};
use tokio::sync::Barrier;

use crate::{later, new_id, now, on_mongo, on_sqlite, token, user};

/// Creates a user and starts a family for them; returns both and the family's first token.
async fn login(store: &dyn AuthStore, username: &str) -> (UserRecord, NewRefreshToken) {
    let u = user(username);
    store.create_user(&u).await.expect("create user");
    let first = token(&u, &new_id(), later());
    store.create_family(&first).await.expect("create family");
    (u, first)
}

fn fresh(user: &UserRecord, family_id: &str) -> Consumed {
    Consumed::Fresh {
        user_id: user.id.clone(),
        family_id: family_id.to_owned(),
    }
}

async fn fresh_then_reused(store: Arc<dyn AuthStore>) {
    let (alice, t1) = login(&*store, "alice").await;
    let family = t1.family_id.clone();
    assert_eq!(
        store.token_family(&t1.hash).await.unwrap(),
        Some(family.clone())
    );

    assert_eq!(
        store.consume_token(&t1.hash, now()).await.unwrap(),
        fresh(&alice, &family)
    );
    let reused = Consumed::Reused {
        family_id: family.clone(),
    };
    assert_eq!(store.consume_token(&t1.hash, now()).await.unwrap(), reused);
    assert_eq!(store.consume_token(&t1.hash, now()).await.unwrap(), reused);

    // A rotation: the family's next token is fresh once, like the first.
    let t2 = token(&alice, &family, later());
    store.add_token(&t2).await.expect("add token");
    assert_eq!(
        store.token_family(&t2.hash).await.unwrap(),
        Some(family.clone())
    );
    assert_eq!(
        store.consume_token(&t2.hash, now()).await.unwrap(),
        fresh(&alice, &family)
    );
    assert_eq!(store.consume_token(&t2.hash, now()).await.unwrap(), reused);
    // Used tokens still name their family, so the caller can revoke it.
    assert_eq!(store.token_family(&t1.hash).await.unwrap(), Some(family));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn fresh_then_reused_on_sqlite() {
    on_sqlite(fresh_then_reused).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn fresh_then_reused_on_mongo() {
    on_mongo(fresh_then_reused).await;
}

async fn revoked_family_is_dead(store: Arc<dyn AuthStore>) {
    let (alice, t1) = login(&*store, "alice").await;
    let family = t1.family_id.clone();
    // A second login of the same user: a family of its own.
    let other = token(&alice, &new_id(), later());
    store.create_family(&other).await.expect("second family");

    assert_eq!(
        store.consume_token(&t1.hash, now()).await.unwrap(),
        fresh(&alice, &family)
    );
    let t2 = token(&alice, &family, later());
    store.add_token(&t2).await.expect("add token");

    store.revoke_family(&family).await.expect("revoke");
    // Tokens issued before the revocation...
    assert_eq!(
        store.consume_token(&t2.hash, now()).await.unwrap(),
        Consumed::Dead
    );
    // ...and after it are dead, and stay that way.
    let t3 = token(&alice, &family, later());
    store
        .add_token(&t3)
        .await
        .expect("add token after revocation");
    assert_eq!(
        store.consume_token(&t3.hash, now()).await.unwrap(),
        Consumed::Dead
    );
    assert_ne!(
        store.consume_token(&t3.hash, now()).await.unwrap(),
        fresh(&alice, &family)
    );

    // Revoking is idempotent, and revoking an unknown family is not an error.
    store.revoke_family(&family).await.expect("revoke again");
    store
        .revoke_family(&new_id())
        .await
        .expect("revoke unknown");

    // The other family is untouched.
    assert_eq!(
        store.consume_token(&other.hash, now()).await.unwrap(),
        fresh(&alice, &other.family_id)
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn revoked_family_is_dead_on_sqlite() {
    on_sqlite(revoked_family_is_dead).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn revoked_family_is_dead_on_mongo() {
    on_mongo(revoked_family_is_dead).await;
}

async fn expired_token_is_dead(store: Arc<dyn AuthStore>) {
    let alice = user("alice");
    store.create_user(&alice).await.expect("create user");
    let at = |delta: i64| Timestamp::from_millis(now().millis() + delta);
    let past = token(&alice, &new_id(), at(-1));
    let edge = token(&alice, &new_id(), at(0));
    let next = token(&alice, &new_id(), at(1));
    for t in [&past, &edge, &next] {
        store.create_family(t).await.expect("create family");
    }

    assert_eq!(
        store.consume_token(&past.hash, now()).await.unwrap(),
        Consumed::Dead
    );
    // Expiry is inclusive: a token is dead at its expiry instant.
    assert_eq!(
        store.consume_token(&edge.hash, now()).await.unwrap(),
        Consumed::Dead
    );
    assert_eq!(
        store.consume_token(&next.hash, now()).await.unwrap(),
        fresh(&alice, &next.family_id)
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn expired_token_is_dead_on_sqlite() {
    on_sqlite(expired_token_is_dead).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn expired_token_is_dead_on_mongo() {
    on_mongo(expired_token_is_dead).await;
}

async fn unknown_token(store: Arc<dyn AuthStore>) {
    let (_, t1) = login(&*store, "alice").await;
    let unknown = "0".repeat(64);
    assert_eq!(
        store.consume_token(&unknown, now()).await.unwrap(),
        Consumed::Unknown
    );
    assert_eq!(
        store.consume_token(&unknown, now()).await.unwrap(),
        Consumed::Unknown
    );
    assert_eq!(store.token_family(&unknown).await.unwrap(), None);
    // A prefix of a real hash is not that token.
    assert_eq!(
        store.consume_token(&t1.hash[..32], now()).await.unwrap(),
        Consumed::Unknown
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn unknown_token_on_sqlite() {
    on_sqlite(unknown_token).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn unknown_token_on_mongo() {
    on_mongo(unknown_token).await;
}

async fn concurrent_consumes_have_one_winner(store: Arc<dyn AuthStore>) {
    const CALLERS: usize = 8;
    let alice = user("alice");
    store.create_user(&alice).await.expect("create user");
    for _round in 0..5 {
        let t = token(&alice, &new_id(), later());
        store.create_family(&t).await.expect("create family");
        let barrier = Arc::new(Barrier::new(CALLERS));
        let tasks: Vec<_> = (0..CALLERS)
            .map(|_| {
                let (store, barrier, hash) = (store.clone(), barrier.clone(), t.hash.clone());
                tokio::spawn(async move {
                    barrier.wait().await;
                    store.consume_token(&hash, now()).await.expect("consume")
                })
            })
            .collect();
        let mut outcomes = Vec::new();
        for task in tasks {
            outcomes.push(task.await.expect("consume task"));
        }

        let winners = outcomes
            .iter()
            .filter(|o| **o == fresh(&alice, &t.family_id));
        assert_eq!(winners.count(), 1, "exactly one Fresh among {outcomes:?}");
        let reused = Consumed::Reused {
            family_id: t.family_id.clone(),
        };
        let losers = outcomes.iter().filter(|o| **o == reused);
        assert_eq!(losers.count(), CALLERS - 1, "the rest Reused: {outcomes:?}");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn concurrent_consumes_have_one_winner_on_sqlite() {
    on_sqlite(concurrent_consumes_have_one_winner).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn concurrent_consumes_have_one_winner_on_mongo() {
    on_mongo(concurrent_consumes_have_one_winner).await;
}
