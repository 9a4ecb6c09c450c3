//! Edits and deletes. Each is a change of an existing message: it is made from the message's
//! current state, gets the room's next `rev` from the sequencer (which refuses it if the message
//! changed meanwhile, and then it is made again), and is handed off before it is acknowledged.

use std::collections::HashMap;
use std::sync::{Arc, Mutex, PoisonError};

use models::Timestamp;
use models::chat::{Message, RoomKind};
use models::events::Event;
use models::socket::{DeletePayload, EditPayload};
use store::{ChangeOutcome, MessageChange, Page};

use super::{Chat, MAX_PAGE};
use crate::{Error, Result};

/// How many times a change is made again from a fresher state before giving up (each retry
/// means another node changed the same message in between: changes on this node take turns).
const CHANGE_ATTEMPTS: u32 = 16;

/// The messages being changed on this node, each with the lock its changes take turns on: a
/// change waits for the one before it instead of losing to it and starting over.
#[derive(Default)]
pub struct Changing {
    messages: Mutex<HashMap<String, Arc<tokio::sync::Mutex<()>>>>,
}

impl Changing {
    async fn turn(&self, message_id: &str) -> ChangeTurn<'_> {
        let lock = self
            .messages
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .entry(message_id.to_string())
            .or_default()
            .clone();
        let guard = lock.clone().lock_owned().await;
        ChangeTurn {
            changing: self,
            message_id: message_id.to_string(),
            lock,
            guard: Some(guard),
        }
    }
}

/// A message's turn to be changed on this node; the last one out forgets the message.
struct ChangeTurn<'a> {
    changing: &'a Changing,
    message_id: String,
    lock: Arc<tokio::sync::Mutex<()>>,
    guard: Option<tokio::sync::OwnedMutexGuard<()>>,
}

impl Drop for ChangeTurn<'_> {
    fn drop(&mut self) {
        drop(self.guard.take());
        let mut messages = self
            .changing
            .messages
            .lock()
            .unwrap_or_else(PoisonError::into_inner);
        // Held by the map and this turn only: nobody else waits.
        if Arc::strong_count(&self.lock) == 2 {
            messages.remove(&self.message_id);
        }
    }
}

impl Chat {
    /// Replaces a message's body (its sender only); returns the message as edited.
    pub async fn edit(&self, user_id: &str, p: EditPayload) -> Result<Message> {
        self.require_member(&p.room_id, user_id).await?;
        let mentions = self.mentions(&p.room_id, user_id, p.body.trim()).await?;
        let edited = self
            .change(&p.room_id, &p.message_id, |mut message| {
                if message.sender_id != user_id {
                    return Err(Error::Forbidden("only the sender may edit a message"));
                }
                if message.deleted {
                    return Err(Error::NotFound("message"));
                }
                message.body = self.checked_body(&p.body, !message.attachments.is_empty())?;
                message.mentions = mentions.users.clone();
                message.mentions_room = mentions.room;
                let now = Timestamp::now();
                // Keep `edited_at` moving forward even if the clock does not.
                message.edited_at = Some(match message.edited_at {
                    Some(prev) if prev >= now => Timestamp::from_millis(prev.millis() + 1),
                    _ => now,
                });
                Ok(Some(message))
            })
            .await?
            .ok_or(Error::NotFound("message"))?;
        self.deps
            .handoff
            .publish(&Event::MessageEdited {
                message: edited.clone(),
            })
            .await?;
        let mut edited = edited;
        self.with_reply_previews(&p.room_id, std::slice::from_mut(&mut edited))
            .await?;
        Ok(edited)
    }

    /// Deletes a message (its sender, or a group's owner); returns it as deleted, or `None`
    /// when it already was.
    pub async fn delete(&self, user_id: &str, p: DeletePayload) -> Result<Option<Message>> {
        self.require_member(&p.room_id, user_id).await?;
        let sender = self
            .current_message(&p.room_id, &p.message_id)
            .await?
            .sender_id;
        if sender != user_id {
            let room = self
                .deps
                .store
                .room(&p.room_id)
                .await?
                .ok_or(Error::NotFound("room"))?;
            if room.kind != RoomKind::Group || room.created_by != user_id {
                return Err(Error::Forbidden(
                    "only the sender or the room's owner may delete a message",
                ));
            }
        }
        let deleted = self
            .change(&p.room_id, &p.message_id, |message| {
                Ok((!message.deleted).then(|| message.into_deleted()))
            })
            .await?;
        let Some(deleted) = deleted else {
            return Ok(None);
        };
        self.deps
            .handoff
            .publish(&Event::MessageDeleted {
                room_id: deleted.room_id.clone(),
                message_id: deleted.id.clone(),
                seq: deleted.seq,
                rev: deleted.rev,
            })
            .await?;
        // The message is gone for good; its files go with it (the file sweeper removes their
        // bytes from storage).
        if let Err(e) = self.deps.files.delete_message_files(&deleted.id).await {
            tracing::warn!(error = %e, message_id = %deleted.id, "files of a deleted message kept");
        }
        Ok(Some(deleted))
    }

    /// Makes a change with `make` (which gets the message's current state and returns its new
    /// one, or `None` for no change) and gives it the room's next `rev`. `None` when there was
    /// nothing to change, or the message was deleted meanwhile.
    pub(super) async fn change<F>(
        &self,
        room_id: &str,
        message_id: &str,
        make: F,
    ) -> Result<Option<Message>>
    where
        F: Fn(Message) -> Result<Option<Message>>,
    {
        let _turn = self.changing.turn(message_id).await;
        for attempt in 0..CHANGE_ATTEMPTS {
            if attempt > 0 {
                // Another node changed it meanwhile; let it finish, at a random moment so that
                // two nodes retrying do not meet again.
                let ms = rand::Rng::gen_range(&mut rand::thread_rng(), 1..=5 * u64::from(attempt));
                tokio::time::sleep(std::time::Duration::from_millis(ms)).await;
            }
            let current = self.current_message(room_id, message_id).await?;
            let base_rev = current.rev;
            let Some(message) = make(current)? else {
                return Ok(None);
            };
            match self
                .deps
                .sequencer
                .change(MessageChange { message, base_rev })
                .await?
            {
                ChangeOutcome::Applied(message) => return Ok(Some(*message)),
                ChangeOutcome::Gone => return Ok(None),
                ChangeOutcome::Stale => continue,
            }
        }
        Err(Error::Unavailable(format!(
            "message {message_id} kept changing during {CHANGE_ATTEMPTS} attempts"
        )))
    }

    /// A message in its newest state: the store's, or a newer change the writer has not
    /// stored yet.
    pub(super) async fn current_message(&self, room_id: &str, message_id: &str) -> Result<Message> {
        let stored = match self.deps.store.message(room_id, message_id).await? {
            Some(message) => message,
            // Sent a moment ago: the writer may not have stored it yet, the recent log has it.
            None => self
                .deps
                .sequencer
                .recent(room_id, Page::Before(None), MAX_PAGE)
                .await?
                .into_iter()
                .find(|m| m.id == message_id)
                .ok_or(Error::NotFound("message"))?,
        };
        let mut current = [stored];
        self.deps.sequencer.current(room_id, &mut current).await?;
        let [current] = current;
        Ok(current)
    }
}
