//! Persistence. Each kind of data sits behind one small trait with exactly two
//! implementations: [`mongo::MongoStore`] (distributed mode) and [`sqlite::SqliteStore`] (the
//! embedded file of the standalone mode). Service logic only sees the traits.
//!
//! - [`auth`]: users and refresh-token families ([`AuthStore`]).
//! - [`chat`]: rooms, memberships, messages and read pointers ([`ChatStore`]).
//! - [`push`]: web-push subscriptions ([`PushStore`]).
//! - [`files`]: file metadata ([`FileStore`]).
//! - [`search`]: the message search index ([`SearchStore`]) and its text rules.
//! - [`mongo`], [`sqlite`]: the two implementations.
//! - [`error`]: the one error type both return.

pub mod auth;
pub mod chat;
pub mod error;
pub mod files;
pub mod mongo;
pub mod push;
pub mod search;
pub mod sqlite;

pub use auth::{AuthStore, Consumed, NewRefreshToken, UserRecord};
pub use chat::{
    ChangeOutcome, ChatStore, Inserted, MemberRoom, MessageChange, NewMessage, Page, RoomRecord,
};
pub use error::{Error, Result};
pub use files::{FileRecord, FileState, FileStore};
pub use mongo::MongoStore;
pub use push::{PushStore, PushSubscription};
pub use search::{Candidate, Found, SearchCursor, SearchQuery, SearchStore};
pub use sqlite::SqliteStore;
