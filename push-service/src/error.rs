//! The service's error, and how the HTTP API answers each kind of it.

use axum::response::{IntoResponse, Response};
use service_kit::http::ApiError;

#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// A request the contract refuses (400 `invalid_request`).
    #[error("{0}")]
    Invalid(String),
    /// A setting that cannot work; the process refuses to start.
    #[error("configuration: {0}")]
    Config(String),
    #[error(transparent)]
    Store(#[from] store::Error),
    #[error(transparent)]
    Presence(#[from] presence::Error),
    /// The delivery-dedupe store did not answer.
    #[error("dedupe store unavailable: {0}")]
    Dedupe(String),
    #[error("internal: {0}")]
    Internal(String),
}

pub type Result<T, E = Error> = std::result::Result<T, E>;

impl Error {
    /// Whether trying again later may succeed (a dependency is down), as opposed to a bug.
    pub fn is_transient(&self) -> bool {
        matches!(
            self,
            Error::Store(store::Error::Unavailable(_))
                | Error::Presence(presence::Error::Unavailable(_))
                | Error::Dedupe(_)
        )
    }
}

impl From<Error> for ApiError {
    fn from(e: Error) -> Self {
        match e {
            Error::Invalid(message) => ApiError::invalid(message),
            e if e.is_transient() => {
                tracing::warn!(error = %e, "dependency unavailable");
                ApiError::unavailable()
            }
            e => ApiError::internal(e),
        }
    }
}

impl IntoResponse for Error {
    fn into_response(self) -> Response {
        ApiError::from(self).into_response()
    }
}
