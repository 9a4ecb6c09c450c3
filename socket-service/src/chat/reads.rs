//! Read pointers: each member's highest read `seq`, monotonic.

use models::events::Event;
use models::socket::ReadPayload;

use super::Chat;
use crate::{Error, Result};

impl Chat {
    /// The caller's read pointer in the room (not cached: it moves).
    pub(super) async fn read_pointer(&self, room_id: &str, user_id: &str) -> Result<u64> {
        self.deps
            .store
            .membership(room_id, user_id)
            .await?
            .ok_or(Error::NotFound("room"))
    }

    /// Moves the caller's read pointer; `Some(seq)` when it moved (to broadcast), `None` when
    /// the given seq was not above the stored one.
    pub async fn read(&self, user_id: &str, p: ReadPayload) -> Result<Option<u64>> {
        let current = self.read_pointer(&p.room_id, user_id).await?;
        let last = self.last_seq(&p.room_id).await?;
        let seq = p.seq.min(last);
        if seq <= current {
            return Ok(None);
        }
        self.deps
            .handoff
            .publish(&Event::ReadUpdated {
                room_id: p.room_id,
                user_id: user_id.to_string(),
                seq,
            })
            .await?;
        Ok(Some(seq))
    }

    /// Every member's read pointer (members only).
    pub async fn reads(&self, room_id: &str, user_id: &str) -> Result<Vec<(String, u64)>> {
        self.require_member(room_id, user_id).await?;
        Ok(self.deps.store.reads(room_id).await?)
    }

    async fn last_seq(&self, room_id: &str) -> Result<u64> {
        let stored = self
            .deps
            .store
            .room(room_id)
            .await?
            .map(|r| r.last_seq)
            .unwrap_or(0);
        let sequenced = self.deps.sequencer.last_seq(room_id).await?.unwrap_or(0);
        Ok(stored.max(sequenced))
    }
}
