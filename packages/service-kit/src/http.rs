//! HTTP errors in the contract's shape, and a JSON body extractor that refuses bad bodies with
//! them (400 malformed or wrong fields, 413 too large, 415 not JSON) instead of axum's plain
//! text.

use std::time::Duration;

use axum::extract::rejection::JsonRejection;
use axum::extract::{FromRequest, Request};
use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use models::{ErrorBody, ErrorCode};
use serde::de::DeserializeOwned;

/// An error answer: a code from the contract, a human sentence, and for `rate_limited` how long
/// to wait. 5xx messages stay generic; details belong in the log.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ApiError {
    pub code: ErrorCode,
    pub message: String,
    pub retry_after: Option<Duration>,
}

impl ApiError {
    pub fn new(code: ErrorCode, message: impl Into<String>) -> Self {
        ApiError {
            code,
            message: message.into(),
            retry_after: None,
        }
    }

    pub fn invalid(message: impl Into<String>) -> Self {
        Self::new(ErrorCode::InvalidRequest, message)
    }

    pub fn unauthorized() -> Self {
        Self::new(ErrorCode::Unauthorized, "authentication required")
    }

    pub fn not_found(what: &str) -> Self {
        Self::new(ErrorCode::NotFound, format!("{what} not found"))
    }

    pub fn rate_limited(retry_after: Duration) -> Self {
        ApiError {
            code: ErrorCode::RateLimited,
            message: "too many requests; try again later".into(),
            retry_after: Some(retry_after),
        }
    }

    pub fn unavailable() -> Self {
        Self::new(
            ErrorCode::Unavailable,
            "a dependency is unavailable; nothing was changed, try again",
        )
    }

    /// A bug or an unexpected failure: logged here with its detail, answered generically.
    pub fn internal(detail: impl std::fmt::Display) -> Self {
        tracing::error!(error = %detail, "internal error");
        Self::new(ErrorCode::Internal, "internal error")
    }
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        let status =
            StatusCode::from_u16(self.code.status()).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR);
        let mut body = ErrorBody::new(self.code, self.message);
        let mut response = if let Some(wait) = self.retry_after {
            body.error.retry_after_ms = Some(wait.as_millis() as u64);
            (status, axum::Json(body)).into_response()
        } else {
            (status, axum::Json(body)).into_response()
        };
        if let Some(wait) = self.retry_after {
            // Whole seconds, rounded up: a client waiting this long will be let in.
            let secs = wait.as_millis().div_ceil(1000).max(1);
            if let Ok(value) = HeaderValue::from_str(&secs.to_string()) {
                response.headers_mut().insert(header::RETRY_AFTER, value);
            }
        }
        response
    }
}

/// `axum::Json`, but every refusal is an [`ApiError`] that says what is wrong.
#[derive(Debug, Clone, Copy, Default)]
pub struct Json<T>(pub T);

impl<T, S> FromRequest<S> for Json<T>
where
    T: DeserializeOwned,
    S: Send + Sync,
{
    type Rejection = ApiError;

    async fn from_request(req: Request, state: &S) -> Result<Self, Self::Rejection> {
        // Every body of the contract is an object; serde would also read a struct from an
        // array, its fields in order.
        let value = match axum::Json::<serde_json::Value>::from_request(req, state).await {
            Ok(axum::Json(value)) if value.is_object() => value,
            Ok(_) => return Err(ApiError::invalid("the body must be a JSON object")),
            Err(rejection) => return Err(json_rejection(rejection)),
        };
        T::deserialize(value)
            .map(Json)
            .map_err(|e| ApiError::invalid(format!("invalid body: {e}")))
    }
}

impl<T: serde::Serialize> IntoResponse for Json<T> {
    fn into_response(self) -> Response {
        axum::Json(self.0).into_response()
    }
}

fn json_rejection(rejection: JsonRejection) -> ApiError {
    match rejection {
        JsonRejection::MissingJsonContentType(_) => ApiError::new(
            ErrorCode::UnsupportedMediaType,
            "the body must be JSON (Content-Type: application/json)",
        ),
        JsonRejection::JsonSyntaxError(e) => {
            ApiError::invalid(format!("the body is not valid JSON: {}", e.body_text()))
        }
        JsonRejection::JsonDataError(e) => ApiError::invalid(e.body_text()),
        other if other.status() == StatusCode::PAYLOAD_TOO_LARGE => {
            ApiError::new(ErrorCode::TooLarge, "the body is too large")
        }
        other => ApiError::invalid(other.body_text()),
    }
}

/// The fallback for unknown routes: 404 in the contract's shape.
pub async fn not_found() -> ApiError {
    ApiError::not_found("route")
}

/// The headers every API answer carries: nothing in it is a page to frame, sniff or run
/// (`default-src 'none'` also keeps an uploaded file served from our origin inert), and no
/// referrer leaves with a link. Set only where a handler (the web app's files) did not set its
/// own.
pub fn with_security_headers(router: axum::Router) -> axum::Router {
    use tower_http::set_header::SetResponseHeaderLayer;
    const HEADERS: [(header::HeaderName, &str); 4] = [
        (header::X_CONTENT_TYPE_OPTIONS, "nosniff"),
        (header::X_FRAME_OPTIONS, "DENY"),
        (header::REFERRER_POLICY, "no-referrer"),
        (
            header::CONTENT_SECURITY_POLICY,
            "default-src 'none'; frame-ancestors 'none'",
        ),
    ];
    HEADERS.into_iter().fold(router, |router, (name, value)| {
        router.layer(SetResponseHeaderLayer::if_not_present(
            name,
            HeaderValue::from_static(value),
        ))
    })
}
