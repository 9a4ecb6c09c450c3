//! The HTTP API of docs/protocol.md's "Web push": the VAPID public key, and subscribing and
//! unsubscribing the caller's devices.

use std::net::IpAddr;
use std::sync::Arc;

use axum::extract::{FromRef, State};
use axum::http::StatusCode;
use axum::routing::get;
use axum::{Json, Router};
use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use models::Timestamp;
use serde::Deserialize;
use service_kit::http::{self, ApiError};
use store::{PushStore, PushSubscription};
use token::{AuthUser, Verifier};

use crate::{Error, VapidKeys};

/// The longest endpoint accepted; real ones are a few hundred characters.
const MAX_ENDPOINT_LEN: usize = 2048;

#[derive(Clone)]
pub struct AppState {
    pub subscriptions: Arc<dyn PushStore>,
    pub verifier: Arc<Verifier>,
    pub keys: VapidKeys,
    /// Accept `http://` endpoints on loopback addresses: for tests and local development only
    /// (`CHAT_PUSH_ALLOW_HTTP_LOOPBACK`). Everything else must be `https://`.
    pub allow_http_loopback: bool,
}

impl FromRef<AppState> for Arc<Verifier> {
    fn from_ref(state: &AppState) -> Self {
        state.verifier.clone()
    }
}

/// `/api/push/...`.
pub fn router(state: AppState) -> Router {
    Router::new()
        .route("/api/push/vapid-public-key", get(public_key))
        .route(
            "/api/push/subscriptions",
            axum::routing::post(subscribe).delete(unsubscribe),
        )
        .with_state(state)
}

async fn public_key(State(state): State<AppState>) -> Json<serde_json::Value> {
    Json(serde_json::json!({ "public_key": state.keys.public_key() }))
}

/// The browser's `PushSubscription.toJSON()`; other fields (`expirationTime`) are ignored.
#[derive(Debug, Deserialize)]
struct SubscribeBody {
    endpoint: String,
    keys: Keys,
}

#[derive(Debug, Deserialize)]
struct Keys {
    p256dh: String,
    auth: String,
}

#[derive(Debug, Deserialize)]
struct UnsubscribeBody {
    endpoint: String,
}

async fn subscribe(
    State(state): State<AppState>,
    user: AuthUser,
    http::Json(body): http::Json<SubscribeBody>,
) -> Result<StatusCode, ApiError> {
    check_endpoint(&body.endpoint, state.allow_http_loopback)?;
    let p256dh = canonical_key(&body.keys.p256dh, "keys.p256dh")?;
    let point = URL_SAFE_NO_PAD.decode(&p256dh).unwrap_or_default();
    if point.len() != 65 || point[0] != 4 || p256::PublicKey::from_sec1_bytes(&point).is_err() {
        return Err(Error::Invalid(
            "keys.p256dh must be an uncompressed P-256 public key (65 bytes, base64url)".into(),
        )
        .into());
    }
    let auth = canonical_key(&body.keys.auth, "keys.auth")?;
    if URL_SAFE_NO_PAD.decode(&auth).unwrap_or_default().len() != 16 {
        return Err(Error::Invalid("keys.auth must be 16 bytes in base64url".into()).into());
    }
    state
        .subscriptions
        .subscribe(&PushSubscription {
            endpoint: body.endpoint,
            user_id: user.id,
            p256dh,
            auth,
            created_at: Timestamp::now(),
        })
        .await
        .map_err(|e| match e {
            // Only the browser holding a subscription knows its secret; knowing its endpoint
            // is not enough to take it from another account.
            store::Error::Duplicate(_) => ApiError::new(
                models::ErrorCode::Conflict,
                "this push endpoint is another account's subscription",
            ),
            e => Error::from(e).into(),
        })?;
    Ok(StatusCode::CREATED)
}

async fn unsubscribe(
    State(state): State<AppState>,
    user: AuthUser,
    http::Json(body): http::Json<UnsubscribeBody>,
) -> Result<StatusCode, ApiError> {
    // Idempotent: an endpoint that is not (or no longer) the caller's is simply not there.
    state
        .subscriptions
        .unsubscribe(&user.id, &body.endpoint)
        .await
        .map_err(Error::from)?;
    Ok(StatusCode::NO_CONTENT)
}

/// An endpoint is an absolute `https://` URL; `http://` only to a loopback address, and only
/// when `allow_http_loopback` is set.
fn check_endpoint(endpoint: &str, allow_http_loopback: bool) -> Result<(), Error> {
    if endpoint.len() > MAX_ENDPOINT_LEN {
        return Err(Error::Invalid(format!(
            "endpoint is longer than {MAX_ENDPOINT_LEN} characters"
        )));
    }
    let url = reqwest::Url::parse(endpoint)
        .map_err(|e| Error::Invalid(format!("endpoint is not a URL: {e}")))?;
    let loopback = match url.host() {
        Some(url::Host::Domain(name)) => name.eq_ignore_ascii_case("localhost"),
        Some(url::Host::Ipv4(ip)) => IpAddr::V4(ip).is_loopback(),
        Some(url::Host::Ipv6(ip)) => IpAddr::V6(ip).is_loopback(),
        None => false,
    };
    match url.scheme() {
        _ if url.host().is_none() || !url.username().is_empty() || url.password().is_some() => {
            Err(Error::Invalid("endpoint must be a push service URL".into()))
        }
        "https" => Ok(()),
        "http" if allow_http_loopback && loopback => Ok(()),
        _ => Err(Error::Invalid("endpoint must be an https:// URL".into())),
    }
}

/// A base64url key as stored: without padding, whatever the browser sent.
fn canonical_key(value: &str, field: &str) -> Result<String, Error> {
    let trimmed = value.trim_end_matches('=');
    match URL_SAFE_NO_PAD.decode(trimmed) {
        Ok(_) => Ok(trimmed.to_owned()),
        Err(_) => Err(Error::Invalid(format!("{field} is not base64url"))),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn endpoints_must_be_https_unless_loopback_http_is_allowed() {
        assert!(check_endpoint("https://fcm.googleapis.com/fcm/send/abc", false).is_ok());
        assert!(check_endpoint("http://push.example/abc", false).is_err());
        assert!(check_endpoint("http://127.0.0.1:9/abc", false).is_err());
        assert!(check_endpoint("http://127.0.0.1:9/abc", true).is_ok());
        assert!(check_endpoint("http://[::1]:9/abc", true).is_ok());
        assert!(check_endpoint("http://push.example/abc", true).is_err());
        assert!(check_endpoint("https://user:pw@push.example/abc", false).is_err());
        assert!(check_endpoint("ftp://push.example/abc", true).is_err());
        assert!(check_endpoint("not a url", false).is_err());
        let long = format!("https://push.example/{}", "a".repeat(MAX_ENDPOINT_LEN));
        assert!(check_endpoint(&long, false).is_err());
    }
}
