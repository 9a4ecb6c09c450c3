//! Reading a room back: pages of history, and `sync`, which answers what a client missed after
//! its cursor: new messages by `seq` and changed ones by `rev`. Both merge the store with what
//! the sequencer holds that the writer may not have stored yet, so an acknowledged message or
//! change is in every answer.

use std::collections::{BTreeMap, HashMap};

use models::chat::Message;
use models::socket::{SyncCursor, SyncPayload, SyncRoom};
use store::Page;

use super::Chat;
use crate::{Error, Result};

/// At most this many messages per page of history, and per room and list in one `sync`.
pub const MAX_PAGE: usize = 100;
const DEFAULT_PAGE: usize = 50;
/// At most this many rooms in one `sync`.
const MAX_SYNC_ROOMS: usize = 1000;
/// About this many messages (new and changed, all rooms together) in one `sync` answer, so its
/// size is bounded whatever it asks for: rooms past it answer one new and one changed message
/// at most (with `has_more` / `changed_more`), and the client asks again.
pub const MAX_SYNC_MESSAGES: usize = 5000;

/// One page of messages.
#[derive(Debug)]
pub struct HistoryPage {
    pub messages: Vec<Message>,
    pub has_more: bool,
}

/// The messages that changed after a `rev`, a page of them.
#[derive(Debug)]
struct ChangedPage {
    changed: Vec<Message>,
    more: bool,
}

impl Chat {
    /// Parses an optional `limit` query value.
    pub fn page_limit(limit: Option<usize>) -> Result<usize> {
        match limit {
            None => Ok(DEFAULT_PAGE),
            Some(n) if (1..=MAX_PAGE).contains(&n) => Ok(n),
            Some(_) => Err(Error::Invalid(format!("limit must be 1 to {MAX_PAGE}"))),
        }
    }

    /// What the caller missed in each room after its cursor; a room the caller is not a member
    /// of answers with its error and nothing else.
    pub async fn sync(&self, user_id: &str, p: SyncPayload) -> Result<Vec<SyncRoom>> {
        if p.rooms.len() > MAX_SYNC_ROOMS {
            return Err(Error::Invalid(format!(
                "rooms: at most {MAX_SYNC_ROOMS} per sync"
            )));
        }
        let mut named = std::collections::HashSet::with_capacity(p.rooms.len());
        if let Some(twice) = p.rooms.iter().find(|c| !named.insert(c.room_id.as_str())) {
            return Err(Error::Invalid(format!(
                "rooms: room {:?} is named more than once",
                twice.room_id
            )));
        }
        let mut budget = MAX_SYNC_MESSAGES;
        let mut out = Vec::with_capacity(p.rooms.len());
        for cursor in p.rooms {
            let room_id = cursor.room_id.clone();
            let answer = match self.require_member(&cursor.room_id, user_id).await {
                Ok(()) => self.sync_room(cursor, budget).await,
                Err(e) => Err(e),
            };
            match answer {
                Ok(room) => {
                    budget = budget.saturating_sub(room.messages.len() + room.changed.len());
                    out.push(room);
                }
                // A failing dependency fails the whole call; only refusals are per room.
                Err(e @ (Error::Unavailable(_) | Error::Internal(_))) => return Err(e),
                Err(e) => out.push(SyncRoom {
                    room_id,
                    messages: Vec::new(),
                    has_more: false,
                    changed: Vec::new(),
                    changed_more: false,
                    rev: 0,
                    error: Some(e.to_detail()),
                }),
            }
        }
        Ok(out)
    }

    /// One room's answer, of at most `budget` messages (new and changed together), or one of
    /// each when the budget is spent.
    async fn sync_room(&self, cursor: SyncCursor, budget: usize) -> Result<SyncRoom> {
        let room_id = &cursor.room_id;
        // The room's `rev` first: every change up to it is in the answer (a later one may be
        // too, and is then only sent again by the next sync).
        let rev = self.last_rev(room_id).await?;
        // Past the budget, one of each still: `has_more` always comes with a message to go on
        // from.
        let page = self
            .history(
                room_id,
                Page::After(cursor.after_seq),
                budget.clamp(1, MAX_PAGE),
            )
            .await?;
        let left = budget.saturating_sub(page.messages.len());
        let changed = self
            .changed(
                room_id,
                cursor.after_rev,
                cursor.after_seq,
                left.clamp(1, MAX_PAGE),
            )
            .await?;
        Ok(SyncRoom {
            room_id: cursor.room_id,
            messages: page.messages,
            has_more: page.has_more,
            changed: changed.changed,
            changed_more: changed.more,
            rev,
            error: None,
        })
    }

