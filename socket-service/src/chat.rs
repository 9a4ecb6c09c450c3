//! The chat logic, written once against the seams (store, sequencer, hand-off, presence, rate
//! limiter) and unaware of the run mode or of Socket.IO. Callers (the socket handlers and the
//! rooms API) turn its results into acks, responses and broadcasts.

use std::collections::{BTreeMap, HashSet};
use std::sync::Arc;

use handoff::HandOff;
use models::Timestamp;
use models::chat::{FileRef, Message, Room, RoomKind};
use models::events::Event;
use presence::Presence;
use rate_limit::{Decision, RateLimiter};
use sequencer::{HandOffState, Sequencer};
use serde::Deserialize;
use store::{AuthStore, ChatStore, FileState, FileStore, MemberRoom, NewMessage, Page, RoomRecord};

use crate::config::Limits;
use crate::membership::Membership;
use crate::ordering::Ordering;
use crate::{Error, Result};

/// At most this many messages per page of history or per room in one `sync`.
pub const MAX_PAGE: usize = 100;
const DEFAULT_PAGE: usize = 50;
/// A group holds at most this many members.
const MAX_MEMBERS: usize = 1000;
/// A message carries at most this many files.
const MAX_ATTACHMENTS: usize = 10;

/// Everything the logic talks to.
pub struct Deps {
    pub users: Arc<dyn AuthStore>,
    pub store: Arc<dyn ChatStore>,
    /// File metadata: what a message may attach, and which files its deletion removes.
    pub files: Arc<dyn FileStore>,
    pub sequencer: Arc<dyn Sequencer>,
    pub handoff: Arc<dyn HandOff>,
    pub presence: Arc<dyn Presence>,
    pub limiter: Arc<dyn RateLimiter>,
}

pub struct Chat {
    deps: Deps,
    limits: Limits,
    membership: Arc<Membership>,
    ordering: Ordering,
}

#[derive(Debug, Deserialize)]
pub struct SendPayload {
    pub room_id: String,
    pub client_id: String,
    #[serde(default)]
    pub body: String,
    #[serde(default)]
    pub attachments: Vec<String>,
    #[serde(default)]
    pub reply_to: Option<String>,
}

#[derive(Debug, Deserialize)]
pub struct EditPayload {
    pub room_id: String,
    pub message_id: String,
    pub body: String,
}

#[derive(Debug, Deserialize)]
pub struct DeletePayload {
    pub room_id: String,
    pub message_id: String,
}

#[derive(Debug, Deserialize)]
pub struct ReadPayload {
    pub room_id: String,
    pub seq: u64,
}

#[derive(Debug, Deserialize)]
pub struct TypingPayload {
    pub room_id: String,
    pub typing: bool,
}

#[derive(Debug, Deserialize)]
pub struct SyncPayload {
    pub rooms: Vec<SyncCursor>,
}

#[derive(Debug, Deserialize)]
pub struct SyncCursor {
    pub room_id: String,
    #[serde(default)]
    pub after_seq: u64,
}

/// One room's answer to `sync` or one page of history.
#[derive(Debug)]
pub struct HistoryPage {
    pub messages: Vec<Message>,
    pub has_more: bool,
}

impl Chat {
    pub fn new(deps: Deps, limits: Limits, membership: Arc<Membership>) -> Self {
        Chat {
            deps,
            limits,
            membership,
            ordering: Ordering::default(),
        }
    }

    /// How accepted messages are broadcast, in seq order per room.
    pub fn ordering(&self) -> &Ordering {
        &self.ordering
    }

    pub fn limits(&self) -> &Limits {
        &self.limits
    }

    pub fn deps(&self) -> &Deps {
        &self.deps
    }

    // ---- membership -------------------------------------------------------------------

    /// `not_found` for non-members, so a room's existence is never revealed to outsiders.
    pub async fn require_member(&self, room_id: &str, user_id: &str) -> Result<()> {
        if self.membership.is_member(room_id, user_id).await? {
            Ok(())
        } else {
            Err(Error::NotFound("room"))
        }
    }

    /// The caller's read pointer in the room (not cached: it moves).
    async fn read_pointer(&self, room_id: &str, user_id: &str) -> Result<u64> {
        self.deps
            .store
            .membership(room_id, user_id)
            .await?
            .ok_or(Error::NotFound("room"))
    }

