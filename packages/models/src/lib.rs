//! The Rust form of the client contract (`docs/protocol.md`): serde types only, no behaviour beyond
//! validation of the shapes the contract fixes.
//!
//! - [`error`]: the one error body every HTTP response and Socket.IO ack uses, and its codes.
//! - [`time`]: timestamps as RFC 3339 UTC strings with milliseconds.
//! - [`auth`]: users and sessions.
//! - [`chat`]: rooms, messages and files as clients see them.
//! - [`files`]: the bodies of the files API.
//! - [`socket`]: the Socket.IO events, both ways, with their names.
//! - [`events`]: what socket nodes hand off to the consumers.
//! - [`text`]: names that show what they are, messages that show something.

pub mod auth;
pub mod chat;
pub mod error;
pub mod events;
pub mod files;
pub mod socket;
pub mod text;
pub mod time;

pub use auth::{Session, User, UserId};
pub use error::{ErrorBody, ErrorCode};
pub use time::Timestamp;
