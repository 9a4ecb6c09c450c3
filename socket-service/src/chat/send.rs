//! New messages: the checks a message must pass, its `seq` (given in the order its socket
//! emitted it), the durable hand-off, and the broadcast in `seq` order.

use std::collections::{BTreeSet, HashMap, HashSet};
use std::sync::{Arc, Mutex, PoisonError};

use models::Timestamp;
use models::chat::{FileRef, Message, ReplyPreview};
use models::events::Event;
use models::socket::SendPayload;
use sequencer::HandOffState;
use store::{FileState, NewMessage};
use tokio::sync::oneshot;

use super::Chat;
use crate::{Error, Result};

/// A message carries at most this many files.
const MAX_ATTACHMENTS: usize = 10;

/// The order in which one socket emitted events of one kind, kept where it matters: sends are
/// sequenced in it, typing events relayed in it. Events run concurrently (a client may
/// pipeline sends without waiting for acks); each takes a [`Turn`] when its packet arrives, and
/// waits for it only for the step that must keep the order.
#[derive(Default)]
pub struct EmitOrder {
    state: Mutex<OrderState>,
}

#[derive(Default)]
struct OrderState {
    next_ticket: u64,
    /// The ticket whose turn it is.
    serving: u64,
    /// Tickets after `serving` that are already done (refused before sequencing, or dropped).
    done: BTreeSet<u64>,
    /// Tickets waiting for their turn, each woken alone when it comes (a backlog of waiters is
    /// not woken all at once for every one that goes).
    waiting: HashMap<u64, oneshot::Sender<()>>,
}

/// One event's place in its socket's [`EmitOrder`]. Dropping it (once the ordered step is done,
/// or on a refusal before) lets the next event go.
pub struct Turn {
    order: Arc<EmitOrder>,
    ticket: u64,
}

impl EmitOrder {
    /// The next place in line; take it in the order packets arrive.
    pub fn ticket(self: &Arc<Self>) -> Turn {
        let mut state = self.lock();
        let ticket = state.next_ticket;
        state.next_ticket += 1;
        Turn {
            order: self.clone(),
            ticket,
        }
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, OrderState> {
        self.state.lock().unwrap_or_else(PoisonError::into_inner)
    }
}

impl Turn {
    /// A turn in a line of its own: for a send not ordered after any other.
    pub fn alone() -> Turn {
        Arc::new(EmitOrder::default()).ticket()
    }

