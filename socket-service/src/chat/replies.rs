//! Replies: a message with `reply_to` shows the message it answers (`reply_preview`) as that
//! one is now. The preview is never stored: it is filled in whenever messages are served, so an
//! edit or a delete of the original shows in every later answer (clients learn of it from the
//! original's own change), and no reply changes when its original does.

use std::collections::HashMap;

use models::chat::{Message, ReplyPreview};
use store::Page;

use super::{Chat, MAX_PAGE};
use crate::Result;

impl Chat {
    /// Fills `reply_preview` of each of `messages` (of one room) that replies to another.
    pub async fn with_reply_previews(&self, room_id: &str, messages: &mut [Message]) -> Result<()> {
        let mut wanted: Vec<String> = messages.iter().filter_map(|m| m.reply_to.clone()).collect();
        if wanted.is_empty() {
            return Ok(());
        }
        wanted.sort();
        wanted.dedup();
        let mut originals = self.deps.store.messages_by_id(room_id, &wanted).await?;
        if originals.len() < wanted.len() {
            // Answered a moment after it was sent: the writer may not have stored it yet.
            let recent = self
                .deps
                .sequencer
                .recent(room_id, Page::Before(None), MAX_PAGE)
                .await?;
            let have: Vec<String> = originals.iter().map(|m| m.id.clone()).collect();
            originals.extend(
                recent
                    .into_iter()
                    .filter(|m| wanted.contains(&m.id) && !have.contains(&m.id)),
            );
        }
        self.deps.sequencer.current(room_id, &mut originals).await?;
        let previews: HashMap<&str, ReplyPreview> = originals
            .iter()
            .map(|m| (m.id.as_str(), ReplyPreview::of(m)))
            .collect();
        for message in messages {
            message.reply_preview = message
                .reply_to
                .as_deref()
                .and_then(|id| previews.get(id).cloned());
        }
        Ok(())
    }
}
