//! The handshake (a valid token or `connect_error` "unauthorized") and presence.

use std::time::Duration;

use serde_json::json;
use token::{Issuer, KeyPair};

use crate::support::App;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_handshake_without_a_valid_token_is_refused_as_unauthorized() {
    let app = App::new().await;
    let alice = app.user("alice").await;
    let forged = Issuer::new(
        &KeyPair::generate(),
        "test-issuer",
        "test-audience",
        Duration::from_secs(600),
    )
    .issue(&alice.id, &alice.name);
    for auth in [
        json!({}),
        json!(null),
        json!({"token": 42}),
        json!({"token": "not a token"}),
        json!({"token": forged}),
        json!(alice.token),
    ] {
        match app.connect_with(auth.clone()).await {
            Ok(_) => panic!("connected with {auth}"),
            Err(refusal) => assert_eq!(refusal, json!({"message": "unauthorized"}), "{auth}"),
        }
    }
    // The genuine token connects.
    app.connect(&alice).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn presence_goes_to_those_who_share_a_room() {
    let app = App::new().await;
    let (alice, bob, carol) = (
        app.user("alice").await,
        app.user("bob").await,
        app.user("carol").await,
    );
    app.group(&alice, &[&bob]).await;
    app.group(&carol, &[]).await;
    let mut a = app.connect(&alice).await;
    let mut c = app.connect(&carol).await;
    a.assert_none("presence").await;

    let mut b = app.connect(&bob).await;
    let online = json!({"user_id": bob.id, "online": true});
    assert_eq!(a.next_payload("presence").await, online);
    // The newcomer learns who is online.
    assert_eq!(
        b.next_payload("presence").await,
        json!({"user_id": alice.id, "online": true})
    );
    // A second socket is no transition.
    let mut b2 = app.connect(&bob).await;
    assert_eq!(
        b2.next_payload("presence").await,
        json!({"user_id": alice.id, "online": true})
    );
    a.assert_none("presence").await;

    b.close().await;
    a.assert_none("presence").await;
    b2.close().await;
    assert_eq!(
        a.next_payload("presence").await,
        json!({"user_id": bob.id, "online": false})
    );
    c.assert_none("presence").await;
}
