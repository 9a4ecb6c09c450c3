//! [`MongoStore`]: the store of the distributed mode, on MongoDB (6.0 or later).
//!
//! Documents use their natural key as `_id` (a user's id, a family's id, a token's hash), so
//! the mandatory `_id` index doubles as the lookup index. Times are `i64` milliseconds since
//! the epoch, like [`models::Timestamp`].
//!
//! Collections: `users`, `token_families`, `refresh_tokens` ([`AuthStore`], here), and `rooms`,
//! `messages`, `read_pointers` ([`crate::ChatStore`], in the `chat` submodule),
//! `push_subscriptions` ([`crate::PushStore`], in `push`), `files` ([`crate::FileStore`],
//! in `files`) and `message_search` ([`crate::SearchStore`], in `search`). Indexes are
//! created at [`MongoStore::connect`]; creating an existing index is a no-op, so every
//! instance does it.
//!
//! Every query here is also run against nx-27017, the MongoDB-wire stand-in of the tests, and
//! avoids the few forms it gets wrong (noted where they matter); each form used means the same
//! on a real server.

use std::time::Duration;

use async_trait::async_trait;
use models::Timestamp;
use mongodb::bson::{Document, doc};
use mongodb::error::{ErrorKind, WriteFailure};
use mongodb::options::{ClientOptions, IndexOptions};
use mongodb::{Client, Collection, Database, IndexModel};
use serde::{Deserialize, Serialize};

use crate::auth::{AuthStore, Consumed, NewRefreshToken, UserRecord};
use crate::{Error, Result};

mod chat;
mod files;
mod push;
mod search;

/// Applied unless the URL sets its own: the driver's defaults (30 s to select a server) would
/// keep a request hanging long after a down database should have produced a 503.
const SERVER_SELECTION_TIMEOUT: Duration = Duration::from_secs(5);
const CONNECT_TIMEOUT: Duration = Duration::from_secs(5);

/// How long one round of creating the indexes may take, and how many rounds are tried.
const INDEX_ROUND_TIMEOUT: Duration = Duration::from_secs(10);
const INDEX_ROUNDS: u32 = 3;

/// MongoDB's duplicate-key error code.
const DUPLICATE_KEY: i32 = 11000;

/// Server error codes that mean "not reachable right now" rather than "wrong request":
/// network failures, shutdowns, elections and time limits.
const TRANSIENT_CODES: &[i32] = &[
    6,     // HostUnreachable
    7,     // HostNotFound
    50,    // MaxTimeMSExpired
    89,    // NetworkTimeout
    91,    // ShutdownInProgress
    189,   // PrimarySteppedDown
    262,   // ExceededTimeLimit
    9001,  // SocketException
    10107, // NotWritablePrimary
    11600, // InterruptedAtShutdown
    11602, // InterruptedDueToReplStateChange
    13435, // NotPrimaryNoSecondaryOk
    13436, // NotPrimaryOrSecondary
];

/// The MongoDB store: every trait of this crate over one database.
///
/// Cheap to clone; clones share the driver's connection pool.
#[derive(Debug, Clone)]
pub struct MongoStore {
    db: Database,
    users: Collection<UserDoc>,
    families: Collection<FamilyDoc>,
    tokens: Collection<TokenRef>,
    rooms: Collection<chat::RoomDoc>,
    messages: Collection<chat::MessageDoc>,
    read_pointers: Collection<chat::ReadPointerDoc>,
    files: Collection<files::FileDoc>,
}

impl MongoStore {
    /// Connects to `url`, checks the server answers, and creates the indexes.
    ///
    /// Server-selection and connect timeouts default to 5 s (a `serverSelectionTimeoutMS` or
    /// `connectTimeoutMS` in the URL wins), so a down database fails fast with
    /// [`Error::Unavailable`].
    pub async fn connect(url: &str, database: &str) -> Result<Self> {
        let mut options = ClientOptions::parse(url).await.map_err(map_err)?;
        options
            .server_selection_timeout
            .get_or_insert(SERVER_SELECTION_TIMEOUT);
        options.connect_timeout.get_or_insert(CONNECT_TIMEOUT);
        let client = Client::with_options(options).map_err(map_err)?;
        let db = client.database(database);
        let store = MongoStore {
            users: db.collection("users"),
            families: db.collection("token_families"),
            tokens: db.collection("refresh_tokens"),
            rooms: db.collection("rooms"),
            messages: db.collection("messages"),
            read_pointers: db.collection("read_pointers"),
            files: db.collection("files"),
            db,
        };
        store.ping().await?;
        // A server busy enough to stall one of the index requests must not keep a process from
        // starting: each round is bounded, and creating an index that exists is a no-op.
        for round in 1..=INDEX_ROUNDS {
            match tokio::time::timeout(INDEX_ROUND_TIMEOUT, store.create_indexes()).await {
                Ok(created) => return created.map(|()| store),
                Err(_) => tracing::warn!(
                    round,
                    timeout = ?INDEX_ROUND_TIMEOUT,
                    "creating the MongoDB indexes is taking long; trying again"
                ),
            }
        }
        Err(Error::Unavailable(format!(
            "creating the MongoDB indexes took longer than {INDEX_ROUNDS} × {INDEX_ROUND_TIMEOUT:?}"
        )))
    }

