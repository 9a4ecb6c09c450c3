//! The service's errors and their one mapping to the contract's codes.

use std::time::Duration;

use axum::response::{IntoResponse, Response};
use models::ErrorCode;
use service_kit::ApiError;

#[derive(Debug, thiserror::Error)]
pub enum Error {
    #[error("{0}")]
    Invalid(String),
    #[error("username taken")]
    UsernameTaken,
    #[error("invalid credentials")]
    InvalidCredentials,
    #[error("unauthorized: {0}")]
    Unauthorized(&'static str),
    #[error("{0} not found")]
    NotFound(&'static str),
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
    fn from(e: rate_limit::Error) -> Self {
        match e {
            rate_limit::Error::Unavailable(m) => Error::Unavailable(m),
        }
    }
}

impl From<Error> for ApiError {
    fn from(e: Error) -> Self {
        match e {
            Error::Invalid(m) => ApiError::invalid(m),
            Error::UsernameTaken => {
                ApiError::new(ErrorCode::UsernameTaken, "that username is already taken")
            }
            Error::InvalidCredentials => ApiError::new(
                ErrorCode::InvalidCredentials,
                "the username or password is incorrect",
            ),
            Error::Unauthorized(m) => ApiError::new(ErrorCode::Unauthorized, m),
            Error::NotFound(what) => ApiError::not_found(what),
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
