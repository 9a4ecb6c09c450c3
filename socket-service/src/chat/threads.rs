//! Threads. A reply in a thread is a message of the room with `thread_id` set: it takes the
//! room's next `seq` like any other. Its root keeps a summary (`thread`: how many replies, the
//! last one's time, who replied), updated after each reply as a change of the root (its `rev`
//! rises, members get `message:updated`). A thread's root is a top-level message: not itself a
//! reply in a thread. Deleting the root keeps its thread.

use models::chat::{Message, ThreadSummary};
use models::events::Event;
use store::Page;

use super::{Chat, HistoryPage, MAX_PAGE};
use crate::{Error, Result};

impl Chat {
    /// The root `thread_id` names, if a reply may go in its thread.
    pub(super) async fn thread_root(&self, room_id: &str, thread_id: &str) -> Result<Message> {
        let root = match self.current_message(room_id, thread_id).await {
            Ok(root) => root,
            Err(Error::NotFound(_)) => {
                return Err(Error::Invalid(
                    "thread_id must be a message of the same room".into(),
                ));
            }
            Err(e) => return Err(e),
        };
        if root.thread_id.is_some() {
            return Err(Error::Invalid(
                "thread_id must be a top-level message, not a reply in a thread".into(),
            ));
        }
        Ok(root)
    }

    /// Counts `reply` in its root's summary; returns the root as it now is, for
    /// `message:updated`. The reply is already durable: a failure here is logged, not returned.
    pub(super) async fn add_to_thread(&self, reply: &Message) -> Option<Message> {
        let root_id = reply.thread_id.as_deref()?;
        let updated = async {
            let root = self
                .change(&reply.room_id, root_id, |mut root| {
                    root.thread = Some(ThreadSummary::with_reply(root.thread.as_ref(), reply));
                    Ok(Some(root))
                })
                .await?;
            let Some(mut root) = root else {
                return Ok(None);
            };
            self.deps
                .handoff
                .publish(&Event::MessageUpdated {
                    message: root.clone(),
                })
                .await?;
            self.with_reply_previews(&reply.room_id, std::slice::from_mut(&mut root))
                .await?;
            Ok::<_, Error>(Some(root))
        };
        match updated.await {
            Ok(root) => root,
            Err(e) => {
                tracing::warn!(error = %e, root_id, reply_id = %reply.id, "thread summary not updated");
                None
            }
        }
    }

    /// The root and a page of its thread's replies in their current state.
    pub async fn thread(
        &self,
        room_id: &str,
        root_id: &str,
        page: Page,
        limit: usize,
    ) -> Result<(Message, HistoryPage)> {
        let mut root = self.current_message(room_id, root_id).await?;
        if root.thread_id.is_some() {
            return Err(Error::NotFound("thread"));
        }
        let limit = limit.clamp(1, MAX_PAGE);
        let stored = self
            .deps
            .store
            .thread_messages(room_id, root_id, page, limit + 1)
            .await?;
        // Replies the writer has not stored yet are in the room's recent log.
        let recent: Vec<Message> = self
            .deps
            .sequencer
            .recent(room_id, page, MAX_PAGE)
            .await?
            .into_iter()
            .filter(|m| m.thread_id.as_deref() == Some(root_id))
            .collect();
        let replies = self
            .current_page(room_id, stored, recent, page, limit)
            .await?;
        self.with_reply_previews(room_id, std::slice::from_mut(&mut root))
            .await?;
        Ok((root, replies))
    }
}
