//! Message search across the caller's rooms (`GET /api/search/messages`). The rules of a match
//! are the store's (`store::search::text`); here are the caller's rooms, the page and the
//! checks of the query. Hits are served as history serves messages, with reply previews.

use std::collections::BTreeMap;

use models::chat::Message;
use store::search::{self, SearchCursor, SearchQuery, text};

use super::Chat;
use crate::{Error, Result};

/// The most hits on one page, and how many when the caller does not say.
pub const MAX_SEARCH_PAGE: usize = 50;
pub const DEFAULT_SEARCH_PAGE: usize = 20;

/// The longest query, in characters, and the most words (and runs) it may have.
pub const MAX_QUERY_CHARS: usize = 200;
pub const MAX_QUERY_TOKENS: usize = 16;

/// A page of hits, newest first; `next` is the `before` of the following page.
#[derive(Debug)]
pub struct SearchPage {
    pub messages: Vec<Message>,
    pub next: Option<String>,
}

impl Chat {
    /// The messages of `user_id`'s rooms (or of `room_id` alone, a room of theirs) that `q`
    /// finds, newest first, after `before`.
    pub async fn search(
        &self,
        user_id: &str,
        q: Option<&str>,
        room_id: Option<&str>,
        before: Option<&str>,
        limit: Option<usize>,
    ) -> Result<SearchPage> {
        let q = q.map(str::trim).unwrap_or_default();
        if q.is_empty() {
            return Err(Error::Invalid("q: say what to search for".into()));
        }
        if q.chars().count() > MAX_QUERY_CHARS {
            return Err(Error::Invalid(format!(
                "q: at most {MAX_QUERY_CHARS} characters"
            )));
        }
        let tokens = text::tokens(q);
        if tokens.is_empty() {
            return Err(Error::Invalid("q must contain letters or digits".into()));
        }
        if tokens.len() > MAX_QUERY_TOKENS {
            return Err(Error::Invalid(format!(
                "q: at most {MAX_QUERY_TOKENS} words"
            )));
        }
        let limit = match limit {
            None => DEFAULT_SEARCH_PAGE,
            Some(n) if (1..=MAX_SEARCH_PAGE).contains(&n) => n,
            Some(_) => {
                return Err(Error::Invalid(format!(
                    "limit must be 1 to {MAX_SEARCH_PAGE}"
                )));
            }
        };
        let before = before
            .map(|b| b.parse::<SearchCursor>())
            .transpose()
            .map_err(|()| Error::Invalid("before must be the next of an earlier page".into()))?;
        self.hit_rate("search", self.limits.search_rate, user_id, "search")
            .await?;
        let rooms = match room_id {
            Some(room_id) => {
                self.require_member(room_id, user_id).await?;
                vec![room_id.to_owned()]
            }
            None => self
                .deps
                .store
                .rooms_of(user_id)
                .await?
                .into_iter()
                .map(|r| r.room.id)
                .collect(),
        };
        let found = search::find(
            &*self.deps.search,
            SearchQuery {
                text: tokens,
                rooms,
                before,
                limit,
            },
        )
        .await?;
        let messages = self.with_previews_by_room(found.messages).await?;
        Ok(SearchPage {
            messages,
            next: found.next.map(|c| c.to_string()),
        })
    }

    /// Fills in reply previews of messages from several rooms, keeping their order.
    async fn with_previews_by_room(&self, messages: Vec<Message>) -> Result<Vec<Message>> {
        let mut by_room: BTreeMap<String, Vec<(usize, Message)>> = BTreeMap::new();
        for (i, message) in messages.into_iter().enumerate() {
            by_room
                .entry(message.room_id.clone())
                .or_default()
                .push((i, message));
        }
        let mut placed = Vec::new();
        for (room_id, entries) in by_room {
            let (order, mut room_messages): (Vec<usize>, Vec<Message>) =
                entries.into_iter().unzip();
            self.with_reply_previews(&room_id, &mut room_messages)
                .await?;
            placed.extend(order.into_iter().zip(room_messages));
        }
        placed.sort_by_key(|(i, _)| *i);
        Ok(placed.into_iter().map(|(_, m)| m).collect())
    }
}