    /// A page of history in its current state: the store merged with the sequencer's recent
    /// log (messages the writer has not stored yet) and recent changes.
    pub async fn history(&self, room_id: &str, page: Page, limit: usize) -> Result<HistoryPage> {
        let limit = limit.clamp(1, MAX_PAGE);
        let stored = self.deps.store.messages(room_id, page, limit + 1).await?;
        let recent = self.deps.sequencer.recent(room_id, page, limit + 1).await?;
        self.current_page(room_id, stored, recent, page, limit)
            .await
    }

    /// One page of `limit` from the store's page and the recent log's (each read with one more
    /// than `limit`), in the messages' current state.
    pub(super) async fn current_page(
        &self,
        room_id: &str,
        stored: Vec<Message>,
        recent: Vec<Message>,
        page: Page,
        limit: usize,
    ) -> Result<HistoryPage> {
        let mut by_seq: BTreeMap<u64, Message> = recent.into_iter().map(|m| (m.seq, m)).collect();
        // The store's copy wins over the log's: it carries the changes it has stored.
        by_seq.extend(stored.into_iter().map(|m| (m.seq, m)));
        let mut messages: Vec<Message> = by_seq.into_values().collect();
        let has_more = messages.len() > limit;
        if has_more {
            match page {
                Page::After(_) => messages.truncate(limit),
                Page::Before(_) => {
                    messages.drain(..messages.len() - limit);
                }
            }
        }
        self.deps.sequencer.current(room_id, &mut messages).await?;
        self.with_reply_previews(room_id, &mut messages).await?;
        Ok(HistoryPage { messages, has_more })
    }

    /// The messages with `seq <= max_seq` changed after `after_rev`, ascending by `rev`, at
    /// most `limit`: the store's merged with the sequencer's recent changes.
    ///
    /// A message whose stored change is older than the sequencer's appears at the newer `rev`
    /// only. Each source is read a page at a time, and the merge is complete only up to the
    /// lower of the two pages' last `rev` when a page came back full; past it, the next pages
    /// are read.
    async fn changed(
        &self,
        room_id: &str,
        after_rev: u64,
        max_seq: u64,
        limit: usize,
    ) -> Result<ChangedPage> {
        let want = limit + 1;
        let mut out: Vec<Message> = Vec::new();
        let mut from = after_rev;
        loop {
            let stored = self
                .deps
                .store
                .changed_messages(room_id, from, max_seq, want)
                .await?;
            let recent = self
                .deps
                .sequencer
                .changed(room_id, from, max_seq, want)
                .await?;
            let mut complete_to = u64::MAX;
            for list in [&stored, &recent] {
                if list.len() >= want
                    && let Some(last) = list.last()
                {
                    complete_to = complete_to.min(last.rev);
                }
            }
            let mut newest: HashMap<String, Message> = HashMap::new();
            for message in stored.into_iter().chain(recent) {
                match newest.get(&message.id) {
                    Some(seen) if seen.rev >= message.rev => {}
                    _ => {
                        newest.insert(message.id.clone(), message);
                    }
                }
            }
            let mut page: Vec<Message> = newest.into_values().collect();
            // A stored change the sequencer has a newer one of belongs at the newer `rev`.
            self.deps.sequencer.current(room_id, &mut page).await?;
            page.retain(|m| m.rev > from && m.rev <= complete_to);
            page.sort_by_key(|m| m.rev);
            page.dedup_by(|a, b| a.id == b.id);
            out.extend(page);
            if out.len() >= want || complete_to == u64::MAX {
                break;
            }
            from = complete_to;
        }
        let more = out.len() > limit;
        out.truncate(limit);
        self.with_reply_previews(room_id, &mut out).await?;
        Ok(ChangedPage { changed: out, more })
    }

    /// The room's `rev`: the highest change the store or the sequencer knows of.
    pub(super) async fn last_rev(&self, room_id: &str) -> Result<u64> {
        let stored = self
            .deps
            .store
            .room(room_id)
            .await?
            .map(|r| r.rev)
            .unwrap_or(0);
        let sequenced = self.deps.sequencer.last_rev(room_id).await?.unwrap_or(0);
        Ok(stored.max(sequenced))
    }
}
