//! The HTTP handlers of `/api/auth/*` and `/api/users`.

use std::net::{IpAddr, SocketAddr};
use std::time::Duration;

use axum::extract::{ConnectInfo, DefaultBodyLimit, Path, Query, State};
use axum::http::header::CACHE_CONTROL;
use axum::http::{HeaderMap, HeaderName, StatusCode, request::Parts};
use axum::routing::{get, post};
use axum::{Router, extract::FromRequestParts};
use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use models::auth::{Me, UserList, normalize_username, validate_display_name, validate_password};
use models::{Session, Timestamp};
use rand::RngCore;
use rate_limit::Decision;
use serde::Deserialize;
use service_kit::Json;
use sha2::{Digest, Sha256};
use store::{Consumed, NewRefreshToken, UserRecord};
use token::{AuthUser, JwkSet};

use crate::{AppState, Error, Result};

/// Auth bodies are small; anything bigger is refused with 413 before it is read.
const BODY_LIMIT: usize = 16 * 1024;
/// `GET /api/users` returns at most this many.
const SEARCH_LIMIT: usize = 20;

/// The routes of auth-service, without the operations endpoints.
pub fn router(state: AppState) -> Router {
    Router::new()
        .route("/api/auth/register", post(register))
        .route("/api/auth/login", post(login))
        .route("/api/auth/refresh", post(refresh))
        .route("/api/auth/logout", post(logout))
        .route("/api/auth/me", get(me))
        .route("/api/auth/jwks", get(jwks))
        .route("/api/users", get(search_users))
        .route("/api/users/{id}", get(user_by_id))
        .layer(DefaultBodyLimit::max(BODY_LIMIT))
        .with_state(state)
}

