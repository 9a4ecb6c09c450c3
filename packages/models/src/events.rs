//! Events that socket nodes hand off to the consumers (db-writer, push-service): one JSON
//! document per event, `type` naming it. The `type` is also the routing key.

use serde::{Deserialize, Serialize};

use crate::chat::Message;

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "type")]
pub enum Event {
    /// A message was sequenced and accepted.
    #[serde(rename = "message.created")]
    MessageCreated { message: Message },
    /// A message's body changed; `message` is its whole new state, and `message.rev` orders
    /// changes (a newer `rev` wins, whatever order events arrive in).
    #[serde(rename = "message.edited")]
    MessageEdited { message: Message },
    /// A message's reactions changed; `message` is its whole new state, ordered by `rev` as
    /// an edit is.
    #[serde(rename = "message.updated")]
    MessageUpdated { message: Message },
    /// A message was deleted (final), as the room's change `rev`.
    #[serde(rename = "message.deleted")]
    MessageDeleted {
        room_id: String,
        message_id: String,
        seq: u64,
        #[serde(default)]
        rev: u64,
    },
    /// A member's read pointer moved forward.
    #[serde(rename = "read.updated")]
    ReadUpdated {
        room_id: String,
        user_id: String,
        seq: u64,
    },
    /// A marker for the writer: once it has stored every event before this one, it records
    /// `id`. A sequencer that lost its counters waits for it before trusting the store.
    #[serde(rename = "writer.barrier")]
    WriterBarrier { id: String },
}

impl Event {
    /// The routing key, equal to the `type` field.
    pub fn kind(&self) -> &'static str {
        match self {
            Event::MessageCreated { .. } => "message.created",
            Event::MessageEdited { .. } => "message.edited",
            Event::MessageUpdated { .. } => "message.updated",
            Event::MessageDeleted { .. } => "message.deleted",
            Event::ReadUpdated { .. } => "read.updated",
            Event::WriterBarrier { .. } => "writer.barrier",
        }
    }

    /// The room the event belongs to (none for a barrier: empty).
    pub fn room_id(&self) -> &str {
        match self {
            Event::MessageCreated { message }
            | Event::MessageEdited { message }
            | Event::MessageUpdated { message } => &message.room_id,
            Event::MessageDeleted { room_id, .. } | Event::ReadUpdated { room_id, .. } => room_id,
            Event::WriterBarrier { .. } => "",
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_type_field_is_the_routing_key() {
        let event = Event::ReadUpdated {
            room_id: "r".into(),
            user_id: "u".into(),
            seq: 3,
        };
        let json = serde_json::to_value(&event).unwrap();
        assert_eq!(json["type"], event.kind());
        assert_eq!(serde_json::from_value::<Event>(json).unwrap(), event);
    }
}
