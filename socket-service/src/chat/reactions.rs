//! Reactions. Adding or removing one is a change of the message like an edit: made from its
//! current state and given the room's next `rev`, so two members reacting to one message at
//! the same moment on two nodes both count (the later one is refused as stale by the
//! sequencer and made again from the state that includes the first).

use models::chat::{Message, is_reaction_emoji};
use models::events::Event;
use models::socket::ReactionPayload;

use super::Chat;
use crate::{Error, Result};

/// What a reaction event asks for.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum React {
    Add,
    Remove,
}

impl Chat {
    /// Adds or removes the caller's reaction; returns the message as it now is and whether it
    /// changed (adding a reaction that is there, or removing one that is not, changes nothing
    /// and is answered with the current message: retries are safe).
    pub async fn react(
        &self,
        user_id: &str,
        p: ReactionPayload,
        react: React,
    ) -> Result<(Message, bool)> {
        if !is_reaction_emoji(&p.emoji) {
            return Err(Error::Invalid(
                "emoji must be one emoji or a shortcode like :thumbsup:".into(),
            ));
        }
        self.require_member(&p.room_id, user_id).await?;
        self.hit_send_rate(user_id, "reaction").await?;
        let changed = self
            .change(&p.room_id, &p.message_id, |mut message| {
                if message.deleted {
                    return Err(Error::NotFound("message"));
                }
                let changed = match react {
                    React::Add => message
                        .add_reaction(&p.emoji, user_id)
                        .map_err(|m| Error::Invalid(m.into()))?,
                    React::Remove => message.remove_reaction(&p.emoji, user_id),
                };
                Ok(changed.then_some(message))
            })
            .await?;
        let (mut message, changed) = match changed {
            Some(message) => {
                self.deps
                    .handoff
                    .publish(&Event::MessageUpdated {
                        message: message.clone(),
                    })
                    .await?;
                (message, true)
            }
            // Nothing to change, or the message was deleted meanwhile.
            None => {
                let current = self.current_message(&p.room_id, &p.message_id).await?;
                if current.deleted {
                    return Err(Error::NotFound("message"));
                }
                (current, false)
            }
        };
        self.with_reply_previews(&p.room_id, std::slice::from_mut(&mut message))
            .await?;
        Ok((message, changed))
    }
}
