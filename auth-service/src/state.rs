//! What every handler shares.

use std::sync::Arc;

use async_trait::async_trait;
use axum::extract::FromRef;
use service_kit::ops::Check;
use store::AuthStore;
use token::{Issuer, KeyPair, Verifier};

use crate::Settings;
use crate::password::Passwords;

/// The auth service's state; cheap to clone.
#[derive(Clone)]
pub struct AppState {
    pub store: Arc<dyn AuthStore>,
    pub limiter: Arc<dyn rate_limit::RateLimiter>,
    pub issuer: Arc<Issuer>,
    pub verifier: Arc<Verifier>,
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
        let verifier =
            Verifier::from_public_pem(keys.public_pem(), &settings.issuer, &settings.audience)?;
        Ok(AppState {
            store,
            limiter,
            issuer: Arc::new(issuer),
            verifier: Arc::new(verifier),
            passwords: Arc::new(Passwords::new(settings.max_concurrent_hashes)),
            settings: Arc::new(settings),
        })
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
