//! Message search: an index of message text, kept apart from the messages themselves.
//!
//! The embedded store keeps its index (an FTS5 table) in the transaction of every message
//! write, so it is never behind. MongoDB's (`message_search`, a document of index terms per
//! message) is fed from the message events by db-writer's search consumer, so it may trail
//! them by the consumer's lag; [`SearchStore::index_messages`] and
//! [`SearchStore::unindex_message`] are that consumer's writes, idempotent and
//! order-insensitive as the other writers' are (a newer `rev` wins, a delete is final).
//!
//! What a query matches is [`text::matches`]. An index returns candidates (a superset), newest
//! first; the caller checks each against the message's current text and drops the rest, so a
//! hit is always true to the message as it is now.

use std::fmt;
use std::str::FromStr;

use async_trait::async_trait;
use models::chat::Message;

use crate::Result;

pub mod text;

/// A search: which rooms, which page.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SearchQuery {
    /// The query's tokens ([`text::tokens`]); not empty.
    pub text: Vec<text::Token>,
    /// The rooms searched (the caller's rooms, or one of them).
    pub rooms: Vec<String>,
    /// Only candidates after this one, in the index's newest-first order.
    pub before: Option<SearchCursor>,
    /// The most candidates returned.
    pub limit: usize,
}

/// A candidate and where it stands in the index's order.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Candidate {
    /// Its current state; never a deleted message.
    pub message: Message,
    /// Pass it as [`SearchQuery::before`] for the candidates after this one.
    pub cursor: SearchCursor,
}

/// A place in a store's newest-first order of candidates: the store's ordering key (SQLite: the
/// index row; MongoDB: the creation time) and the message id that breaks ties. Clients see it
/// as `position.message_id`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SearchCursor {
    pub position: i64,
    pub message_id: String,
}

impl fmt::Display for SearchCursor {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}.{}", self.position, self.message_id)
    }
}

impl FromStr for SearchCursor {
    type Err = ();

    /// Parses what [`fmt::Display`] wrote; anything else is an error.
    fn from_str(s: &str) -> std::result::Result<Self, ()> {
        let (position, message_id) = s.split_once('.').ok_or(())?;
        let position = position.parse().map_err(|_| ())?;
        let plain = |c: char| c.is_ascii_alphanumeric() || c == '-' || c == '_';
        if message_id.is_empty() || message_id.len() > 64 || !message_id.chars().all(plain) {
            return Err(());
        }
        Ok(SearchCursor {
            position,
            message_id: message_id.to_owned(),
        })
    }
}

#[async_trait]
pub trait SearchStore: Send + Sync + 'static {
    /// Up to `query.limit` candidates of `query.rooms`, newest first, after `query.before`:
    /// every message whose text matches is among them (once indexed), and so may be others.
    /// Deleted messages are never candidates.
    async fn search(&self, query: &SearchQuery) -> Result<Vec<Candidate>>;

    /// Indexes each message's text as of its `rev`, unless the index holds a newer `rev` of it
    /// or its delete; a deleted message is unindexed. Idempotent.
    async fn index_messages(&self, messages: &[Message]) -> Result<()>;

    /// Takes a deleted message out of the index for good: a later (redelivered or reordered)
    /// [`SearchStore::index_messages`] of it changes nothing.
    async fn unindex_message(&self, message_id: &str) -> Result<()>;

    /// Rebuilds the index from the stored messages; returns how many it indexed.
    async fn reindex(&self) -> Result<u64>;
}

/// A page of search results.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Found {
    /// The matches, newest first.
    pub messages: Vec<Message>,
    /// Where the next page starts; `None` when there is no more.
    pub next: Option<SearchCursor>,
}

/// How many candidates one look at the index asks for, at the least.
const MIN_BATCH: usize = 50;

/// How many looks at the index one page may take. Candidates that do not match are rare (a
/// query word longer than the indexed prefixes, a run split across a stored one, a message
/// edited since it was indexed), so this bounds only a pathological page; such a page is
/// returned short, with a `next` that goes on from where it stopped.
const MAX_BATCHES: usize = 8;

/// The first `query.limit` matches of `query` (see [`text::matches`]): the store's candidates,
/// each checked against its current text, newest first.
pub async fn find(store: &dyn SearchStore, mut query: SearchQuery) -> Result<Found> {
    let limit = query.limit;
    let mut messages = Vec::with_capacity(limit);
    let mut next = None;
    if limit == 0 || query.rooms.is_empty() || query.text.is_empty() {
        return Ok(Found { messages, next });
    }
    // One more than the page, to know whether another page follows.
    query.limit = (limit + 1).max(MIN_BATCH);
    for _ in 0..MAX_BATCHES {
        let candidates = store.search(&query).await?;
        let exhausted = candidates.len() < query.limit;
        for candidate in candidates {
            query.before = Some(candidate.cursor.clone());
            if !text::matches(&query.text, &text::tokens(&candidate.message.body)) {
                continue;
            }
            if messages.len() == limit {
                // A match beyond the page: the page ends at the last one taken.
                return Ok(Found {
                    next: next.take(),
                    messages,
                });
            }
            next = Some(candidate.cursor);
            messages.push(candidate.message);
        }
        if exhausted {
            return Ok(Found {
                messages,
                next: None,
            });
        }
    }
    // Out of looks: go on from the last candidate looked at.
    Ok(Found {
        messages,
        next: query.before,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cursors_read_back_what_they_wrote_and_nothing_else() {
        let cursor = SearchCursor {
            position: -12,
            message_id: "0190a1b2-c3d4".into(),
        };
        assert_eq!(cursor.to_string().parse::<SearchCursor>(), Ok(cursor));
        for bad in [
            "",
            "12",
            "x.abc",
            "12.",
            "12.a b",
            "12.a.b",
            &format!("1.{}", "a".repeat(65)),
        ] {
            assert!(bad.parse::<SearchCursor>().is_err(), "{bad}");
        }
    }
}
