//! What the handlers share.

use std::sync::Arc;

use axum::extract::FromRef;
use storage::ObjectStorage;
use store::{ChatStore, FileStore};
use token::Verifier;

use crate::Settings;

/// The service's state: stores, object storage, token verification, settings. Cheap to clone.
#[derive(Clone)]
pub struct AppState {
    pub files: Arc<dyn FileStore>,
    /// Rooms, for the membership checks.
    pub rooms: Arc<dyn ChatStore>,
    pub storage: Arc<dyn ObjectStorage>,
    pub verifier: Arc<Verifier>,
    pub settings: Arc<Settings>,
}

impl FromRef<AppState> for Arc<Verifier> {
    fn from_ref(state: &AppState) -> Self {
        state.verifier.clone()
    }
}