    /// Waits until every earlier event of the line is done or refused.
    pub async fn wait(&self) {
        let woken = {
            let mut state = self.order.lock();
            if state.serving == self.ticket {
                return;
            }
            let (wake, woken) = oneshot::channel();
            state.waiting.insert(self.ticket, wake);
            woken
        };
        // Sent when `serving` reaches this ticket; the order outlives this turn, so the sender
        // is never dropped unsent.
        let _ = woken.await;
    }
}

impl Drop for Turn {
    fn drop(&mut self) {
        let mut guard = self.order.lock();
        let state = &mut *guard;
        state.waiting.remove(&self.ticket);
        state.done.insert(self.ticket);
        let mut moved = false;
        while state.done.remove(&state.serving) {
            state.serving += 1;
            moved = true;
        }
        if moved && let Some(wake) = state.waiting.remove(&state.serving) {
            let _ = wake.send(());
        }
    }
}

/// What became of a send.
pub struct Sent {
    pub message: Message,
    /// False for a retried `client_id` (broadcast only if its original never was).
    pub fresh: bool,
    /// For a reply in a thread: its root with the reply counted, for `message:updated`.
    pub root: Option<Message>,
}

impl Chat {
    /// Sequences, hands off (durably), broadcasts and returns the message; see [`Sent`].
    pub async fn send(&self, user_id: &str, p: SendPayload, turn: Turn) -> Result<Sent> {
        let client_id_len = p.client_id.chars().count();
        if !(1..=64).contains(&client_id_len) {
            return Err(Error::Invalid(
                "client_id must be 1 to 64 characters".into(),
            ));
        }
        self.require_member(&p.room_id, user_id).await?;
        // A retry of an accepted message is answered with its original: by the sequencer when
        // the checks below pass, and from the store when one refuses it (its files are bound to
        // it, its sender may be over the rate now).
        let (body, attachments, answered) = match self.admit(user_id, &p).await {
            Ok(admitted) => admitted,
            Err(refused) => {
                if let Some(mut original) = self.original(user_id, &p).await? {
                    self.with_reply_previews(&p.room_id, std::slice::from_mut(&mut original))
                        .await?;
                    return Ok(Sent {
                        message: original,
                        fresh: false,
                        root: None,
                    });
                }
                return Err(refused);
            }
        };
        let mentions = self.mentions(&p.room_id, user_id, &body).await?;
        let new = NewMessage {
            id: uuid::Uuid::now_v7().simple().to_string(),
            room_id: p.room_id.clone(),
            sender_id: user_id.to_string(),
            client_id: p.client_id,
            body,
            attachments,
            reply_to: p.reply_to,
            created_at: Timestamp::now(),
            mentions: mentions.users,
            mentions_room: mentions.room,
            thread_id: p.thread_id.clone(),
        };
        let sequencer = &self.deps.sequencer;
        // Sequenced in the socket's emit order; the checks above ran concurrently.
        turn.wait().await;
        let sequenced = self
            .broadcast_order
            .sequence(&p.room_id, || sequencer.sequence(new))
            .await;
        drop(turn);
        let mut sequenced = sequenced?;
        // What members see of a reply: the message it answers, as that one is now (the
        // hand-off carries it too: push-service tells whose message it answers).
        if sequenced.fresh {
            sequenced.message.reply_preview = answered.as_ref().map(ReplyPreview::of);
        } else {
            self.with_reply_previews(&p.room_id, std::slice::from_mut(&mut sequenced.message))
                .await?;
        }
        // A retry publishes again unless the original's hand-off is known to have completed:
        // a node that died between sequencing and publishing leaves the message only in the
        // sequencer, and the sender's retry must complete the hand-off.
        let original = if sequenced.fresh || sequenced.handed_off {
            None
        } else {
            Some(self.original_hand_off(&sequenced.message).await?)
        };
        let publishes = !sequenced.handed_off && original != Some(HandOffState::Done);
        let published = if publishes {
            self.deps
                .handoff
                .publish(&Event::MessageCreated {
                    message: sequenced.message.clone(),
                })
                .await
        } else {
            Ok(())
        };
        // A message is broadcast by its first attempt, or by a retry whose original's publish
        // is known to have failed (so it was never broadcast). An original whose outcome never
        // got recorded (its node died) may have been broadcast already: its retry broadcasts
        // nothing, and members that missed it fill the gap in `seq` with `sync`.
        let never_broadcast = original == Some(HandOffState::Failed);
        if sequenced.fresh || (never_broadcast && published.is_ok()) {
            let broadcast = published.is_ok().then(|| sequenced.message.clone());
            self.broadcast_order
                .settle(&p.room_id, sequenced.message.seq, broadcast)
                .await;
        }
        if !sequenced.handed_off {
            let outcome = match published {
                Ok(()) => HandOffState::Done,
                Err(_) => HandOffState::Failed,
            };
            // Recorded in the background: the sender's ack does not wait on it.
            let sequencer = self.deps.sequencer.clone();
            let message = sequenced.message.clone();
            tokio::spawn(async move {
                if let Err(e) = sequencer.record_hand_off(&message, outcome).await {
                    // A later retry waits out the in-flight window, then hands off once
                    // more; consumers ignore the duplicate.
                    tracing::warn!(error = %e, "hand-off outcome not recorded");
                }
            });
        }
        let handed_off_here = publishes && published.is_ok();
        published?;
        if sequenced.fresh && !sequenced.message.attachments.is_empty() {
            self.bind_attachments(&sequenced.message).await;
        }
        // A reply in a thread counts in its root's summary, once: by the attempt that handed
        // the reply off.
        let root = if handed_off_here {
            self.add_to_thread(&sequenced.message).await
        } else {
            None
        };
        Ok(Sent {
            message: sequenced.message,
            fresh: sequenced.fresh,
            root,
        })
    }