    async fn create_indexes(&self) -> Result<()> {
        self.users
            .create_index(unique_index("username"))
            .await
            .map_err(map_err)?;
        self.tokens
            .create_index(IndexModel::builder().keys(doc! { "family_id": 1 }).build())
            .await
            .map_err(map_err)?;
        self.families
            .create_index(IndexModel::builder().keys(doc! { "user_id": 1 }).build())
            .await
            .map_err(map_err)?;
        self.create_chat_indexes().await?;
        self.create_push_indexes().await?;
        self.create_search_indexes().await?;
        self.create_file_indexes().await
    }
}

fn unique_index(field: &str) -> IndexModel {
    IndexModel::builder()
        .keys(doc! { field: 1 })
        .options(IndexOptions::builder().unique(true).build())
        .build()
}

/// Maps a driver error to the store's: duplicate keys become [`Error::Duplicate`], anything that
/// says the server is out of reach [`Error::Unavailable`], the rest [`Error::Internal`].
fn map_err(e: mongodb::error::Error) -> Error {
    let code = match e.kind.as_ref() {
        ErrorKind::Write(WriteFailure::WriteError(w)) => Some(w.code),
        ErrorKind::Write(WriteFailure::WriteConcernError(w)) => Some(w.code),
        ErrorKind::Command(c) => Some(c.code),
        ErrorKind::InsertMany(m) => m
            .write_errors
            .iter()
            .flatten()
            .map(|w| w.code)
            .find(|&c| c == DUPLICATE_KEY)
            .or(m.write_concern_error.as_ref().map(|w| w.code)),
        _ => None,
    };
    match (e.kind.as_ref(), code) {
        (_, Some(DUPLICATE_KEY)) => Error::Duplicate(e.to_string()),
        (_, Some(c)) if TRANSIENT_CODES.contains(&c) => Error::Unavailable(e.to_string()),
        (
            ErrorKind::ServerSelection { .. }
            | ErrorKind::Io(_)
            | ErrorKind::ConnectionPoolCleared { .. }
            | ErrorKind::DnsResolve { .. }
            | ErrorKind::Shutdown,
            _,
        ) => Error::Unavailable(e.to_string()),
        _ => Error::Internal(e.to_string()),
    }
}

#[derive(Debug, Serialize, Deserialize)]
struct UserDoc {
    #[serde(rename = "_id")]
    id: String,
    username: String,
    display_name: String,
    password_hash: String,
    created_at: i64,
}

impl From<&UserRecord> for UserDoc {
    fn from(u: &UserRecord) -> Self {
        UserDoc {
            id: u.id.clone(),
            username: u.username.clone(),
            display_name: u.display_name.clone(),
            password_hash: u.password_hash.clone(),
            created_at: u.created_at.millis(),
        }
    }
}

impl From<UserDoc> for UserRecord {
    fn from(u: UserDoc) -> Self {
        UserRecord {
            id: u.id,
            username: u.username,
            display_name: u.display_name,
            password_hash: u.password_hash,
            created_at: Timestamp::from_millis(u.created_at),
        }
    }
}

/// A family as written. `revoked` is only ever matched in filters, never read back.
#[derive(Debug, Serialize)]
struct FamilyDoc {
    #[serde(rename = "_id")]
    id: String,
    user_id: String,
    revoked: bool,
    created_at: i64,
}

/// A refresh token as written. `used` is only ever matched in filters, never read back
/// (see [`TokenRef`]).
#[derive(Debug, Serialize)]
struct TokenDoc {
    /// The token's hash.
    #[serde(rename = "_id")]
    hash: String,
    family_id: String,
    user_id: String,
    used: bool,
    expires_at: i64,
    created_at: i64,
}

impl TokenDoc {
    fn new(token: &NewRefreshToken, now: Timestamp) -> Self {
        TokenDoc {
            hash: token.hash.clone(),
            family_id: token.family_id.clone(),
            user_id: token.user_id.clone(),
            used: false,
            expires_at: token.expires_at.millis(),
            created_at: now.millis(),
        }
    }
}

