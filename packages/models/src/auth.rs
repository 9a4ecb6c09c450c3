//! Users and sessions, as `/api/auth` and `/api/users` return them.

use serde::{Deserialize, Serialize};

use crate::Timestamp;

/// A user's opaque id.
pub type UserId = String;

/// `User` = `{id, username, display_name, created_at}`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct User {
    pub id: UserId,
    pub username: String,
    pub display_name: String,
    pub created_at: Timestamp,
}

/// What register, login and refresh return.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Session {
    pub user: User,
    pub access_token: String,
    pub refresh_token: String,
    /// Always `"Bearer"`.
    pub token_type: String,
    /// Seconds until the access token expires.
    pub expires_in: u64,
}

/// `GET /api/auth/me`.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Me {
    pub user: User,
}

/// `GET /api/users?q=`.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct UserList {
    pub users: Vec<User>,
}

/// Usernames: 3–32 chars of `[a-z0-9_.-]`, compared case-insensitively. Returns the canonical
/// (lower-case) form, or why it is not acceptable.
pub fn normalize_username(raw: &str) -> Result<String, &'static str> {
    let lower = raw.to_ascii_lowercase();
    let len = lower.chars().count();
    if !(3..=32).contains(&len) {
        return Err("username must be 3 to 32 characters");
    }
    if !lower
        .chars()
        .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || matches!(c, '_' | '.' | '-'))
    {
        return Err("username may contain only a-z, 0-9, '_', '.' and '-'");
    }
    Ok(lower)
}

/// Display names: 1–64 characters after trimming, showing what they are (see
/// [`crate::text::checked_name`]).
pub fn validate_display_name(raw: &str) -> Result<String, String> {
    crate::text::checked_name(raw, "display_name", 64)
}

/// Passwords: 8–128 characters.
pub fn validate_password(raw: &str) -> Result<(), &'static str> {
    let len = raw.chars().count();
    if !(8..=128).contains(&len) {
        return Err("password must be 8 to 128 characters");
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn usernames_are_lowercased_and_checked() {
        assert_eq!(normalize_username("Alice_1.x-y").unwrap(), "alice_1.x-y");
        assert!(normalize_username("ab").is_err());
        assert!(normalize_username(&"a".repeat(33)).is_err());
        assert!(normalize_username("al ice").is_err());
        assert!(normalize_username("alicé").is_err());
    }

    #[test]
    fn display_names_and_passwords_have_bounds() {
        assert_eq!(validate_display_name("  Al  ").unwrap(), "Al");
        assert!(validate_display_name("   ").is_err());
        assert!(validate_display_name(&"x".repeat(65)).is_err());
        assert!(validate_password("1234567").is_err());
        assert!(validate_password("12345678").is_ok());
        assert!(validate_password(&"x".repeat(129)).is_err());
    }
}
