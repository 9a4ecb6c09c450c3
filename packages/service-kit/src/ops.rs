//! The operations endpoints every service serves: `/healthz` (the process is alive), `/readyz`
//! (its dependencies answer; 503 otherwise) and `/metrics` (Prometheus text).

use std::sync::{Arc, OnceLock};

use async_trait::async_trait;
use axum::extract::State;
use axum::http::StatusCode;
use axum::response::IntoResponse;
use axum::routing::get;
use axum::{Json, Router};
use metrics_exporter_prometheus::{PrometheusBuilder, PrometheusHandle};

/// One dependency whose reachability decides readiness.
#[async_trait]
pub trait Check: Send + Sync {
    /// A short name for the readiness report, e.g. `mongodb`.
    fn name(&self) -> &str;
    /// `Err` with a reason when the dependency does not answer.
    async fn check(&self) -> Result<(), String>;
}

/// The Prometheus recorder: installed once per process, whatever number of services it runs.
pub fn metrics_handle() -> PrometheusHandle {
    static HANDLE: OnceLock<PrometheusHandle> = OnceLock::new();
    HANDLE
        .get_or_init(|| {
            PrometheusBuilder::new()
                .install_recorder()
                .expect("no other metrics recorder is installed")
        })
        .clone()
}

#[derive(Clone)]
struct OpsState {
    checks: Arc<Vec<Arc<dyn Check>>>,
    metrics: PrometheusHandle,
}

/// The router for `/healthz`, `/readyz` and `/metrics`.
pub fn router(checks: Vec<Arc<dyn Check>>) -> Router {
    let state = OpsState {
        checks: Arc::new(checks),
        metrics: metrics_handle(),
    };
    Router::new()
        .route(
            "/healthz",
            get(|| async { Json(serde_json::json!({"status": "ok"})) }),
        )
        .route("/readyz", get(readyz))
        .route("/metrics", get(metrics))
        .with_state(state)
}

async fn readyz(State(state): State<OpsState>) -> impl IntoResponse {
    let mut report = serde_json::Map::new();
    let mut ready = true;
    for check in state.checks.iter() {
        let outcome = tokio::time::timeout(std::time::Duration::from_secs(3), check.check())
            .await
            .unwrap_or_else(|_| Err("timed out".to_string()));
        let value = match outcome {
            Ok(()) => "ok".to_string(),
            Err(reason) => {
                ready = false;
                reason
            }
        };
        report.insert(check.name().to_string(), value.into());
    }
    let status = if ready {
        StatusCode::OK
    } else {
        StatusCode::SERVICE_UNAVAILABLE
    };
    let body = serde_json::json!({"status": if ready { "ready" } else { "unavailable" }, "checks": report});
    (status, Json(body))
}

async fn metrics(State(state): State<OpsState>) -> impl IntoResponse {
    (
        [("content-type", "text/plain; version=0.0.4")],
        state.metrics.render(),
    )
}

/// A service's whole HTTP app: its `api`, the operations endpoints, the contract's 404 for
/// anything else, and the security headers on every answer.
pub fn with_operations(api: Router, checks: Vec<Arc<dyn Check>>) -> Router {
    crate::http::with_security_headers(api.merge(router(checks)).fallback(crate::http::not_found))
}

/// Serves only the operations endpoints on `listener` until `shutdown`: the shape of a
/// service whose consumer has no HTTP API of its own.
pub async fn serve(
    listener: tokio::net::TcpListener,
    checks: Vec<Arc<dyn Check>>,
    shutdown: tokio_util::sync::CancellationToken,
) -> std::io::Result<()> {
    tracing::info!(addr = %listener.local_addr()?, "operations endpoints listening");
    axum::serve(listener, crate::http::with_security_headers(router(checks)))
        .with_graceful_shutdown(shutdown.cancelled_owned())
        .await
}

/// Readiness: the verifier knows at least one key to check access tokens with (a verifier
/// that follows auth-service's key set knows none until its first fetch).
pub fn token_keys(verifier: Arc<token::Verifier>) -> Arc<dyn Check> {
    check("token keys", move || {
        let known = !verifier.kids().is_empty();
        async move {
            known
                .then_some(())
                .ok_or_else(|| "no access token key known yet (CHAT_JWKS_URL not fetched)".into())
        }
    })
}

/// A readiness check from a closure: `check("redis", move || async move { ... })`.
pub fn check<F, Fut>(name: &'static str, f: F) -> Arc<dyn Check>
where
    F: Fn() -> Fut + Send + Sync + 'static,
    Fut: std::future::Future<Output = Result<(), String>> + Send + 'static,
{
    struct FnCheck<F> {
        name: &'static str,
        f: F,
    }

    #[async_trait]
    impl<F, Fut> Check for FnCheck<F>
    where
        F: Fn() -> Fut + Send + Sync + 'static,
        Fut: std::future::Future<Output = Result<(), String>> + Send + 'static,
    {
        fn name(&self) -> &str {
            self.name
        }

        async fn check(&self) -> Result<(), String> {
            (self.f)().await
        }
    }

    Arc::new(FnCheck { name, f })
}
