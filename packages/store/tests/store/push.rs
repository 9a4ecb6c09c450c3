//! Web-push subscriptions: one per endpoint, many per user, removal by owner or by endpoint.

use std::sync::Arc;

use models::Timestamp;
use store::{PushStore, PushSubscription};

use crate::{on_mongo, on_sqlite};

fn subscription(user_id: &str, device: &str) -> PushSubscription {
    PushSubscription {
        endpoint: format!("https://push.example/{user_id}/{device}"),
        user_id: user_id.to_owned(),
        p256dh: format!("key-of-{device}"),
        auth: format!("auth-of-{device}"),
        created_at: Timestamp::from_millis(1_700_000_000_000),
    }
}

async fn users(store: &dyn PushStore, users: &[&str]) -> Vec<PushSubscription> {
    let users: Vec<String> = users.iter().map(|u| (*u).to_owned()).collect();
    store
        .subscriptions_of(&users)
        .await
        .expect("subscriptions_of")
}

async fn many_devices_per_user(store: Arc<dyn PushStore>) {
    let [phone, laptop] = [
        subscription("alice", "phone"),
        subscription("alice", "laptop"),
    ];
    let bobs = subscription("bob", "phone");
    for s in [&phone, &laptop, &bobs] {
        store.subscribe(s).await.expect("subscribe");
    }
    // Ordered by endpoint.
    assert_eq!(
        users(&*store, &["alice"]).await,
        [laptop.clone(), phone.clone()]
    );
    assert_eq!(
        users(&*store, &["alice", "bob", "carol"]).await,
        [laptop.clone(), phone.clone(), bobs.clone()]
    );
    assert!(users(&*store, &["carol"]).await.is_empty());
    assert!(users(&*store, &[]).await.is_empty());
}

#[tokio::test]
async fn many_devices_per_user_on_sqlite() {
    on_sqlite(many_devices_per_user).await;
}

#[tokio::test]
async fn many_devices_per_user_on_mongo() {
    on_mongo(many_devices_per_user).await;
}

/// Subscribing an endpoint again stores it once, with the latest keys; it changes owner only
/// with the browser's own secret.
async fn an_endpoint_is_stored_once(store: Arc<dyn PushStore>) {
    let first = subscription("alice", "phone");
    store.subscribe(&first).await.unwrap();
    store.subscribe(&first).await.unwrap();
    assert_eq!(
        users(&*store, &["alice"]).await,
        std::slice::from_ref(&first)
    );

    let renewed = PushSubscription {
        p256dh: "new-key".into(),
        auth: "new-auth".into(),
        created_at: Timestamp::from_millis(1_700_000_999_000),
        ..first.clone()
    };
    store.subscribe(&renewed).await.unwrap();
    assert_eq!(
        users(&*store, &["alice"]).await,
        std::slice::from_ref(&renewed)
    );

    // Bob signs in on the same browser: the device is his now, and no longer Alice's.
    let bobs = PushSubscription {
        user_id: "bob".into(),
        ..renewed.clone()
    };
    store.subscribe(&bobs).await.unwrap();
    assert!(users(&*store, &["alice"]).await.is_empty());
    assert_eq!(
        users(&*store, &["alice", "bob"]).await,
        std::slice::from_ref(&bobs)
    );

    // Mallory learned the endpoint, not the browser's secret: she cannot take the device.
    let taken = PushSubscription {
        user_id: "mallory".into(),
        p256dh: "mallorys-key".into(),
        auth: "mallorys-auth".into(),
        ..bobs.clone()
    };
    assert!(matches!(
        store.subscribe(&taken).await,
        Err(store::Error::Duplicate(_))
    ));
    assert_eq!(users(&*store, &["bob", "mallory"]).await, [bobs]);
}

#[tokio::test]
async fn an_endpoint_is_stored_once_on_sqlite() {
    on_sqlite(an_endpoint_is_stored_once).await;
}

#[tokio::test]
async fn an_endpoint_is_stored_once_on_mongo() {
    on_mongo(an_endpoint_is_stored_once).await;
}

/// A user removes only their own subscriptions; the sender removes any endpoint.
async fn removal(store: Arc<dyn PushStore>) {
    let [phone, laptop] = [
        subscription("alice", "phone"),
        subscription("alice", "laptop"),
    ];
    let bobs = subscription("bob", "phone");
    for s in [&phone, &laptop, &bobs] {
        store.subscribe(s).await.unwrap();
    }

    assert!(!store.unsubscribe("bob", &phone.endpoint).await.unwrap());
    assert!(store.unsubscribe("alice", &phone.endpoint).await.unwrap());
    assert!(!store.unsubscribe("alice", &phone.endpoint).await.unwrap());
    assert_eq!(
        users(&*store, &["alice"]).await,
        std::slice::from_ref(&laptop)
    );

    assert!(store.remove_subscription(&bobs.endpoint).await.unwrap());
    assert!(!store.remove_subscription(&bobs.endpoint).await.unwrap());
    assert!(
        !store
            .remove_subscription("https://push.example/nobody")
            .await
            .unwrap()
    );
    assert_eq!(users(&*store, &["alice", "bob"]).await, [laptop]);
}

#[tokio::test]
async fn removal_on_sqlite() {
    on_sqlite(removal).await;
}

#[tokio::test]
async fn removal_on_mongo() {
    on_mongo(removal).await;
}
