//! The Origin allowlist of the Socket.IO handshake: browsers send `Origin`, and a page of
//! another site must not open a chat connection with the user's token. Requests without an
//! Origin (non-browser clients) pass; so do same-origin ones.

use std::sync::Arc;

use axum::extract::{Request, State};
use axum::http::header::{HOST, ORIGIN};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use models::ErrorCode;
use service_kit::ApiError;

use crate::config::Origins;

/// Whether `request` is for the Socket.IO endpoint (its default path, `/socket.io/`).
pub fn is_socket_io(request: &Request) -> bool {
    request.uri().path().starts_with("/socket.io")
}

pub async fn guard(State(origins): State<Arc<Origins>>, request: Request, next: Next) -> Response {
    if !is_socket_io(&request) {
        return next.run(request).await;
    }
    let Some(origin) = request.headers().get(ORIGIN).and_then(|v| v.to_str().ok()) else {
        return next.run(request).await;
    };
    let origin = origin.trim_end_matches('/').to_ascii_lowercase();
    let same_origin = request
        .headers()
        .get(HOST)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|host| {
            origin
                .split_once("://")
                .is_some_and(|(_, rest)| rest.eq_ignore_ascii_case(host))
        });
    let allowed = same_origin
        || match origins.as_ref() {
            Origins::Any => true,
            Origins::List(list) => list.contains(&origin),
        };
    if allowed {
        next.run(request).await
    } else {
        tracing::debug!(%origin, "handshake from a disallowed origin refused");
        ApiError::new(ErrorCode::Forbidden, "this origin may not connect").into_response()
    }
}