    /// The message this sender already sent with this `client_id`, if any.
    async fn original(&self, user_id: &str, p: &SendPayload) -> Result<Option<Message>> {
        Ok(self
            .deps
            .store
            .message_by_client_id(&p.room_id, user_id, &p.client_id)
            .await?)
    }

    /// The checks a new message must pass: body, attachments, reply, the hand-off being up, and
    /// the sender's rate. Returns the body and attachments to store, and the message it
    /// answers.
    async fn admit(
        &self,
        user_id: &str,
        p: &SendPayload,
    ) -> Result<(String, Vec<FileRef>, Option<Message>)> {
        let body = self.checked_body(&p.body, !p.attachments.is_empty())?;
        let attachments = self
            .checked_attachments(&p.room_id, user_id, &p.attachments)
            .await?;
        let answered = match &p.reply_to {
            // Found in the store, or in the recent log when the writer has not stored it yet.
            Some(reply_to) => match self.current_message(&p.room_id, reply_to).await {
                Ok(original) => Some(original),
                Err(Error::NotFound(_)) => {
                    return Err(Error::Invalid(
                        "reply_to must be a message of the same room".into(),
                    ));
                }
                Err(e) => return Err(e),
            },
            None => None,
        };
        if let Some(thread_id) = &p.thread_id {
            self.thread_root(&p.room_id, thread_id).await?;
        }
        if !self.deps.handoff.is_available() {
            return Err(Error::Unavailable("the hand-off is down".into()));
        }
        self.hit_send_rate(user_id, "message").await?;
        Ok((body, attachments, answered))
    }

    /// Counts one send of `what` (a message, a reaction) against the user's send rate, shared
    /// by all their sockets; `rate_limited` past it.
    pub(super) async fn hit_send_rate(&self, user_id: &str, what: &'static str) -> Result<()> {
        self.hit_rate("send", self.limits.send_rate, user_id, what)
            .await
    }

    /// The files a message may carry: `ready` files of the same room, uploaded by the sender
    /// and not carried by another message. Anything else is refused with the file named.
    async fn checked_attachments(
        &self,
        room_id: &str,
        user_id: &str,
        ids: &[String],
    ) -> Result<Vec<FileRef>> {
        if ids.len() > MAX_ATTACHMENTS {
            return Err(Error::Invalid(format!(
                "attachments: at most {MAX_ATTACHMENTS} per message"
            )));
        }
        let mut seen = HashSet::new();
        let mut refs = Vec::with_capacity(ids.len());
        for id in ids {
            if !seen.insert(id.as_str()) {
                continue;
            }
            let file = self.deps.files.file(id).await?;
            let usable = file.as_ref().is_some_and(|f| {
                f.room_id == room_id && f.uploader_id == user_id && f.message_id.is_none()
            });
            match file {
                Some(f) if usable && f.state == FileState::Ready => {
                    refs.extend(f.to_file().map(|f| f.to_ref()));
                }
                Some(f) if usable && f.state == FileState::Pending => {
                    return Err(Error::Invalid(format!(
                        "attachments: file {id} is still pending; complete its upload first"
                    )));
                }
                _ => {
                    return Err(Error::Invalid(format!(
                        "attachments: file {id} is not a ready file of yours in this room"
                    )));
                }
            }
        }
        Ok(refs)
    }

