//! In-order delivery of a room's messages from this node. Sends run concurrently, so two
//! messages sequenced 5 then 6 could otherwise be broadcast 6 then 5. Each room keeps the seqs
//! this node has sequenced but not yet broadcast; a message goes out only once every lower one
//! sequenced here has gone out or been abandoned (its hand-off failed). Sequencing itself is
//! serialized per room on this node, so that a seq is registered before any higher one. A room
//! is tracked only while something of it is in flight here.

use std::collections::{BTreeMap, HashMap};
use std::future::Future;
use std::pin::Pin;
use std::sync::{Arc, Mutex, OnceLock};

use models::chat::Message;

/// Broadcasts one message to its room.
pub type Emit = Arc<dyn Fn(Message) -> Pin<Box<dyn Future<Output = ()> + Send>> + Send + Sync>;

#[derive(Default)]
pub struct BroadcastOrder {
    rooms: Mutex<HashMap<String, Arc<RoomQueue>>>,
    emit: OnceLock<Emit>,
}

#[derive(Default)]
struct RoomQueue {
    sequencing: tokio::sync::Mutex<()>,
    /// Sequenced here, not yet broadcast: `None` while its hand-off is in flight.
    pending: tokio::sync::Mutex<BTreeMap<u64, Option<Message>>>,
}

impl BroadcastOrder {
    /// Sets how messages are broadcast; once, when the Socket.IO server exists.
    pub fn set_emitter(&self, emit: Emit) {
        let _ = self.emit.set(emit);
    }

    fn room(&self, room_id: &str) -> Arc<RoomQueue> {
        self.rooms
            .lock()
            .expect("broadcast order lock")
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
        drop(pending);
        drop(room);
        self.forget_if_idle(room_id);
    }

    /// Stops tracking the room when nothing of it is in flight: no call holds its queue (one
    /// that is sequencing or settling does) and no seq waits to be settled.
    fn forget_if_idle(&self, room_id: &str) {
        let mut rooms = self.rooms.lock().expect("broadcast order lock");
        let idle = rooms.get(room_id).is_some_and(|room| {
            Arc::strong_count(room) == 1 && room.pending.try_lock().is_ok_and(|p| p.is_empty())
        });
        if idle {
            rooms.remove(room_id);
        }
    }

    /// How many rooms are tracked now.
    #[cfg(test)]
    fn tracked(&self) -> usize {
        self.rooms.lock().expect("broadcast order lock").len()
    }
}

/// What [`BroadcastOrder::sequence`] needs to know of a sequencing outcome.
pub trait Fresh {
    /// The seq, when the message is new (a retried `client_id` is not broadcast again).
    fn fresh_seq(&self) -> Option<u64>;
}

impl Fresh for sequencer::Sequenced {
    fn fresh_seq(&self) -> Option<u64> {
        self.fresh.then_some(self.message.seq)
    }
}

#[cfg(test)]
mod tests {
    use std::sync::{Arc, Mutex};

    use models::chat::Message;

    use super::{BroadcastOrder, Fresh};

    struct Seq(u64);

    impl Fresh for Seq {
        fn fresh_seq(&self) -> Option<u64> {
            Some(self.0)
        }
    }

    fn message(room_id: &str, seq: u64) -> Message {
        serde_json::from_value(serde_json::json!({
            "id": format!("{room_id}-{seq}"), "room_id": room_id, "seq": seq,
            "sender_id": "alice", "client_id": format!("c{seq}"), "body": "hi",
            "attachments": [], "reply_to": null, "created_at": "2026-12-01T00:00:00.000Z",
            "edited_at": null, "deleted": false
        }))
        .expect("a message")
    }

    fn recording(order: &BroadcastOrder) -> Arc<Mutex<Vec<(String, u64)>>> {
        let sent = Arc::new(Mutex::new(Vec::new()));
        let log = sent.clone();
        order.set_emitter(Arc::new(move |m: Message| {
            log.lock().unwrap().push((m.room_id.clone(), m.seq));
            Box::pin(async {})
        }));
        sent
    }

    #[tokio::test]
    async fn broadcasts_in_seq_order_and_forgets_settled_rooms() {
        let order = BroadcastOrder::default();
        let sent = recording(&order);
        for room in ["a", "b"] {
            for seq in 1..=3 {
                order
                    .sequence(room, || async move { Ok::<_, ()>(Seq(seq)) })
                    .await
                    .unwrap();
            }
        }
        // Settled out of order: 3 and 2 wait for 1; a given-up seq lets the next ones go.
        order.settle("a", 3, Some(message("a", 3))).await;
        order.settle("b", 2, None).await;
        order.settle("a", 2, Some(message("a", 2))).await;
        assert!(sent.lock().unwrap().is_empty());
        assert_eq!(order.tracked(), 2);

        order.settle("a", 1, Some(message("a", 1))).await;
        order.settle("b", 1, Some(message("b", 1))).await;
        order.settle("b", 3, Some(message("b", 3))).await;
        let expected: Vec<(String, u64)> = [("a", 1), ("a", 2), ("a", 3), ("b", 1), ("b", 3)]
            .into_iter()
            .map(|(room, seq)| (room.to_owned(), seq))
            .collect();
        assert_eq!(*sent.lock().unwrap(), expected);
        // Nothing in flight: no room is kept.
        assert_eq!(order.tracked(), 0);
    }
}
