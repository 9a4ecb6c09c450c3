//! Sequencing: each room's messages get `seq` 1, 2, 3, … with no gap and no repeat, whichever
//! node accepted them, and a `client_id` a sender already used returns the original message.
//! Accepted messages are kept in a recent log until the writer has persisted them, so history
//! reads never show a hole.
//!
//! [`Sequencer`] has two implementations:
//!
//! - [`redis`]: [`RedisSequencer`], one Redis Lua script per message, in the distributed mode.
//! - [`StoreSequencer`] (here): one transaction of the embedded SQLite store, in the standalone
//!   server.

pub mod redis;

pub use redis::{RedisSequencer, RedisSequencerConfig};

use async_trait::async_trait;
use models::chat::Message;
use store::{NewMessage, Page, SqliteStore};

#[derive(Debug, thiserror::Error)]
pub enum Error {
    #[error("sequencer unavailable: {0}")]
    Unavailable(String),
}

pub type Result<T, E = Error> = std::result::Result<T, E>;

/// A sequenced message and whether it is new (`false`: the `client_id` was seen before and
/// this is the original).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Sequenced {
    pub message: Message,
    pub fresh: bool,
}

#[async_trait]
pub trait Sequencer: Send + Sync + 'static {
    async fn sequence(&self, message: NewMessage) -> Result<Sequenced>;
    /// Accepted messages that may not be persisted yet, for the same page a store read covers.
    async fn recent(&self, room_id: &str, page: Page, limit: usize) -> Result<Vec<Message>>;
    /// The room's highest assigned `seq`, where the sequencer knows more than the store.
    async fn last_seq(&self, room_id: &str) -> Result<Option<u64>>;
}

/// The standalone sequencer: the SQLite store assigns the `seq` and stores the message in one
/// transaction, so nothing is ever only "recent".
pub struct StoreSequencer {
    store: SqliteStore,
}

impl StoreSequencer {
    pub fn new(store: SqliteStore) -> Self {
        StoreSequencer { store }
    }
}

#[async_trait]
impl Sequencer for StoreSequencer {
    async fn sequence(&self, message: NewMessage) -> Result<Sequenced> {
        let (message, fresh) = self
            .store
            .sequence_message(message)
            .await
            .map_err(|e| Error::Unavailable(e.to_string()))?;
        Ok(Sequenced { message, fresh })
    }

    async fn recent(&self, _room_id: &str, _page: Page, _limit: usize) -> Result<Vec<Message>> {
        Ok(Vec::new())
    }

    async fn last_seq(&self, _room_id: &str) -> Result<Option<u64>> {
        Ok(None)
    }
}
