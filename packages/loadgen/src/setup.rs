//! Users and rooms before the load: over the chat's HTTP API (register once, in parallel, and
//! reuse; rooms created by their first member), or, for the relays (the Node.js peer and the
//! raw WebSocket baseline), made-up ids whose rooms travel in the CONNECT packet's `auth`.

use std::path::Path;
use std::sync::Arc;

use serde::{Deserialize, Serialize};
use serde_json::{Value, json};
use tokio::sync::Semaphore;

use crate::error::{Error, Result};

/// What kind of server the load goes to.
#[derive(Debug, Clone)]
pub enum Target {
    /// Our server: accounts through `/api/auth` at `auth` and rooms through `/api/rooms` at
    /// `rooms` (`http://host:port`; the same in standalone mode), the Socket.IO contract of
    /// docs/protocol.md.
    Chat { auth: String, rooms: String },
    /// A relay with no accounts: the token is the user id, `auth.rooms` lists the rooms the
    /// socket joins, and a `message:send` is broadcast to the room and acked.
    Relay,
}

/// One account: its id and an access token.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct User {
    pub id: String,
    pub token: String,
}

/// Registers users at most `concurrency` at a time (each registration is an Argon2id hash).
/// With `cache`, the users of an earlier call against the same server are reused when their
/// token still works, and the cache is rewritten with any new ones.
pub async fn users(
    target: &Target,
    count: usize,
    concurrency: usize,
    cache: Option<&Path>,
) -> Result<Vec<User>> {
    let Target::Chat { auth: http, .. } = target else {
        return Ok((0..count)
            .map(|i| User {
                id: format!("u{i}"),
                token: format!("u{i}"),
            })
            .collect());
    };
    let client = reqwest::Client::new();
    let mut users: Vec<User> = match cache.and_then(|p| std::fs::read(p).ok()) {
        Some(bytes) => serde_json::from_slice(&bytes).unwrap_or_default(),
        None => Vec::new(),
    };
    if let Some(first) = users.first() {
        let me = client
            .get(format!("{http}/api/auth/me"))
            .bearer_auth(&first.token)
            .send()
            .await?;
        if !me.status().is_success() {
            users.clear();
        }
    }
    if users.len() < count {
        let run = crate::run_id();
        let permits = Arc::new(Semaphore::new(concurrency.max(1)));
        let mut tasks = Vec::new();
        for i in users.len()..count {
            let (client, http, permits) = (client.clone(), http.clone(), permits.clone());
            let username = format!("lg{run}_{i}");
            tasks.push(tokio::spawn(async move {
                let _permit = permits.acquire().await;
                register(&client, &http, &username).await
            }));
        }
        for task in tasks {
            users.push(task.await.map_err(|e| Error::Setup(e.to_string()))??);
        }
        if let Some(path) = cache {
            std::fs::write(path, serde_json::to_vec(&users)?)?;
        }
    }
    users.truncate(count);
    Ok(users)
}

async fn register(client: &reqwest::Client, http: &str, username: &str) -> Result<User> {
    let response = client
        .post(format!("{http}/api/auth/register"))
        .json(&json!({"username": username, "password": "load-generator"}))
        .send()
        .await?;
    let status = response.status();
    let body: Value = response.json().await?;
    if !status.is_success() {
        return Err(Error::Setup(format!(
            "register {username}: {status} {body}"
        )));
    }
    match (body["user"]["id"].as_str(), body["access_token"].as_str()) {
        (Some(id), Some(token)) => Ok(User {
            id: id.to_string(),
            token: token.to_string(),
        }),
        _ => Err(Error::Setup(format!("register {username}: {body}"))),
    }
}

/// Makes a room of `members` (the first one owns it) and returns its id. For a relay the id is
/// `name` itself: membership is what each socket names in its `auth.rooms`.
pub async fn room(target: &Target, name: &str, members: &[User]) -> Result<String> {
    let Target::Chat { rooms: http, .. } = target else {
        return Ok(name.to_string());
    };
    let (owner, others) = members
        .split_first()
        .ok_or_else(|| Error::Setup("a room needs a member".into()))?;
    let ids: Vec<&str> = others.iter().map(|u| u.id.as_str()).collect();
    let response = reqwest::Client::new()
        .post(format!("{http}/api/rooms"))
        .bearer_auth(&owner.token)
        .json(&json!({"name": name, "members": ids}))
        .send()
        .await?;
    let status = response.status();
    let body: Value = response.json().await?;
    match body["id"].as_str() {
        Some(id) if status.is_success() => Ok(id.to_string()),
        _ => Err(Error::Setup(format!("create room: {status} {body}"))),
    }
}

/// The CONNECT packet's `auth` for `user`, who is in `rooms`.
pub fn auth(target: &Target, user: &User, rooms: &[Arc<str>]) -> Value {
    match target {
        Target::Chat { .. } => json!({"token": user.token}),
        Target::Relay => {
            json!({"token": user.token, "rooms": rooms.iter().map(|r| &**r).collect::<Vec<_>>()})
        }
    }
}
