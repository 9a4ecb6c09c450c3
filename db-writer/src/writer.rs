//! Applying events to the store. Messages of a batch go in one idempotent insert; edits,
//! deletes and read pointers are applied in order, each idempotent on its own (the change with
//! the newest `rev` wins, delete is final, read pointers only move forward).

use std::sync::Arc;

use async_trait::async_trait;
use models::events::Event;
use store::ChatStore;

pub struct Writer {
    store: Arc<dyn ChatStore>,
}

impl Writer {
    pub fn new(store: Arc<dyn ChatStore>) -> Self {
        Writer { store }
    }

    /// Persists a batch. Messages are inserted first, so an edit or delete in the same batch
    /// finds its message.
    pub async fn apply(&self, events: &[Event]) -> store::Result<()> {
        let messages: Vec<_> = events
            .iter()
            .filter_map(|e| match e {
                Event::MessageCreated { message } => Some(message.clone()),
                _ => None,
            })
            .collect();
        if !messages.is_empty() {
            let outcome = self.store.insert_messages(&messages).await?;
            metrics::counter!("chat_writer_messages_persisted_total")
                .increment(outcome.inserted as u64);
            metrics::counter!("chat_writer_messages_duplicate_total")
                .increment(outcome.duplicates as u64);
        }
        for event in events {
            match event {
                Event::MessageCreated { .. } => {}
                Event::MessageEdited { message } | Event::MessageUpdated { message } => {
                    self.store.apply_change(message).await?;
                }
                Event::MessageDeleted {
                    room_id,
                    message_id,
                    rev,
                    ..
                } => {
                    self.store.apply_delete(room_id, message_id, *rev).await?;
                }
                Event::ReadUpdated {
                    room_id,
                    user_id,
                    seq,
                } => {
                    self.store.set_read(room_id, user_id, *seq).await?;
                }
                // Everything before it in the batch is stored by now.
                Event::WriterBarrier { id } => self.store.record_barrier(id).await?,
            }
        }
        Ok(())
    }
}

#[async_trait]
impl crate::consumer::Apply for Writer {
    async fn apply(&self, events: &[Event]) -> store::Result<()> {
        Writer::apply(self, events).await
    }
}

#[async_trait]
impl handoff::Consumer for Writer {
    async fn handle(&self, events: &[Event]) -> Result<(), String> {
        self.apply(events).await.map_err(|e| e.to_string())
    }
}

/// The writer as the standalone server runs it, behind its embedded sequencer: that sequencer
/// stores a new message in the transaction that numbers it, so `message.created` events are
/// skipped (writing them again would only find them there, at the cost of one more transaction
/// per message); every other event is applied.
pub struct EmbeddedWriter(pub Arc<Writer>);

#[async_trait]
impl handoff::Consumer for EmbeddedWriter {
    async fn handle(&self, events: &[Event]) -> Result<(), String> {
        let rest: Vec<Event> = events
            .iter()
            .filter(|e| !matches!(e, Event::MessageCreated { .. }))
            .cloned()
            .collect();
        if rest.is_empty() {
            return Ok(());
        }
        handoff::Consumer::handle(&*self.0, &rest).await
    }
}
