//! The chat logic, written once against the seams (store, sequencer, hand-off, presence, rate
//! limiter) and unaware of the run mode and of Socket.IO. Callers (the socket handlers and the
//! rooms API) turn its results into acks, responses and emits.
//!
//! One module per concern:
//!
//! - [`send`]: new messages: checks, sequencing in each socket's emit order, the hand-off.
//! - [`changes`]: edits and deletes, each a change with the room's next `rev`.
//! - [`mentions`]: who a body mentions, computed on every send and edit.
//! - [`reactions`]: adding and removing reactions, changes like edits.
//! - [`replies`]: the preview of the message a reply answers, filled in when served.
//! - [`threads`]: replies in a thread, and the summary their root keeps.
//! - [`history`]: pages of history and `sync` (new messages by `seq`, changes by `rev`).
//! - [`reads`]: read pointers.
//! - [`search`]: finding messages across the caller's rooms.
//! - [`typing`]: who is typing where, and what of it to relay.
//! - [`rooms`]: rooms as members see them, groups, direct rooms, membership changes.

pub mod changes;
pub mod history;
pub mod mentions;
pub mod reactions;
pub mod reads;
pub mod replies;
pub mod rooms;
pub mod search;
pub mod send;
pub mod threads;
pub mod typing;

use std::sync::Arc;

use handoff::HandOff;
use presence::Presence;
use rate_limit::{Decision, RateLimiter, Rule};
use sequencer::Sequencer;
use store::{AuthStore, ChatStore, FileStore, SearchStore};

use crate::broadcast_order::BroadcastOrder;
use crate::config::Limits;
use crate::membership::Membership;
use crate::{Error, Result};

pub use history::{HistoryPage, MAX_PAGE};
pub use reactions::React;
pub use send::{EmitOrder, Turn};

/// Everything the logic talks to.
pub struct Deps {
    pub users: Arc<dyn AuthStore>,
    pub store: Arc<dyn ChatStore>,
    /// File metadata: what a message may attach, and which files its deletion removes.
    pub files: Arc<dyn FileStore>,
    /// The message search index (the store's own in standalone; fed from events in the
    /// distributed mode).
    pub search: Arc<dyn SearchStore>,
    pub sequencer: Arc<dyn Sequencer>,
    pub handoff: Arc<dyn HandOff>,
    pub presence: Arc<dyn Presence>,
    pub limiter: Arc<dyn RateLimiter>,
}

pub struct Chat {
    deps: Deps,
    limits: Limits,
    membership: Arc<Membership>,
    broadcast_order: BroadcastOrder,
    typing: typing::Typists,
    changing: changes::Changing,
}

impl Chat {
    pub fn new(deps: Deps, limits: Limits, membership: Arc<Membership>) -> Self {
        Chat {
            deps,
            limits,
            membership,
            broadcast_order: BroadcastOrder::default(),
            typing: typing::Typists::default(),
            changing: changes::Changing::default(),
        }
    }

    /// How accepted messages are broadcast, in seq order per room.
    pub fn broadcast_order(&self) -> &BroadcastOrder {
        &self.broadcast_order
    }

    pub fn limits(&self) -> &Limits {
        &self.limits
    }

    pub fn deps(&self) -> &Deps {
        &self.deps
    }

    /// `not_found` for non-members, so a room's existence is never revealed to outsiders.
    pub async fn require_member(&self, room_id: &str, user_id: &str) -> Result<()> {
        if self.membership.is_member(room_id, user_id).await? {
            Ok(())
        } else {
            Err(Error::NotFound("room"))
        }
    }

    /// Counts one hit of `user_id` against their `bucket` (sends, searches) under `rule`,
    /// shared by all their sockets and nodes; `rate_limited` past it, logged with `what`.
    pub(super) async fn hit_rate(
        &self,
        bucket: &'static str,
        rule: Rule,
        user_id: &str,
        what: &'static str,
    ) -> Result<()> {
        if let Decision::Limited { retry_after } = self
            .deps
            .limiter
            .hit(&format!("{bucket}:{user_id}"), rule)
            .await?
        {
            let retry_after_ms = retry_after.as_millis() as u64;
            tracing::info!(
                %user_id, what, retry_after_ms,
                message = %format_args!("{bucket} rate limit hit")
            );
            return Err(Error::RateLimited(retry_after));
        }
        Ok(())
    }

    /// Those of `users` who are online.
    pub async fn online_among(&self, users: &[String]) -> Result<Vec<String>> {
        let online = self.deps.presence.online(users).await?;
        Ok(users
            .iter()
            .zip(online)
            .filter(|(_, on)| *on)
            .map(|(u, _)| u.clone())
            .collect())
    }
}
