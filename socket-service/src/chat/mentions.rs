//! Mentions: who a body names (`@username` of a current member, case-insensitive) and whether it
//! names the whole room (`@room`, from the room's owner only; from anyone else it is plain text).
//! Computed by the server on every send and edit, never taken from the client.

use models::chat::{RoomKind, mentioned_names};

use super::Chat;
use crate::Result;

/// At most this many names of one body are looked up.
const MAX_MENTIONS: usize = 50;

/// What a body mentions.
#[derive(Debug, Default, Clone, PartialEq, Eq)]
pub struct Mentions {
    pub users: Vec<String>,
    pub room: bool,
}

impl Chat {
    /// The mentions of `body`, sent by `sender_id` to `room_id`.
    pub(super) async fn mentions(
        &self,
        room_id: &str,
        sender_id: &str,
        body: &str,
    ) -> Result<Mentions> {
        let mut found = Mentions::default();
        if !body.contains('@') {
            return Ok(found);
        }
        for name in mentioned_names(body, MAX_MENTIONS) {
            if name == "room" {
                found.room = true;
                continue;
            }
            if let Some(user) = self.deps.users.user_by_username(&name).await?
                && !found.users.contains(&user.id)
                && self.membership.is_member(room_id, &user.id).await?
            {
                found.users.push(user.id);
            }
        }
        if found.room {
            found.room = self
                .deps
                .store
                .room(room_id)
                .await?
                .is_some_and(|r| r.kind == RoomKind::Group && r.created_by == sender_id);
        }
        Ok(found)
    }
}
