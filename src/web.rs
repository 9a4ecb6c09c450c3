//! The browser app on the standalone server: the built `web/dist` at `/`, with every path that
//! is not a file answered by `index.html` (the app routes in the browser), while unknown
//! `/api/...` paths keep their JSON 404. When the app was not built, `/` says how to build it.

use std::convert::Infallible;
use std::path::Path;

use axum::body::Body;
use axum::extract::Request;
use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{Html, IntoResponse, Response};
use tower::ServiceExt;
use tower::util::BoxCloneSyncService;
use tower_http::services::{ServeDir, ServeFile};

/// The web app's content security policy: its own scripts, styles and connections only (the
/// Socket.IO WebSocket is same-origin), images from itself and from the blobs it makes, never
/// framed. API answers carry a stricter one of their own.
const WEB_CSP: &str = "default-src 'self'; script-src 'self'; style-src 'self'; \
     img-src 'self' blob: data:; media-src 'self' blob:; connect-src 'self'; \
     worker-src 'self'; object-src 'none'; base-uri 'self'; form-action 'self'; \
     frame-ancestors 'none'";

/// What every route the services do not own falls back to.
pub type Fallback = BoxCloneSyncService<Request, Response, Infallible>;

/// The fallback service for `dir` (the built app): the app's files, else `index.html`.
pub fn fallback(dir: &Path) -> Fallback {
    let index = dir.join("index.html");
    let app = if index.is_file() {
        tracing::info!(dir = %dir.display(), "serving the web app");
        Some(ServeDir::new(dir).fallback(ServeFile::new(index)))
    } else {
        tracing::warn!(
            dir = %dir.display(),
            "the web app is not built (run scripts/setup); `/` explains how"
        );
        None
    };
    BoxCloneSyncService::new(tower::service_fn(move |req: Request| {
        let app = app.clone();
        async move {
            let path = req.uri().path();
            if path == "/api" || path.starts_with("/api/") {
                return Ok(service_kit::http::not_found().await.into_response());
            }
            let Some(app) = app else {
                return Ok(with_web_csp(not_built()));
            };
            let assets = path.starts_with("/assets/");
            let mut response = app.oneshot(req).await?.map(Body::new);
            // Vite names every asset by its content hash, so they never change; the rest
            // (index.html, the service worker) must be revalidated to pick up a new build.
            let cache = if assets && response.status().is_success() {
                "public, max-age=31536000, immutable"
            } else {
                "no-cache"
            };
            response
                .headers_mut()
                .insert(header::CACHE_CONTROL, HeaderValue::from_static(cache));
            Ok(with_web_csp(response))
        }
    }))
}

fn with_web_csp(mut response: Response) -> Response {
    response.headers_mut().insert(
        header::CONTENT_SECURITY_POLICY,
        HeaderValue::from_static(WEB_CSP),
    );
    response
}

fn not_built() -> Response {
    let page = "<!doctype html><html lang=\"en\"><head><meta charset=\"utf-8\">\
        <title>chat: web app not built</title></head><body>\
        <h1>The web app is not built</h1>\
        <p>The chat server is running, but it found no <code>web/dist/index.html</code> \
        (or whatever <code>CHAT_WEB_DIR</code> names) when it started.</p>\
        <p>Build it with <code>scripts/setup</code> (or <code>cd web &amp;&amp; npm ci &amp;&amp; \
        npm run build</code>) in the repository, then restart the server.</p></body></html>";
    (StatusCode::NOT_FOUND, Html(page)).into_response()
}
