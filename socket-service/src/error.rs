//! The service's errors, answered as HTTP responses or as Socket.IO acks in the same shape.

use std::time::Duration;

use axum::response::{IntoResponse, Response};
use models::ErrorCode;
use serde_json::{Value, json};
use service_kit::ApiError;

#[derive(Debug, thiserror::Error)]
pub enum Error {
    #[error("{0}")]
    Invalid(String),
    #[error("{0} not found")]
    NotFound(&'static str),
    #[error("{0}")]
    Forbidden(&'static str),
    #[error("rate limited")]
    RateLimited(Duration),
    #[error("dependency unavailable: {0}")]
    Unavailable(String),
    #[error(transparent)]
    Internal(#[from] anyhow::Error),
}

pub type Result<T, E = Error> = std::result::Result<T, E>;

impl From<store::Error> for Error {
    fn from(e: store::Error) -> Self {
        match e {
            store::Error::Unavailable(m) => Error::Unavailable(m),
            other => Error::Internal(other.into()),
        }
    }
}

impl From<rate_limit::Error> for Error {
    fn from(rate_limit::Error::Unavailable(m): rate_limit::Error) -> Self {
        Error::Unavailable(m)
    }
}

impl From<sequencer::Error> for Error {
    fn from(sequencer::Error::Unavailable(m): sequencer::Error) -> Self {
        Error::Unavailable(m)
    }
}

impl From<handoff::Error> for Error {
    fn from(handoff::Error::Unavailable(m): handoff::Error) -> Self {
        Error::Unavailable(m)
    }
}

impl From<presence::Error> for Error {
    fn from(presence::Error::Unavailable(m): presence::Error) -> Self {
        Error::Unavailable(m)
    }
}

impl From<Error> for ApiError {
    fn from(e: Error) -> Self {
        match e {
            Error::Invalid(m) => ApiError::invalid(m),
            Error::NotFound(what) => ApiError::not_found(what),
            Error::Forbidden(m) => ApiError::new(ErrorCode::Forbidden, m),
            Error::RateLimited(wait) => ApiError::rate_limited(wait),
            Error::Unavailable(detail) => {
                tracing::warn!(%detail, "dependency unavailable");
                ApiError::unavailable()
            }
            Error::Internal(e) => ApiError::internal(format!("{e:#}")),
        }
    }
}

impl IntoResponse for Error {
    fn into_response(self) -> Response {
        ApiError::from(self).into_response()
    }
}

impl Error {
    /// The inner object of the error body.
    pub fn to_detail(self) -> models::error::ErrorDetail {
        let api = ApiError::from(self);
        models::error::ErrorDetail {
            code: api.code,
            message: api.message,
            retry_after_ms: api.retry_after.map(|wait| (wait.as_millis() as u64).max(1)),
        }
    }

    /// The ack a Socket.IO client gets: `{ok: false, error: {code, message, retry_after_ms?}}`.
    pub fn to_ack(self) -> Value {
        let api = ApiError::from(self);
        let mut error = json!({"code": api.code, "message": api.message});
        if let Some(wait) = api.retry_after {
            error["retry_after_ms"] = json!((wait.as_millis() as u64).max(1));
        }
        json!({"ok": false, "error": error})
    }
}
