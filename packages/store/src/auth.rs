//! Users and refresh-token families.
//!
//! A login starts a *family*; every refresh rotates the family's token. Tokens are kept only as
//! hashes. A token is single-use: consuming it twice is reuse, and the caller then revokes the
//! whole family, so a stolen token dies with the legitimate one.

use async_trait::async_trait;
use models::Timestamp;

use crate::Result;

/// A stored user. `username` is the canonical lower-case form, which is what uniqueness is on.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct UserRecord {
    pub id: String,
    pub username: String,
    pub display_name: String,
    /// PHC string (`$argon2id$...`).
    pub password_hash: String,
    pub created_at: Timestamp,
}

impl UserRecord {
    pub fn to_user(&self) -> models::User {
        models::User {
            id: self.id.clone(),
            username: self.username.clone(),
            display_name: self.display_name.clone(),
            created_at: self.created_at,
        }
    }
}

/// A refresh token to store (its hash only).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NewRefreshToken {
    /// Hex SHA-256 of the token the client holds.
    pub hash: String,
    pub family_id: String,
    pub user_id: String,
    pub expires_at: Timestamp,
}

/// What consuming a refresh token found.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Consumed {
    /// It was unused, unexpired and its family live; it is now used.
    Fresh { user_id: String, family_id: String },
    /// It had been used before: reuse. The caller revokes the family.
    Reused { family_id: String },
    /// Its family was revoked (logout or an earlier reuse), or it expired.
    Dead,
    /// No such token.
    Unknown,
}

#[async_trait]
pub trait AuthStore: Send + Sync + 'static {
    /// Inserts a user; [`crate::Error::Duplicate`] when the username is taken.
    async fn create_user(&self, user: &UserRecord) -> Result<()>;
    /// Looks a user up by canonical (lower-case) username.
    async fn user_by_username(&self, username: &str) -> Result<Option<UserRecord>>;
    async fn user_by_id(&self, id: &str) -> Result<Option<UserRecord>>;
    /// Users whose canonical username starts with `prefix`, ordered by username, at most `limit`.
    async fn search_users(&self, prefix: &str, limit: usize) -> Result<Vec<UserRecord>>;

    /// Starts a family (a login) and stores its first token.
    async fn create_family(&self, token: &NewRefreshToken) -> Result<()>;
    /// Stores a later token of an existing family (a rotation).
    async fn add_token(&self, token: &NewRefreshToken) -> Result<()>;
    /// Atomically marks the token with this hash used, if it was not; says what it found.
    /// Among concurrent calls with one hash, at most one gets [`Consumed::Fresh`].
    async fn consume_token(&self, hash: &str, now: Timestamp) -> Result<Consumed>;
    /// Revokes a family: none of its tokens, past or future, will be `Fresh` again.
    async fn revoke_family(&self, family_id: &str) -> Result<()>;
    /// The family a token belongs to, whatever its state.
    async fn token_family(&self, hash: &str) -> Result<Option<String>>;

    /// Succeeds when the database answers.
    async fn ping(&self) -> Result<()>;
}
