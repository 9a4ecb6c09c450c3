//! The axum extractor: `AuthUser` from `Authorization: Bearer <token>`.

use std::sync::Arc;

use axum::extract::{FromRef, FromRequestParts};
use axum::http::StatusCode;
use axum::http::header::{AUTHORIZATION, WWW_AUTHENTICATE};
use axum::http::request::Parts;
use axum::response::{IntoResponse, Response};
use models::{ErrorBody, ErrorCode};

use crate::{TokenError, Verifier};

/// The authenticated caller of an HTTP request.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AuthUser {
    pub id: String,
    pub username: String,
}

/// The refusal: 401 `unauthorized` in the contract's error shape.
#[derive(Debug)]
pub struct Unauthorized(TokenError);

impl IntoResponse for Unauthorized {
    fn into_response(self) -> Response {
        tracing::debug!(reason = %self.0, "access token refused");
        let body = ErrorBody::new(
            ErrorCode::Unauthorized,
            "a valid access token is required (Authorization: Bearer <token>)",
        );
        (
            StatusCode::UNAUTHORIZED,
            [(WWW_AUTHENTICATE, "Bearer")],
            axum::Json(body),
        )
            .into_response()
    }
}

impl<S> FromRequestParts<S> for AuthUser
where
    Arc<Verifier>: FromRef<S>,
    S: Send + Sync,
{
    type Rejection = Unauthorized;

    async fn from_request_parts(parts: &mut Parts, state: &S) -> Result<Self, Self::Rejection> {
        let verifier = Arc::<Verifier>::from_ref(state);
        let token = parts
            .headers
            .get(AUTHORIZATION)
            .and_then(|v| v.to_str().ok())
            .and_then(bearer)
            .ok_or(Unauthorized(TokenError::Missing))?;
        let claims = verifier.verify(token).map_err(Unauthorized)?;
        Ok(AuthUser {
            id: claims.sub,
            username: claims.name,
        })
    }
}

fn bearer(header: &str) -> Option<&str> {
    let (scheme, token) = header.split_once(' ')?;
    scheme.eq_ignore_ascii_case("bearer").then(|| token.trim())
}