/// The public keys tokens may be signed with; verifiers fetch it every minute or so.
async fn jwks(State(state): State<AppState>) -> ([(HeaderName, &'static str); 1], Json<JwkSet>) {
    (
        [(CACHE_CONTROL, "public, max-age=60")],
        Json(JwkSet::clone(&state.key_set)),
    )
}

#[derive(Deserialize)]
struct RegisterBody {
    username: String,
    password: String,
    display_name: Option<String>,
}

async fn register(
    State(state): State<AppState>,
    Json(body): Json<RegisterBody>,
) -> Result<(StatusCode, Json<Session>)> {
    let username = normalize_username(&body.username).map_err(|m| Error::Invalid(m.into()))?;
    validate_password(&body.password).map_err(|m| Error::Invalid(m.into()))?;
    let display_name = match &body.display_name {
        Some(name) => validate_display_name(name).map_err(Error::Invalid)?,
        None => body.username.trim().to_string(),
    };
    if state.store.user_by_username(&username).await?.is_some() {
        return Err(Error::UsernameTaken);
    }
    let user = UserRecord {
        id: uuid::Uuid::now_v7().simple().to_string(),
        username,
        display_name,
        password_hash: state.passwords.hash(body.password).await?,
        created_at: Timestamp::now(),
    };
    match state.store.create_user(&user).await {
        Ok(()) => {}
        // Two registrations raced for one name; the unique index decided.
        Err(store::Error::Duplicate(_)) => return Err(Error::UsernameTaken),
        Err(e) => return Err(e.into()),
    }
    tracing::info!(user_id = %user.id, "user registered");
    let session = start_session(&state, &user).await?;
    Ok((StatusCode::CREATED, Json(session)))
}

#[derive(Deserialize)]
struct LoginBody {
    username: String,
    password: String,
}

async fn login(
    State(state): State<AppState>,
    ClientAddr(addr): ClientAddr,
    Json(body): Json<LoginBody>,
) -> Result<Json<Session>> {
    // Throttle keys: the name as it would be stored, and the client address.
    let name_key = format!("login:user:{}", body.username.to_ascii_lowercase());
    let addr_key = format!("login:addr:{addr}");
    let settings = &state.settings;
    let by_user = state
        .limiter
        .peek(&name_key, settings.login_per_user)
        .await?;
    let by_addr = state
        .limiter
        .peek(&addr_key, settings.login_per_addr)
        .await?;
    if let Some(wait) = longest_wait(&[by_user, by_addr]) {
        tracing::warn!(%addr, retry_after_ms = wait.as_millis() as u64, "login throttled");
        return Err(Error::RateLimited(wait));
    }

    let user = match normalize_username(&body.username) {
        Ok(name) => state.store.user_by_username(&name).await?,
        Err(_) => None,
    };
    let hash = user.as_ref().map(|u| u.password_hash.clone());
    let ok = state.passwords.verify(body.password, hash).await?;
    match (ok, user) {
        (true, Some(user)) => {
            state.limiter.reset(&name_key).await?;
            tracing::info!(user_id = %user.id, %addr, "login");
            Ok(Json(start_session(&state, &user).await?))
        }
        (_, user) => {
            // Never the password; the name only when it is an account's.
            tracing::warn!(
                %addr,
                user_id = user.as_ref().map(|u| u.id.as_str()).unwrap_or("-"),
                "login failed"
            );
            state
                .limiter
                .hit(&name_key, settings.login_per_user)
                .await?;
            state
                .limiter
                .hit(&addr_key, settings.login_per_addr)
                .await?;
            Err(Error::InvalidCredentials)
        }
    }
}

fn longest_wait(decisions: &[Decision]) -> Option<Duration> {
    decisions
        .iter()
        .filter_map(|d| match d {
            Decision::Limited { retry_after } => Some(*retry_after),
            Decision::Allowed => None,
        })
        .max()
}

#[derive(Deserialize)]
struct RefreshBody {
    refresh_token: String,
}

async fn refresh(
    State(state): State<AppState>,
    Json(body): Json<RefreshBody>,
) -> Result<Json<Session>> {
    let hash = hash_token(&body.refresh_token);
    match state.store.consume_token(&hash, Timestamp::now()).await? {
        Consumed::Fresh { user_id, family_id } => {
            let user = state
                .store
                .user_by_id(&user_id)
                .await?
                .ok_or(Error::Unauthorized("the account no longer exists"))?;
            let (refresh_token, record) = new_refresh_token(&state, &user.id, family_id);
            state.store.add_token(&record).await?;
            Ok(Json(session(&state, &user, refresh_token)))
        }
        Consumed::Reused { family_id } => {
            state.store.revoke_family(&family_id).await?;
            tracing::warn!(%family_id, "refresh token reused; the whole login is revoked");
            Err(Error::Unauthorized(
                "this refresh token was already used; the session has been revoked",
            ))
        }
        Consumed::Dead | Consumed::Unknown => Err(Error::Unauthorized(
            "the refresh token is invalid, expired or revoked",
        )),
    }
}

async fn logout(
    State(state): State<AppState>,
    Json(body): Json<RefreshBody>,
) -> Result<StatusCode> {
    if let Some(family_id) = state
        .store
        .token_family(&hash_token(&body.refresh_token))
        .await?
    {
        state.store.revoke_family(&family_id).await?;
    }
    Ok(StatusCode::NO_CONTENT)
}

async fn me(State(state): State<AppState>, caller: AuthUser) -> Result<Json<Me>> {
    let user = state
        .store
        .user_by_id(&caller.id)
        .await?
        .ok_or(Error::Unauthorized("the account no longer exists"))?;
    Ok(Json(Me {
        user: user.to_user(),
    }))
}

#[derive(Deserialize)]
struct SearchQuery {
    q: Option<String>,
}

async fn search_users(
    State(state): State<AppState>,
    _caller: AuthUser,
    query: std::result::Result<Query<SearchQuery>, axum::extract::rejection::QueryRejection>,
) -> Result<Json<UserList>> {
    let Query(query) = query.map_err(|e| Error::Invalid(e.body_text()))?;
    let q = query
        .q
        .ok_or_else(|| Error::Invalid("query parameter q (a username prefix) is required".into()))?
        .trim()
        .to_ascii_lowercase();
    if q.chars().count() > 32 {
        return Err(Error::Invalid("q must be at most 32 characters".into()));
    }
    let users = state.store.search_users(&q, SEARCH_LIMIT).await?;
    Ok(Json(UserList {
        users: users.iter().map(UserRecord::to_user).collect(),
    }))
}

/// `GET /api/users/{id}`: one user's public profile, so a client can name the members and
/// senders it meets (room members and message senders are ids).
async fn user_by_id(
    State(state): State<AppState>,
    _caller: AuthUser,
    Path(id): Path<String>,
) -> Result<Json<Me>> {
    let user = state
        .store
        .user_by_id(&id)
        .await?
        .ok_or(Error::NotFound("user"))?;
    Ok(Json(Me {
        user: user.to_user(),
    }))
}

/// A new login: a new token family and its first token.
async fn start_session(state: &AppState, user: &UserRecord) -> Result<Session> {
    let family_id = uuid::Uuid::new_v4().simple().to_string();
    let (refresh_token, record) = new_refresh_token(state, &user.id, family_id);
    state.store.create_family(&record).await?;
    Ok(session(state, user, refresh_token))
}

fn session(state: &AppState, user: &UserRecord, refresh_token: String) -> Session {
    Session {
        user: user.to_user(),
        access_token: state.issuer.issue(&user.id, &user.username),
        refresh_token,
        token_type: "Bearer".into(),
        expires_in: state.issuer.ttl().as_secs(),
    }
}

/// 256 random bits for the client; only their hash is stored.
fn new_refresh_token(
    state: &AppState,
    user_id: &str,
    family_id: String,
) -> (String, NewRefreshToken) {
    let mut bytes = [0u8; 32];
    rand::rngs::OsRng.fill_bytes(&mut bytes);
    let token = URL_SAFE_NO_PAD.encode(bytes);
    let expires_at = Timestamp::from_millis(
        Timestamp::now().millis() + state.settings.refresh_ttl.as_millis() as i64,
    );
    let record = NewRefreshToken {
        hash: hash_token(&token),
        family_id,
        user_id: user_id.to_string(),
        expires_at,
    };
    (token, record)
}

fn hash_token(token: &str) -> String {
    let digest = Sha256::digest(token.as_bytes());
    digest.iter().map(|b| format!("{b:02x}")).collect()
}

/// The client's address: the peer, or behind a trusted proxy the right-most
/// `X-Forwarded-For` entry (the one that proxy added).
struct ClientAddr(IpAddr);

impl FromRequestParts<AppState> for ClientAddr {
    type Rejection = Error;

    async fn from_request_parts(parts: &mut Parts, state: &AppState) -> Result<Self> {
        if state.settings.trust_forwarded_for
            && let Some(ip) = forwarded_for(&parts.headers)
        {
            return Ok(ClientAddr(ip));
        }
        let peer = parts
            .extensions
            .get::<ConnectInfo<SocketAddr>>()
            .map(|ConnectInfo(addr)| addr.ip())
            .unwrap_or(IpAddr::from([0, 0, 0, 0]));
        Ok(ClientAddr(peer))
    }
}

fn forwarded_for(headers: &HeaderMap) -> Option<IpAddr> {
    headers
        .get_all("x-forwarded-for")
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(','))
        .next_back()
        .and_then(|ip| ip.trim().parse().ok())
}
