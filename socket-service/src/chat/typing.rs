//! Typing: which `typing` events are relayed, and the typing state a message ends.
//!
//! Every typing event counts against the per-user, per-room typing rate, and the excess is
//! dropped, except that `typing: false` of someone whose `true` this node relayed is always
//! relayed, as is the end of typing that a message from the typist implies: otherwise the
//! others would see "typing…" until their own timeout. A flood thus gets through no more than
//! the rate allows, plus the one `false` that ends it.

use std::collections::HashMap;
use std::sync::{Mutex, PoisonError};
use std::time::{Duration, Instant};

use models::socket::TypingPayload;

use super::Chat;
use crate::Result;

/// How long a relayed `typing: true` counts as still on, without a `false` or a message.
const TYPING_LASTS: Duration = Duration::from_secs(30);
/// Past this many typists the table starts over (entries only matter for seconds).
const MAX_TYPISTS: usize = 100_000;

/// Who this node last relayed as typing, per (room, user), and when.
#[derive(Default)]
pub struct Typists {
    on: Mutex<HashMap<(String, String), Instant>>,
}

impl Typists {
    fn started(&self, room_id: &str, user_id: &str) {
        let mut on = self.on.lock().unwrap_or_else(PoisonError::into_inner);
        if on.len() >= MAX_TYPISTS {
            on.clear();
        }
        on.insert((room_id.to_owned(), user_id.to_owned()), Instant::now());
    }

    /// Whether the user was typing in the room; they no longer are.
    fn stopped(&self, room_id: &str, user_id: &str) -> bool {
        let mut on = self.on.lock().unwrap_or_else(PoisonError::into_inner);
        if on.is_empty() {
            return false;
        }
        on.remove(&(room_id.to_owned(), user_id.to_owned()))
            .is_some_and(|since| since.elapsed() < TYPING_LASTS)
    }
}

impl Chat {
    /// Whether a typing event is relayed to the room's other members.
    pub async fn typing(&self, user_id: &str, p: &TypingPayload) -> Result<bool> {
        self.require_member(&p.room_id, user_id).await?;
        let allowed = self
            .deps
            .limiter
            .hit(
                &format!("typing:{user_id}:{}", p.room_id),
                self.limits.typing_rate,
            )
            .await?
            .is_allowed();
        if !p.typing {
            return Ok(self.typing.stopped(&p.room_id, user_id) || allowed);
        }
        if allowed {
            self.typing.started(&p.room_id, user_id);
        }
        Ok(allowed)
    }

    /// Called when the user's message was accepted: whether they were typing in the room, so
    /// that the others are told they stopped.
    pub fn typing_ended_by_message(&self, room_id: &str, user_id: &str) -> bool {
        self.typing.stopped(room_id, user_id)
    }
}