    /// Records which message carries the files, so that deleting it removes them. The message
    /// is already out; a file another message took in the meantime stays with that one.
    async fn bind_attachments(&self, message: &Message) {
        let ids: Vec<String> = message.attachments.iter().map(|f| f.id.clone()).collect();
        match self.deps.files.attach_files(&ids, &message.id).await {
            Ok(bound) if bound.len() < ids.len() => {
                tracing::warn!(message_id = %message.id, "an attachment was taken by another message");
            }
            Ok(_) => {}
            Err(e) => tracing::warn!(error = %e, message_id = %message.id, "attachments not bound"),
        }
    }

    /// A retry that arrives while the original's hand-off may still be in flight (on this or
    /// another node) waits for its outcome instead of publishing a second copy; once that
    /// hand-off is overdue (its node died, or it failed), the retry completes it itself.
    /// `Pending` when the outcome is still unknown once that window has passed.
    async fn original_hand_off(&self, original: &Message) -> Result<HandOffState> {
        const IN_FLIGHT: i64 = 6_000;
        let deadline = original.created_at.millis() + IN_FLIGHT;
        loop {
            match self.deps.sequencer.hand_off_state(original).await? {
                HandOffState::Pending if Timestamp::now().millis() >= deadline => {
                    return Ok(HandOffState::Pending);
                }
                HandOffState::Pending => {
                    tokio::time::sleep(std::time::Duration::from_millis(25)).await;
                }
                settled => return Ok(settled),
            }
        }
    }

    /// A message body as stored: trimmed, showing something unless files carry the message,
    /// within the length limit.
    pub(super) fn checked_body(&self, body: &str, has_attachments: bool) -> Result<String> {
        let trimmed = body.trim();
        let len = trimmed.chars().count();
        if len == 0 && !has_attachments {
            return Err(Error::Invalid("body must not be empty".into()));
        }
        if len > 0 && !models::text::has_visible(trimmed) && !has_attachments {
            return Err(Error::Invalid(
                "body must have a character that shows".into(),
            ));
        }
        if len > self.limits.max_body_chars {
            return Err(Error::Invalid(format!(
                "body must be at most {} characters",
                self.limits.max_body_chars
            )));
        }
        Ok(trimmed.to_string())
    }
}

#[cfg(test)]
mod tests {
    use std::sync::Arc;
    use std::time::Duration;

    use super::EmitOrder;

    /// Turns taken 0..50 and waited for in reverse task order go in ticket order, each one
    /// only after the one before it was dropped; a turn dropped without waiting (a refused
    /// send) lets the next one go too.
    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn turns_go_in_the_order_they_were_taken() {
        let order = Arc::new(EmitOrder::default());
        let turns: Vec<_> = (0..50).map(|_| order.ticket()).collect();
        let gone = Arc::new(std::sync::Mutex::new(Vec::new()));
        let mut tasks = Vec::new();
        for (i, turn) in turns.into_iter().enumerate().rev() {
            let gone = gone.clone();
            tasks.push(tokio::spawn(async move {
                if i % 7 == 3 {
                    drop(turn);
                    return;
                }
                turn.wait().await;
                tokio::task::yield_now().await;
                gone.lock().unwrap().push(i);
                drop(turn);
            }));
        }
        for task in tasks {
            tokio::time::timeout(Duration::from_secs(10), task)
                .await
                .expect("every turn comes")
                .unwrap();
        }
        let expected: Vec<usize> = (0..50).filter(|i| i % 7 != 3).collect();
        assert_eq!(*gone.lock().unwrap(), expected);
    }

    /// A waiter given up (its task cancelled) does not hold the line.
    #[tokio::test]
    async fn a_cancelled_wait_does_not_block_the_next_turn() {
        let order = Arc::new(EmitOrder::default());
        let first = order.ticket();
        let second = order.ticket();
        let third = order.ticket();
        let waiting = tokio::time::timeout(Duration::from_millis(20), second.wait()).await;
        assert!(waiting.is_err(), "the second waits for the first");
        drop(second);
        drop(first);
        tokio::time::timeout(Duration::from_secs(1), third.wait())
            .await
            .expect("the third goes once both before it are gone");
    }
}