/// What reads need of a token. The flags stay out: every decision on them is made by the
/// server in a filter, which is both atomic and independent of how a server hands booleans
/// back (nx-27017 returns a `$set` `true` as the integer 1).
#[derive(Debug, Deserialize)]
struct TokenRef {
    family_id: String,
    user_id: String,
    expires_at: i64,
}

#[async_trait]
impl AuthStore for MongoStore {
    async fn create_user(&self, user: &UserRecord) -> Result<()> {
        self.users
            .insert_one(UserDoc::from(user))
            .await
            .map_err(map_err)?;
        Ok(())
    }

    async fn user_by_username(&self, username: &str) -> Result<Option<UserRecord>> {
        let found = self
            .users
            .find_one(doc! { "username": username })
            .await
            .map_err(map_err)?;
        Ok(found.map(UserRecord::from))
    }

    async fn user_by_id(&self, id: &str) -> Result<Option<UserRecord>> {
        let found = self
            .users
            .find_one(doc! { "_id": id })
            .await
            .map_err(map_err)?;
        Ok(found.map(UserRecord::from))
    }

    async fn search_users(&self, prefix: &str, limit: usize) -> Result<Vec<UserRecord>> {
        // MongoDB reads `limit(0)` as "no limit".
        if limit == 0 {
            return Ok(Vec::new());
        }
        // A range rather than a regex: it uses the username index and needs no escaping.
        // Usernames are ASCII below DEL, so `prefix + DEL` bounds every name with that prefix.
        let filter = doc! {
            "username": { "$gte": prefix, "$lt": format!("{prefix}\u{7f}") },
        };
        let mut cursor = self
            .users
            .find(filter)
            .sort(doc! { "username": 1 })
            .limit(i64::try_from(limit).unwrap_or(i64::MAX))
            .await
            .map_err(map_err)?;
        let mut users = Vec::new();
        while cursor.advance().await.map_err(map_err)? {
            users.push(cursor.deserialize_current().map_err(map_err)?.into());
        }
        Ok(users)
    }

    async fn create_family(&self, token: &NewRefreshToken) -> Result<()> {
        let now = Timestamp::now();
        // Family first: a token never points at a family that does not exist. Without a
        // transaction a failure in between leaves an empty family, which is harmless.
        self.families
            .insert_one(FamilyDoc {
                id: token.family_id.clone(),
                user_id: token.user_id.clone(),
                revoked: false,
                created_at: now.millis(),
            })
            .await
            .map_err(map_err)?;
        self.tokens
            .clone_with_type()
            .insert_one(TokenDoc::new(token, now))
            .await
            .map_err(map_err)?;
        Ok(())
    }

    async fn add_token(&self, token: &NewRefreshToken) -> Result<()> {
        self.tokens
            .clone_with_type()
            .insert_one(TokenDoc::new(token, Timestamp::now()))
            .await
            .map_err(map_err)?;
        Ok(())
    }

    async fn consume_token(&self, hash: &str, now: Timestamp) -> Result<Consumed> {
        // The conditional update is the atomic step: only one caller matches `used: false`.
        let claimed = self
            .tokens
            .find_one_and_update(
                doc! { "_id": hash, "used": false },
                doc! { "$set": { "used": true } },
            )
            .await
            .map_err(map_err)?;
        let Some(token) = claimed else {
            let seen = self
                .tokens
                .find_one(doc! { "_id": hash })
                .await
                .map_err(map_err)?;
            return Ok(seen.map_or(Consumed::Unknown, |t| Consumed::Reused {
                family_id: t.family_id,
            }));
        };
        // A missing family counts as revoked: nothing vouches for the token.
        let live_family = self
            .families
            .clone_with_type::<Document>()
            .find_one(doc! { "_id": &token.family_id, "revoked": false })
            .await
            .map_err(map_err)?;
        if live_family.is_some() && token.expires_at > now.millis() {
            Ok(Consumed::Fresh {
                user_id: token.user_id,
                family_id: token.family_id,
            })
        } else {
            Ok(Consumed::Dead)
        }
    }

    async fn revoke_family(&self, family_id: &str) -> Result<()> {
        self.families
            .update_one(
                doc! { "_id": family_id },
                doc! { "$set": { "revoked": true } },
            )
            .await
            .map_err(map_err)?;
        Ok(())
    }

    async fn token_family(&self, hash: &str) -> Result<Option<String>> {
        let found = self
            .tokens
            .find_one(doc! { "_id": hash })
            .await
            .map_err(map_err)?;
        Ok(found.map(|t| t.family_id))
    }

    async fn ping(&self) -> Result<()> {
        self.db
            .run_command(doc! { "ping": 1 })
            .await
            .map_err(map_err)?;
        Ok(())
    }
}