    /// The ids of the rooms the user belongs to.
    pub async fn room_ids_of(&self, user_id: &str) -> Result<Vec<String>> {
        Ok(self
            .deps
            .store
            .rooms_of(user_id)
            .await?
            .into_iter()
            .map(|m| m.room.id)
            .collect())
    }

    // ---- messages ---------------------------------------------------------------------

    /// Sequences, hands off (durably) and returns the message; `fresh` is false for a retried
    /// `client_id`, which must not be broadcast again.
    pub async fn send(&self, user_id: &str, p: SendPayload) -> Result<(Message, bool)> {
        let client_id_len = p.client_id.chars().count();
        if !(1..=64).contains(&client_id_len) {
            return Err(Error::Invalid(
                "client_id must be 1 to 64 characters".into(),
            ));
        }
        self.require_member(&p.room_id, user_id).await?;
        // A retry of an accepted message is answered with its original whatever the checks
        // below say now (its files are bound to it, its sender may be over the rate). Where the
        // sequencer recognizes any retry of this id itself (the embedded one always; Redis for
        // recent time-stamped ids, within its dedupe window), it answers the retries that pass
        // the checks, so the store is asked only when a check refuses. Otherwise a retry may
        // be older than what the sequencer remembers: the store is asked first, which also
        // keeps such retries out of the rate limit.
        let recognized = self.deps.sequencer.recognizes_retry_of(&p.client_id);
        if !recognized && let Some(original) = self.original(user_id, &p).await? {
            return Ok((original, false));
        }
        let (body, attachments) = match self.admit(user_id, &p).await {
            Ok(admitted) => admitted,
            Err(refused) => {
                if recognized && let Some(original) = self.original(user_id, &p).await? {
                    return Ok((original, false));
                }
                return Err(refused);
            }
        };
        let new = NewMessage {
            id: uuid::Uuid::now_v7().simple().to_string(),
            room_id: p.room_id.clone(),
            sender_id: user_id.to_string(),
            client_id: p.client_id,
            body,
            attachments,
            reply_to: p.reply_to,
            created_at: Timestamp::now(),
        };
        let sequencer = &self.deps.sequencer;
        let sequenced = self
            .ordering
            .sequence(&p.room_id, || sequencer.sequence(new))
            .await?;
        // A retry publishes again unless the original's hand-off is known to have completed:
        // a node that died between sequencing and publishing leaves the message only in the
        // sequencer, and the sender's retry must complete the hand-off.
        let published = if sequenced.handed_off
            || (!sequenced.fresh && self.original_handed_off(&sequenced.message).await?)
        {
            Ok(())
        } else {
            self.deps
                .handoff
                .publish(&Event::MessageCreated {
                    message: sequenced.message.clone(),
                })
                .await
        };
        if sequenced.fresh {
            let broadcast = published.is_ok().then(|| sequenced.message.clone());
            self.ordering
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
        published?;
        if sequenced.fresh && !sequenced.message.attachments.is_empty() {
            self.bind_attachments(&sequenced.message).await;
        }
        Ok((sequenced.message, sequenced.fresh))
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
    /// the sender's rate. Returns the body and attachments to store.
    async fn admit(&self, user_id: &str, p: &SendPayload) -> Result<(String, Vec<FileRef>)> {
        let body = self.checked_body(&p.body, !p.attachments.is_empty())?;
        let attachments = self
            .checked_attachments(&p.room_id, user_id, &p.attachments)
            .await?;
        if let Some(reply_to) = &p.reply_to
            && self
                .deps
                .store
                .message(&p.room_id, reply_to)
                .await?
                .is_none()
        {
            return Err(Error::Invalid(
                "reply_to must be a message of the same room".into(),
            ));
        }
        if !self.deps.handoff.is_available() {
            return Err(Error::Unavailable("the hand-off is down".into()));
        }
        if let Decision::Limited { retry_after } = self
            .deps
            .limiter
            .hit(&format!("send:{user_id}"), self.limits.send_rate)
            .await?
        {
            return Err(Error::RateLimited(retry_after));
        }
        Ok((body, attachments))
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
    async fn original_handed_off(&self, original: &Message) -> Result<bool> {
        const IN_FLIGHT: i64 = 6_000;
        let deadline = original.created_at.millis() + IN_FLIGHT;
        loop {
            match self.deps.sequencer.hand_off_state(original).await? {
                HandOffState::Done => return Ok(true),
                HandOffState::Failed => return Ok(false),
                HandOffState::Pending if Timestamp::now().millis() >= deadline => {
                    return Ok(false);
                }
                HandOffState::Pending => {
                    tokio::time::sleep(std::time::Duration::from_millis(25)).await;
                }
            }
        }
    }

    fn checked_body(&self, body: &str, has_attachments: bool) -> Result<String> {
        let trimmed = body.trim();
        let len = trimmed.chars().count();
        if len == 0 && !has_attachments {
            return Err(Error::Invalid("body must not be empty".into()));
        }
        if len > self.limits.max_body_chars {
            return Err(Error::Invalid(format!(
                "body must be at most {} characters",
                self.limits.max_body_chars
            )));
        }
        Ok(trimmed.to_string())
    }

    pub async fn edit(&self, user_id: &str, p: EditPayload) -> Result<Message> {
        self.require_member(&p.room_id, user_id).await?;
        let mut message = self.find_message(&p.room_id, &p.message_id).await?;
        if message.sender_id != user_id {
            return Err(Error::Forbidden("only the sender may edit a message"));
        }
        if message.deleted {
            return Err(Error::NotFound("message"));
        }
        message.body = self.checked_body(&p.body, !message.attachments.is_empty())?;
        let now = Timestamp::now();
        // Edits are ordered by `edited_at`; keep it strictly increasing per message.
        message.edited_at = Some(match message.edited_at {
            Some(prev) if prev >= now => Timestamp::from_millis(prev.millis() + 1),
            _ => now,
        });
        self.deps
            .handoff
            .publish(&Event::MessageEdited {
                message: message.clone(),
            })
            .await?;
        Ok(message)
    }

    /// Deletes a message (its sender or the room's owner); returns it as deleted.
    pub async fn delete(&self, user_id: &str, p: DeletePayload) -> Result<Message> {
        self.require_member(&p.room_id, user_id).await?;
        let mut message = self.find_message(&p.room_id, &p.message_id).await?;
        if message.sender_id != user_id {
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
        if !message.deleted {
            self.deps
                .handoff
                .publish(&Event::MessageDeleted {
                    room_id: message.room_id.clone(),
                    message_id: message.id.clone(),
                    seq: message.seq,
                })
                .await?;
            if !message.attachments.is_empty() {
                // The message is gone for good; its files go with it (the file sweeper
                // removes their bytes from storage).
                if let Err(e) = self.deps.files.delete_message_files(&message.id).await {
                    tracing::warn!(error = %e, message_id = %message.id, "files of a deleted message kept");
                }
            }
        }
        message.deleted = true;
        message.body.clear();
        message.attachments.clear();
        Ok(message)
    }

    async fn find_message(&self, room_id: &str, message_id: &str) -> Result<Message> {
        self.deps
            .store
            .message(room_id, message_id)
            .await?
            .ok_or(Error::NotFound("message"))
    }

    /// Moves the caller's read pointer; `Some(seq)` when it moved (to broadcast), `None` when
    /// the given seq was not above the stored one.
    pub async fn read(&self, user_id: &str, p: ReadPayload) -> Result<Option<u64>> {
        let current = self.read_pointer(&p.room_id, user_id).await?;
        let last = self.last_seq(&p.room_id).await?;
        let seq = p.seq.min(last);
        if seq <= current {
            return Ok(None);
        }
        self.deps
            .handoff
            .publish(&Event::ReadUpdated {
                room_id: p.room_id,
                user_id: user_id.to_string(),
                seq,
            })
            .await?;
        Ok(Some(seq))
    }

    /// Whether a typing event may be relayed (member, and within the typing rate).
    pub async fn typing_allowed(&self, user_id: &str, room_id: &str) -> Result<bool> {
        self.require_member(room_id, user_id).await?;
        Ok(self
            .deps
            .limiter
            .hit(
                &format!("typing:{user_id}:{room_id}"),
                self.limits.typing_rate,
            )
            .await?
            .is_allowed())
    }

    /// What the caller missed in each room after its cursor; `Err` per room for non-members.
    pub async fn sync(
        &self,
        user_id: &str,
        p: SyncPayload,
    ) -> Result<Vec<(String, Result<HistoryPage>)>> {
        if p.rooms.len() > 1000 {
            return Err(Error::Invalid("rooms: at most 1000 per sync".into()));
        }
        let mut out = Vec::with_capacity(p.rooms.len());
        for cursor in p.rooms {
            let page = match self.require_member(&cursor.room_id, user_id).await {
                Ok(_) => {
                    self.history(&cursor.room_id, Page::After(cursor.after_seq), MAX_PAGE)
                        .await
                }
                Err(e) => Err(e),
            };
            // A failing dependency fails the whole call; only refusals are per room.
            let page = match page {
                Err(e @ (Error::Unavailable(_) | Error::Internal(_))) => return Err(e),
                other => other,
            };
            out.push((cursor.room_id, page));
        }
        Ok(out)
    }

    /// A page of history: the store merged with the sequencer's recent log, so messages the
    /// writer has not persisted yet are there too.
    pub async fn history(&self, room_id: &str, page: Page, limit: usize) -> Result<HistoryPage> {
        let limit = limit.clamp(1, MAX_PAGE);
        let stored = self.deps.store.messages(room_id, page, limit + 1).await?;
        let recent = self.deps.sequencer.recent(room_id, page, limit + 1).await?;
        let mut by_seq: BTreeMap<u64, Message> = recent.into_iter().map(|m| (m.seq, m)).collect();
        // The store's copy wins: it carries edits and deletes.
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
        Ok(HistoryPage { messages, has_more })
    }

    async fn last_seq(&self, room_id: &str) -> Result<u64> {
        let stored = self
            .deps
            .store
            .room(room_id)
            .await?
            .map(|r| r.last_seq)
            .unwrap_or(0);
        let sequenced = self.deps.sequencer.last_seq(room_id).await?.unwrap_or(0);
        Ok(stored.max(sequenced))
    }

    // ---- rooms ------------------------------------------------------------------------

    /// The room as `user_id` sees it.
    pub async fn room_view(&self, record: RoomRecord, last_read_seq: u64) -> Result<Room> {
        let sequenced = self.deps.sequencer.last_seq(&record.id).await?.unwrap_or(0);
        let last_seq = record.last_seq.max(sequenced);
        let last_read_seq = last_read_seq.min(last_seq);
        Ok(Room {
            id: record.id,
            kind: record.kind,
            name: record.name,
            created_by: record.created_by,
            created_at: record.created_at,
            members: record.members,
            last_seq,
            last_read_seq,
            unread: last_seq - last_read_seq,
        })
    }

    pub async fn rooms_of(&self, user_id: &str) -> Result<Vec<Room>> {
        let mut rooms = Vec::new();
        for MemberRoom {
            room,
            last_read_seq,
        } in self.deps.store.rooms_of(user_id).await?
        {
            rooms.push(self.room_view(room, last_read_seq).await?);
        }
        Ok(rooms)
    }

    pub async fn room(&self, room_id: &str, user_id: &str) -> Result<Room> {
        let last_read = self.read_pointer(room_id, user_id).await?;
        let record = self
            .deps
            .store
            .room(room_id)
            .await?
            .ok_or(Error::NotFound("room"))?;
        self.room_view(record, last_read).await
    }

    async fn require_user(&self, user_id: &str) -> Result<()> {
        match self.deps.users.user_by_id(user_id).await? {
            Some(_) => Ok(()),
            None => Err(Error::Invalid(format!("unknown user {user_id:?}"))),
        }
    }

    /// A new group with the caller as owner; returns it and its members.
    pub async fn create_group(
        &self,
        owner: &str,
        name: &str,
        members: Vec<String>,
    ) -> Result<RoomRecord> {
        let name = name.trim();
        if !(1..=64).contains(&name.chars().count()) {
            return Err(Error::Invalid("name must be 1 to 64 characters".into()));
        }
        let mut seen = HashSet::new();
        let mut all = vec![owner.to_string()];
        seen.insert(owner.to_string());
        for member in members {
            if seen.insert(member.clone()) {
                self.require_user(&member).await?;
                all.push(member);
            }
        }
        if all.len() > MAX_MEMBERS {
            return Err(Error::Invalid(format!(
                "members: at most {MAX_MEMBERS} per room"
            )));
        }
        let now = Timestamp::now();
        let record = RoomRecord {
            id: uuid::Uuid::now_v7().simple().to_string(),
            kind: RoomKind::Group,
            name: name.to_string(),
            created_by: owner.to_string(),
            created_at: now,
            direct_key: None,
            members: all,
            last_seq: 0,
            last_activity: now,
        };
        self.deps.store.create_room(&record).await?;
        Ok(record)
    }

    /// The direct room of the pair, created on first use; `true` when it was created now.
    pub async fn direct(&self, caller: &str, other: &str) -> Result<(RoomRecord, bool)> {
        if caller == other {
            return Err(Error::Invalid(
                "user_id: a direct room needs another user".into(),
            ));
        }
        self.require_user(other).await?;
        let mut pair = [caller, other];
        pair.sort();
        let key = pair.join(":");
        if let Some(room) = self.deps.store.direct_room(&key).await? {
            return Ok((room, false));
        }
        let now = Timestamp::now();
        let record = RoomRecord {
            id: uuid::Uuid::now_v7().simple().to_string(),
            kind: RoomKind::Direct,
            name: String::new(),
            created_by: caller.to_string(),
            created_at: now,
            direct_key: Some(key.clone()),
            members: vec![caller.to_string(), other.to_string()],
            last_seq: 0,
            last_activity: now,
        };
        match self.deps.store.create_room(&record).await {
            Ok(()) => Ok((record, true)),
            // Both users asked at once; the other request created it.
            Err(store::Error::Duplicate(_)) => {
                let room = self.deps.store.direct_room(&key).await?;
                Ok((room.ok_or(Error::NotFound("room"))?, false))
            }
            Err(e) => Err(e.into()),
        }
    }

    /// Adds `user_id` to a group (its owner only); `true` when added.
    pub async fn add_member(&self, caller: &str, room_id: &str, user_id: &str) -> Result<bool> {
        self.require_member(room_id, caller).await?;
        let room = self
            .deps
            .store
            .room(room_id)
            .await?
            .ok_or(Error::NotFound("room"))?;
        if room.kind == RoomKind::Direct {
            return Err(Error::Forbidden("a direct room has exactly two members"));
        }
        if room.created_by != caller {
            return Err(Error::Forbidden("only the room's owner may add members"));
        }
        if room.members.len() >= MAX_MEMBERS {
            return Err(Error::Invalid(format!(
                "members: at most {MAX_MEMBERS} per room"
            )));
        }
        self.require_user(user_id).await?;
        let added = self.deps.store.add_member(room_id, user_id).await?;
        self.membership.changed(room_id, user_id).await;
        Ok(added)
    }

    /// Removes a member: oneself (leaving), or anyone by the group's owner.
    pub async fn remove_member(&self, caller: &str, room_id: &str, user_id: &str) -> Result<()> {
        self.require_member(room_id, caller).await?;
        if caller != user_id {
            let room = self
                .deps
                .store
                .room(room_id)
                .await?
                .ok_or(Error::NotFound("room"))?;
            if room.kind == RoomKind::Direct || room.created_by != caller {
                return Err(Error::Forbidden(
                    "only the room's owner may remove other members",
                ));
            }
        }
        let removed = self.deps.store.remove_member(room_id, user_id).await?;
        self.membership.changed(room_id, user_id).await;
        if !removed {
            return Err(Error::NotFound("member"));
        }
        Ok(())
    }

    /// The user's rooms and the other users who share one of them, from one store read.
    pub async fn rooms_and_co_members(&self, user_id: &str) -> Result<(Vec<String>, Vec<String>)> {
        let memberships = self.deps.store.rooms_of(user_id).await?;
        let mut others = HashSet::new();
        let mut rooms = Vec::with_capacity(memberships.len());
        for MemberRoom { room, .. } in memberships {
            others.extend(room.members.into_iter().filter(|m| m != user_id));
            rooms.push(room.id);
        }
        let mut others: Vec<String> = others.into_iter().collect();
        others.sort();
        Ok((rooms, others))
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

    /// Parses an optional `limit` query value.
    pub fn page_limit(limit: Option<usize>) -> Result<usize> {
        match limit {
            None => Ok(DEFAULT_PAGE),
            Some(n) if (1..=MAX_PAGE).contains(&n) => Ok(n),
            Some(_) => Err(Error::Invalid(format!("limit must be 1 to {MAX_PAGE}"))),
        }
    }
}
