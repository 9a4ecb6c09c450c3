//! Sequencing: each room's messages get `seq` 1, 2, 3, … with no gap and no repeat, whichever
//! node accepted them, and a `client_id` a sender already used returns the original message.
//! Accepted messages are kept in a recent log until the writer has persisted them, so history
//! reads never show a hole.
//!
//! Changes to existing messages (edits, deletes) are counted the same way: each gets the room's
//! next `rev`, and its new state is kept until the writer has stored it, so `sync` never misses
//! an acknowledged change.
//!
//! [`Sequencer`] has two implementations:
//!
//! - [`redis`]: [`RedisSequencer`], one Redis Lua script per message, in the distributed mode.
//! - [`StoreSequencer`] (here): one transaction of the embedded SQLite store, in the standalone
//!   server.
//!
//! [`reconcile`]: the [`Reconciler`], which stores Redis recent-log entries whose hand-off was
//! lost (the distributed mode's db-writer runs it). The standalone server needs none: its
//! sequencer writes the message to the store in the same transaction.

pub mod epoch;
pub mod reconcile;
pub mod redis;

pub use epoch::Drain;
pub use reconcile::{Pass, Reconciler, ReconcilerConfig};
pub use redis::{RedisSequencer, RedisSequencerConfig};

use async_trait::async_trait;
use models::chat::Message;
use store::{ChangeOutcome, MessageChange, NewMessage, Page, SqliteStore};

#[derive(Debug, thiserror::Error)]
pub enum Error {
    #[error("sequencer unavailable: {0}")]
    Unavailable(String),
}

pub type Result<T, E = Error> = std::result::Result<T, E>;

/// Where a sequenced message's hand-off stands.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum HandOffState {
    /// In flight, or its node died before recording anything.
    Pending,
    Done,
    Failed,
}

/// A sequenced message and whether it is new (`false`: the `client_id` was seen before and
/// this is the original).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Sequenced {
    pub message: Message,
    pub fresh: bool,
    /// For a retry: the original's hand-off is known to have completed, so it need not be
    /// handed off again (each consumer queue then holds it exactly once).
    pub handed_off: bool,
}

#[async_trait]
pub trait Sequencer: Send + Sync + 'static {
    /// Numbers a new message, or answers a retry of its `client_id` (however late it comes)
    /// with the original.
    async fn sequence(&self, message: NewMessage) -> Result<Sequenced>;
    /// Records how `message`'s hand-off ended, so that a retry of its `client_id` hands it off
    /// again only when needed.
    async fn record_hand_off(&self, message: &Message, outcome: HandOffState) -> Result<()>;
    /// What is known of `message`'s hand-off.
    async fn hand_off_state(&self, message: &Message) -> Result<HandOffState>;
    /// Accepted messages that may not be persisted yet, for the same page a store read covers.
    async fn recent(&self, room_id: &str, page: Page, limit: usize) -> Result<Vec<Message>>;
    /// The room's highest assigned `seq`, where the sequencer knows more than the store.
    async fn last_seq(&self, room_id: &str) -> Result<Option<u64>>;

    /// Gives a change to an existing message the room's next `rev`, atomically with checking
    /// that the message is still at the change's `base_rev` and not deleted, and keeps its new
    /// state until the writer has stored it (see [`Sequencer::current`]).
    async fn change(&self, change: MessageChange) -> Result<ChangeOutcome>;
    /// Replaces each of `messages` (of one room) by its newer state where the sequencer holds a
    /// change that the store may not have yet.
    async fn current(&self, room_id: &str, messages: &mut [Message]) -> Result<()>;
    /// Changes the store may not have yet: the messages with `seq <= max_seq` whose latest
    /// change is after `after_rev`, ascending by `rev`, at most `limit`.
    async fn changed(
        &self,
        room_id: &str,
        after_rev: u64,
        max_seq: u64,
        limit: usize,
    ) -> Result<Vec<Message>>;
    /// The room's highest assigned `rev`, where the sequencer knows more than the store.
    async fn last_rev(&self, room_id: &str) -> Result<Option<u64>>;
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
        // The store is the embedded hand-off's durable side: what it returns as an original
        // was committed together with its seq.
        Ok(Sequenced {
            handed_off: !fresh,
            message,
            fresh,
        })
    }

    async fn record_hand_off(&self, _message: &Message, _outcome: HandOffState) -> Result<()> {
        Ok(())
    }

    async fn hand_off_state(&self, _message: &Message) -> Result<HandOffState> {
        Ok(HandOffState::Done)
    }

    async fn recent(&self, _room_id: &str, _page: Page, _limit: usize) -> Result<Vec<Message>> {
        Ok(Vec::new())
    }

    async fn last_seq(&self, _room_id: &str) -> Result<Option<u64>> {
        Ok(None)
    }

    /// One transaction of the store: the change is stored as it gets its `rev`.
    async fn change(&self, change: MessageChange) -> Result<ChangeOutcome> {
        self.store
            .change_message(change)
            .await
            .map_err(|e| Error::Unavailable(e.to_string()))
    }

    async fn current(&self, _room_id: &str, _messages: &mut [Message]) -> Result<()> {
        Ok(())
    }

    async fn changed(
        &self,
        _room_id: &str,
        _after_rev: u64,
        _max_seq: u64,
        _limit: usize,
    ) -> Result<Vec<Message>> {
        Ok(Vec::new())
    }

    async fn last_rev(&self, _room_id: &str) -> Result<Option<u64>> {
        Ok(None)
    }
}
