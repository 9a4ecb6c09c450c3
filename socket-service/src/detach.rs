//! What a Socket.IO connection keeps of its handshake request.
//!
//! The Socket.IO layer keeps the request that opened a connection (its method, URI, headers and
//! extensions) for as long as the connection lives. hyper parses a request's URI and header
//! values as views into the connection's 16 KiB read buffer, so keeping any of them keeps that
//! whole buffer: more than half of what an idle connection costs. Handshake requests therefore
//! reach the layer with owned copies of the URI and of the only headers it reads, and the
//! buffer is freed once the request is parsed.

use axum::extract::{OriginalUri, Request};
use axum::http::header::{CONTENT_TYPE, SEC_WEBSOCKET_KEY};
use axum::http::{HeaderMap, HeaderValue, Uri};
use axum::middleware::Next;
use axum::response::Response;

/// The headers the Socket.IO layer reads: the WebSocket key to answer an upgrade with, and the
/// content type of a polling client's POST. Nothing in this service reads others from a socket.
const KEPT: [axum::http::HeaderName; 2] = [SEC_WEBSOCKET_KEY, CONTENT_TYPE];

pub async fn detach(request: Request, next: Next) -> Response {
    if !crate::origin::is_socket_io(&request) {
        return next.run(request).await;
    }
    let (mut parts, body) = request.into_parts();
    if let Some(uri) = owned_uri(&parts.uri) {
        parts.uri = uri;
    }
    let mut headers = HeaderMap::with_capacity(KEPT.len());
    for name in KEPT {
        if let Some(value) = parts.headers.get(&name)
            && let Ok(value) = HeaderValue::from_bytes(value.as_bytes())
        {
            headers.insert(name, value);
        }
    }
    parts.headers = headers;
    // A copy of the URI as it arrived, as views into the same buffer.
    parts.extensions.remove::<OriginalUri>();
    next.run(Request::from_parts(parts, body)).await
}

/// The same URI in memory of its own.
fn owned_uri(uri: &Uri) -> Option<Uri> {
    Uri::try_from(uri.to_string()).ok()
}
