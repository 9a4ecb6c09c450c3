//! Rotating the signing key as the README says, against replicas of the distributed
//! auth-service on one MongoDB database and a verifier built the way socket-service,
//! file-service and push-service build theirs (following `/api/auth/jwks`): add the new key,
//! wait, sign with it, retire the old one. No valid token is refused at any step.

use std::sync::{Arc, Mutex};
use std::time::Duration;

use axum::extract::State;
use axum::routing::get;
use reqwest::StatusCode;
use serde_json::Value;
use service_kit::config::TokenConfig;
use token::{KeyPair, Verifier};
use tokio::net::TcpListener;

use crate::helpers::{App, unique};

const PASSWORD: &str = "correct horse battery";
/// How often the verifier fetches the key set here (60 s by default).
const REFRESH: Duration = Duration::from_secs(1);

/// The address verifiers fetch the key set from; which replica answers it changes as a
/// rollout would change it.
struct Ingress {
    url: String,
    upstream: Arc<Mutex<String>>,
}

impl Ingress {
    async fn start(first: &App) -> Ingress {
        let upstream = Arc::new(Mutex::new(first.base.clone()));
        let app = axum::Router::new()
            .route("/api/auth/jwks", get(forward))
            .with_state(upstream.clone());
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let url = format!("http://{}/api/auth/jwks", listener.local_addr().unwrap());
        tokio::spawn(async move { axum::serve(listener, app).await });
        Ingress { url, upstream }
    }

    fn route_to(&self, app: &App) {
        *self.upstream.lock().unwrap() = app.base.clone();
    }
}

async fn forward(State(upstream): State<Arc<Mutex<String>>>) -> (StatusCode, String) {
    let base = upstream.lock().unwrap().clone();
    match reqwest::get(format!("{base}/api/auth/jwks")).await {
        Ok(r) => (r.status(), r.text().await.unwrap_or_default()),
        Err(e) => (StatusCode::BAD_GATEWAY, e.to_string()),
    }
}

async fn login(app: &App, username: &str) -> String {
    let (status, session) = app.login(username, PASSWORD).await;
    assert_eq!(status, StatusCode::OK, "{session}");
    session["access_token"].as_str().unwrap().to_string()
}

/// `GET /api/auth/me` with this token answers 200.
async fn accepted_by(app: &App, token: &str) -> bool {
    app.get("/api/auth/me", Some(token)).await.0 == StatusCode::OK
}

async fn until_kids(verifier: &Verifier, kids: &[&str]) {
    let want: Vec<String> = kids.iter().map(|k| k.to_string()).collect();
    testkit::eventually(Duration::from_secs(10), "the verifier's key set", || {
        let now = verifier.kids();
        let done = now == want;
        async move { done }
    })
    .await;
}

#[tokio::test]
async fn rotating_the_signing_key_refuses_no_valid_token() {
    let (old, new) = (KeyPair::generate(), KeyPair::generate());
    let database = unique("auth_rotation");

    // Before: auth-service signs with the old key; a verifier follows its key set.
    let before = App::distributed(&database, &old, None).await;
    let (status, _) = before.register("rotor", PASSWORD).await;
    assert_eq!(status, StatusCode::CREATED);
    let (_, jwks) = before.get("/api/auth/jwks", None).await;
    assert_eq!(jwks["keys"].as_array().unwrap().len(), 1, "{jwks}");
    assert_eq!(jwks["keys"][0]["kid"], old.kid());
    assert_eq!(jwks["keys"][0]["kty"], "OKP");
    assert_eq!(jwks["keys"][0]["crv"], "Ed25519");
    let ingress = Ingress::start(&before).await;
    let verifier = TokenConfig {
        jwks_url: Some(ingress.url.clone()),
        jwks_refresh: REFRESH,
        public_key: None,
        ..TokenConfig::of_public_key("")
    }
    .verifier()
    .unwrap();
    until_kids(&verifier, &[old.kid()]).await;
    let by_old = login(&before, "rotor").await;
    assert_eq!(verifier.verify(&by_old).unwrap().name, "rotor");

    // 1. Add the new key: published, not signing yet. Verifiers learn it within a refresh.
    let adding = App::distributed(&database, &old, Some(new.public_pem().into())).await;
    ingress.route_to(&adding);
    until_kids(&verifier, &[old.kid(), new.kid()]).await;
    assert!(verifier.verify(&by_old).is_ok());

    // 2. Sign with the new key, keep publishing the old one. While replicas of steps 1 and 2
    //    run side by side (a rollout), every replica and the verifier take both tokens.
    let switched = App::distributed(&database, &new, Some(old.public_pem().into())).await;
    ingress.route_to(&switched);
    let by_new = login(&switched, "rotor").await;
    let header = jsonwebtoken_kid(&by_new);
    assert_eq!(header.as_deref(), Some(new.kid()));
    let by_old_again = login(&adding, "rotor").await;
    for token in [&by_old, &by_old_again, &by_new] {
        assert!(
            verifier.verify(token).is_ok(),
            "the verifier refused a valid token"
        );
        for replica in [&adding, &switched] {
            assert!(
                accepted_by(replica, token).await,
                "a replica refused a valid token"
            );
        }
    }
    until_kids(&verifier, &[new.kid(), old.kid()]).await;
    assert!(verifier.verify(&by_old).is_ok());

    // 3. Retire the old key once its tokens have expired: only the new one is accepted.
    let after = App::distributed(&database, &new, None).await;
    ingress.route_to(&after);
    until_kids(&verifier, &[new.kid()]).await;
    assert!(verifier.verify(&by_new).is_ok());
    assert!(verifier.verify(&by_old).is_err());
    assert!(!accepted_by(&after, &by_old).await);
    assert!(accepted_by(&after, &by_new).await);
}

/// A verifier that only follows the key set learns a key it has not seen as soon as a token
/// names it (not a whole refresh period later), and refuses tokens until the set is known.
#[tokio::test]
async fn an_unknown_key_id_fetches_the_set_again_soon() {
    let (old, new) = (KeyPair::generate(), KeyPair::generate());
    let database = unique("auth_rotation");
    let before = App::distributed(&database, &old, None).await;
    before.register("hasty", PASSWORD).await;
    let ingress = Ingress::start(&before).await;
    let verifier = TokenConfig {
        jwks_url: Some(ingress.url.clone()),
        jwks_refresh: Duration::from_secs(3600),
        public_key: None,
        ..TokenConfig::of_public_key("")
    }
    .verifier()
    .unwrap();
    until_kids(&verifier, &[old.kid()]).await;

    let after = App::distributed(&database, &new, Some(old.public_pem().into())).await;
    ingress.route_to(&after);
    let by_new = login(&after, "hasty").await;
    assert!(verifier.verify(&by_new).is_err(), "not known yet");
    testkit::eventually(Duration::from_secs(15), "the new key accepted", || {
        let ok = verifier.verify(&by_new).is_ok();
        async move { ok }
    })
    .await;
}

/// The key id in a token's header.
fn jsonwebtoken_kid(token: &str) -> Option<String> {
    use base64::Engine;
    let head = token.split('.').next()?;
    let bytes = base64::engine::general_purpose::URL_SAFE_NO_PAD
        .decode(head)
        .ok()?;
    let header: Value = serde_json::from_slice(&bytes).ok()?;
    header["kid"].as_str().map(str::to_string)
}
