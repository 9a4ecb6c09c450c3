//! In-order delivery of a room's messages from this node. Sends run concurrently, so two
//! messages sequenced 5 then 6 could otherwise be broadcast 6 then 5. Each room keeps the seqs
//! this node has sequenced but not yet broadcast; a message goes out only once every lower one
//! sequenced here has gone out or been abandoned (its hand-off failed). Sequencing itself is
//! serialized per room on this node, so that a seq is registered before any higher one.

use std::collections::{BTreeMap, HashMap};
use std::future::Future;
use std::pin::Pin;
use std::sync::{Arc, Mutex, OnceLock};

use models::chat::Message;

/// Broadcasts one message to its room.
pub type Emit = Arc<dyn Fn(Message) -> Pin<Box<dyn Future<Output = ()> + Send>> + Send + Sync>;

#[derive(Default)]
pub struct Ordering {
    rooms: Mutex<HashMap<String, Arc<RoomQueue>>>,
    emit: OnceLock<Emit>,
}

#[derive(Default)]
struct RoomQueue {
    sequencing: tokio::sync::Mutex<()>,
    /// Sequenced here, not yet broadcast: `None` while its hand-off is in flight.
    pending: tokio::sync::Mutex<BTreeMap<u64, Option<Message>>>,
}

impl Ordering {
    /// Sets how messages are broadcast; once, when the Socket.IO server exists.
    pub fn set_emitter(&self, emit: Emit) {
        let _ = self.emit.set(emit);
    }

    fn room(&self, room_id: &str) -> Arc<RoomQueue> {
        self.rooms
            .lock()
            .expect("ordering lock")
            .entry(room_id.to_string())
            .or_default()
            .clone()
    }

    /// Runs `sequence` alone for the room on this node; when it returns a fresh seq, that seq
    /// is registered as pending before any later one can be.
    pub async fn sequence<F, Fut, T, E>(&self, room_id: &str, sequence: F) -> Result<T, E>
    where
        F: FnOnce() -> Fut,
        Fut: Future<Output = Result<T, E>>,
        T: Fresh,
    {
        let room = self.room(room_id);
        let _turn = room.sequencing.lock().await;
        let outcome = sequence().await?;
        if let Some(seq) = outcome.fresh_seq() {
            room.pending.lock().await.insert(seq, None);
        }
        Ok(outcome)
    }

    /// The hand-off of `seq` finished: `Some` to broadcast it, `None` to give it up. Then
    /// broadcasts, in order, every message no longer waiting on a lower one.
    pub async fn settle(&self, room_id: &str, seq: u64, message: Option<Message>) {
        let room = self.room(room_id);
        let mut pending = room.pending.lock().await;
        match message {
            Some(m) => {
                pending.insert(seq, Some(m));
            }
            None => {
                pending.remove(&seq);
            }
        }
        while let Some(mut first) = pending.first_entry() {
            let Some(message) = first.get_mut().take() else {
                break;
            };
            first.remove();
            if let Some(emit) = self.emit.get() {
                emit(message).await;
            }
        }
    }
}

/// What [`Ordering::sequence`] needs to know of a sequencing outcome.
pub trait Fresh {
    /// The seq, when the message is new (a retried `client_id` is not broadcast again).
    fn fresh_seq(&self) -> Option<u64>;
}

impl Fresh for sequencer::Sequenced {
    fn fresh_seq(&self) -> Option<u64> {
        self.fresh.then_some(self.message.seq)
    }
}
