//! The service's errors and their one mapping to the contract's codes.

use axum::response::{IntoResponse, Response};
use models::ErrorCode;
use service_kit::ApiError;

#[derive(Debug, thiserror::Error)]
pub enum Error {
    #[error("{0}")]
    Invalid(String),
    #[error("{0} not found")]
    NotFound(&'static str),
    #[error("{0}")]
    Forbidden(&'static str),
    #[error("{0}")]
    Conflict(String),
    #[error("{0}")]
    TooLarge(String),
    #[error("{0}")]
    UnsupportedType(String),
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

impl From<storage::Error> for Error {
    fn from(e: storage::Error) -> Self {
        match e {
            storage::Error::Unavailable(m) => Error::Unavailable(m),
            other => Error::Internal(other.into()),
        }
    }
}

impl From<Error> for ApiError {
    fn from(e: Error) -> Self {
        match e {
            Error::Invalid(m) => ApiError::invalid(m),
            Error::NotFound(what) => ApiError::not_found(what),
            Error::Forbidden(m) => ApiError::new(ErrorCode::Forbidden, m),
            Error::Conflict(m) => ApiError::new(ErrorCode::Conflict, m),
            Error::TooLarge(m) => {
                tracing::info!(reason = %m, "upload refused: too large");
                ApiError::new(ErrorCode::TooLarge, m)
            }
            Error::UnsupportedType(m) => {
                tracing::info!(reason = %m, "upload refused: type");
                ApiError::new(ErrorCode::UnsupportedMediaType, m)
            }
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
