//! What every handler shares.

use std::sync::Arc;

use async_trait::async_trait;
use axum::extract::FromRef;
use service_kit::ops::Check;
use store::AuthStore;
use token::{Issuer, JwkSet, KeyPair, PublicKey, Verifier};

use crate::Settings;
use crate::password::Passwords;

/// The auth service's state; cheap to clone.
#[derive(Clone)]
pub struct AppState {
    pub store: Arc<dyn AuthStore>,
    pub limiter: Arc<dyn rate_limit::RateLimiter>,
    pub issuer: Arc<Issuer>,
    pub verifier: Arc<Verifier>,
    /// The public keys published at `GET /api/auth/jwks`: the signing key's first.
    pub key_set: Arc<JwkSet>,
    pub passwords: Arc<Passwords>,
    pub settings: Arc<Settings>,
}

impl AppState {
    pub fn new(
        store: Arc<dyn AuthStore>,
        limiter: Arc<dyn rate_limit::RateLimiter>,
        keys: &KeyPair,
        settings: Settings,
    ) -> anyhow::Result<Self> {
        let issuer = Issuer::new(
            keys,
            &settings.issuer,
            &settings.audience,
            settings.access_ttl,
        );
        let signing = vec![keys.public_key()];
        let verifier = Verifier::new(signing.clone(), &settings.issuer, &settings.audience);
        Ok(AppState {
            store,
            limiter,
            issuer: Arc::new(issuer),
            verifier: Arc::new(verifier),
            key_set: Arc::new(JwkSet::of(&signing)),
            passwords: Arc::new(Passwords::new(settings.max_concurrent_hashes)),
            settings: Arc::new(settings),
        })
    }
}

impl AppState {
    /// Publishes these keys too, and accepts their tokens: during a rotation, the next key
    /// (before it signs) or the previous one (while its tokens live).
    pub fn with_published_keys(mut self, others: Vec<PublicKey>) -> Self {
        let mut keys = self.key_set.public_keys();
        keys.extend(others);
        let verifier = Verifier::new(keys.clone(), &self.settings.issuer, &self.settings.audience);
        self.verifier = Arc::new(verifier);
        self.key_set = Arc::new(JwkSet::of(&keys));
        self
    }
}

impl FromRef<AppState> for Arc<Verifier> {
    fn from_ref(state: &AppState) -> Self {
        state.verifier.clone()
    }
}

/// Readiness: the user store answers.
pub struct StoreCheck(pub Arc<dyn AuthStore>);

#[async_trait]
impl Check for StoreCheck {
    fn name(&self) -> &str {
        "store"
    }

    async fn check(&self) -> Result<(), String> {
        self.0.ping().await.map_err(|e| e.to_string())
    }
}
