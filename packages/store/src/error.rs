//! Store errors: precise enough that callers never turn a constraint into a 500.

/// What a store call can fail with.
#[derive(Debug, Clone, thiserror::Error)]
pub enum Error {
    /// A unique constraint refused the write (e.g. the username is taken).
    #[error("duplicate key: {0}")]
    Duplicate(String),
    /// The database could not be reached or timed out; nothing was half-written.
    #[error("store unavailable: {0}")]
    Unavailable(String),
    /// Anything else; a bug or corrupt data.
    #[error("store error: {0}")]
    Internal(String),
}

pub type Result<T, E = Error> = std::result::Result<T, E>;
