//! The claims of an access token.

use serde::{Deserialize, Serialize};

/// What an access token asserts. `iss`, `aud` and `exp` are always checked.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Claims {
    /// The user's id.
    pub sub: String,
    /// The user's canonical username, so services can name the user without a lookup.
    pub name: String,
    pub iss: String,
    pub aud: String,
    /// Expiry, seconds since the epoch.
    pub exp: u64,
    /// Issued at, seconds since the epoch.
    pub iat: u64,
    /// A unique id per token.
    pub jti: String,
}
