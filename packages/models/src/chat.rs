//! Rooms, messages and files as clients see them.

use serde::{Deserialize, Serialize};

use crate::{Timestamp, UserId};

pub type RoomId = String;
pub type MessageId = String;
pub type FileId = String;

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum RoomKind {
    Direct,
    Group,
}

/// `Room`; `last_read_seq` and `unread` are for the caller.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Room {
    pub id: RoomId,
    pub kind: RoomKind,
    pub name: String,
    pub created_by: UserId,
    pub created_at: Timestamp,
    pub members: Vec<UserId>,
    pub last_seq: u64,
    /// The room's change counter: raised by every change to an existing message.
    pub rev: u64,
    pub last_read_seq: u64,
    pub unread: u64,
    /// Of the unread messages, those that mention the caller or the whole room.
    #[serde(default)]
    pub unread_mentions: u64,
    /// The caller's notification setting for the room.
    #[serde(default)]
    pub notifications: Notifications,
}

/// Which new messages of a room a member is pushed.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum NotifyLevel {
    /// Every message (unless muted).
    #[default]
    All,
    /// Messages that mention them or the room, or reply to one of theirs.
    Mentions,
    /// None.
    None,
}

/// A member's notification setting for one room.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Notifications {
    pub level: NotifyLevel,
    /// Until then, `all` pushes nothing; absent or past: not muted.
    #[serde(default)]
    pub muted_until: Option<Timestamp>,
}

impl Notifications {
    /// Whether `message` is pushed to `user_id` under this setting at `now`; `answered` is the
    /// sender of the message it answers (`reply_to`, or its thread's root), if any.
    pub fn wants(
        &self,
        message: &Message,
        user_id: &str,
        answered: &[&str],
        now: Timestamp,
    ) -> bool {
        match self.level {
            NotifyLevel::None => false,
            NotifyLevel::All => self.muted_until.is_none_or(|until| until <= now),
            NotifyLevel::Mentions => message.mentions_of(user_id) || answered.contains(&user_id),
        }
    }
}

/// `RoomInfo`: a [`Room`] without the caller's fields, as `room:updated` carries it to every
/// member.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct RoomInfo {
    pub id: RoomId,
    pub kind: RoomKind,
    pub name: String,
    pub created_by: UserId,
    pub created_at: Timestamp,
    pub members: Vec<UserId>,
    pub last_seq: u64,
    pub rev: u64,
}

impl From<Room> for RoomInfo {
    fn from(room: Room) -> Self {
        RoomInfo {
            id: room.id,
            kind: room.kind,
            name: room.name,
            created_by: room.created_by,
            created_at: room.created_at,
            members: room.members,
            last_seq: room.last_seq,
            rev: room.rev,
        }
    }
}

/// A file as a message shows it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct FileRef {
    pub id: FileId,
    pub filename: String,
    pub content_type: String,
    pub size: u64,
}

/// `Message`. The default is empty, for building one field by field.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Message {
    pub id: MessageId,
    pub room_id: RoomId,
    pub seq: u64,
    pub sender_id: UserId,
    pub client_id: String,
    pub body: String,
    pub attachments: Vec<FileRef>,
    pub reply_to: Option<MessageId>,
    pub created_at: Timestamp,
    pub edited_at: Option<Timestamp>,
    pub deleted: bool,
    /// The room's `rev` when this message last changed; 0 if it never did.
    #[serde(default)]
    pub rev: u64,
    /// In the order each emoji was first used.
    #[serde(default)]
    pub reactions: Vec<Reaction>,
    /// The members the body mentions (`@username`), computed by the server; recomputed on edit.
    #[serde(default)]
    pub mentions: Vec<UserId>,
    /// Whether the body mentions everyone (`@room`, from the room's owner only).
    #[serde(default)]
    pub mentions_room: bool,
    /// On a thread's reply: the thread's root. Replies take the room's next `seq` like any
    /// message.
    #[serde(default)]
    pub thread_id: Option<MessageId>,
    /// On a thread's root: its replies so far.
    #[serde(default)]
    pub thread: Option<ThreadSummary>,
    /// For a reply (`reply_to`): the message it answers as that one is now. Never stored:
    /// filled in when the message is served.
    #[serde(default)]
    pub reply_preview: Option<ReplyPreview>,
}

/// A thread as its root shows it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ThreadSummary {
    pub reply_count: u64,
    pub last_reply_at: Timestamp,
    /// Who replied, most recent first, at most [`MAX_THREAD_PARTICIPANTS`].
    pub participant_ids: Vec<UserId>,
}

/// A thread's summary names at most this many participants.
pub const MAX_THREAD_PARTICIPANTS: usize = 10;

impl ThreadSummary {
    /// The summary once `reply` is in the thread too.
    pub fn with_reply(summary: Option<&ThreadSummary>, reply: &Message) -> ThreadSummary {
        let mut participant_ids = vec![reply.sender_id.clone()];
        if let Some(s) = summary {
            participant_ids.extend(
                s.participant_ids
                    .iter()
                    .filter(|u| **u != reply.sender_id)
                    .cloned(),
            );
        }
        participant_ids.truncate(MAX_THREAD_PARTICIPANTS);
        ThreadSummary {
            reply_count: summary.map_or(0, |s| s.reply_count) + 1,
            last_reply_at: summary
                .map(|s| s.last_reply_at)
                .map_or(reply.created_at, |t| t.max(reply.created_at)),
            participant_ids,
        }
    }
}

/// The message a reply answers, as the reply shows it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ReplyPreview {
    pub message_id: MessageId,
    pub sender_id: UserId,
    /// The first [`REPLY_PREVIEW_CHARS`] characters of its body (empty once deleted).
    pub body: String,
    pub deleted: bool,
}

/// How much of the original's body a reply shows.
pub const REPLY_PREVIEW_CHARS: usize = 120;

impl ReplyPreview {
    /// The preview of `original`.
    pub fn of(original: &Message) -> Self {
        ReplyPreview {
            message_id: original.id.clone(),
            sender_id: original.sender_id.clone(),
            body: original.body.chars().take(REPLY_PREVIEW_CHARS).collect(),
            deleted: original.deleted,
        }
    }
}

/// One emoji's reactions to a message: who reacted with it, in the order they did.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Reaction {
    pub emoji: String,
    pub count: u32,
    pub user_ids: Vec<UserId>,
}

/// At most this many distinct emoji on one message.
pub const MAX_REACTION_EMOJI: usize = 20;

/// Whether `emoji` is what a reaction may be: one emoji (1–16 Unicode scalar values, none of
/// them ASCII or a control or blank character), or a shortcode `:[a-z0-9_+-]{1,32}:`.
pub fn is_reaction_emoji(emoji: &str) -> bool {
    if let Some(code) = emoji
        .strip_prefix(':')
        .and_then(|rest| rest.strip_suffix(':'))
    {
        return (1..=32).contains(&code.len())
            && code
                .bytes()
                .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b"_+-".contains(&b));
    }
    let count = emoji.chars().count();
    (1..=16).contains(&count)
        && emoji
            .chars()
            .all(|c| !c.is_ascii() && !c.is_control() && !c.is_whitespace())
        // An emoji starts with a pictograph, not with a joiner, a modifier or a variation
        // selector, which only combine with what comes before them.
        && emoji
            .chars()
            .next()
            .is_some_and(|c| !matches!(c, '\u{200D}' | '\u{FE00}'..='\u{FE0F}' | '\u{1F3FB}'..='\u{1F3FF}'))
}

/// The names a body mentions: each `@name` (the characters of a username) not preceded by a
/// character of a word or of an address, lowercased, without repeats, in order, at most
/// `limit`. `@room` comes out as `room`.
pub fn mentioned_names(body: &str, limit: usize) -> Vec<String> {
    let is_name = |c: char| c.is_ascii_alphanumeric() || matches!(c, '_' | '.' | '-');
    let mut names: Vec<String> = Vec::new();
    let mut prev: Option<char> = None;
    for (at, c) in body.char_indices() {
        let starts =
            c == '@' && !prev.is_some_and(|p| p.is_alphanumeric() || is_name(p) || p == '@');
        prev = Some(c);
        if !starts {
            continue;
        }
        let rest = &body[at + 1..];
        let len = rest.find(|c: char| !is_name(c)).unwrap_or(rest.len());
        // A sentence may end right after a name: "thanks @bob."
        let name = rest[..len]
            .trim_end_matches(['.', '-', '_'])
            .to_ascii_lowercase();
        if !name.is_empty() && !names.contains(&name) {
            names.push(name);
            if names.len() >= limit {
                break;
            }
        }
    }
    names
}

impl Message {
    /// Whether the message mentions `user_id`, by name or as one of the room.
    pub fn mentions_of(&self, user_id: &str) -> bool {
        self.mentions_room || self.mentions.iter().any(|u| u == user_id)
    }

    /// Adds `user_id`'s reaction with `emoji`; false when it was already there. Refuses a
    /// new emoji past [`MAX_REACTION_EMOJI`].
    pub fn add_reaction(&mut self, emoji: &str, user_id: &str) -> Result<bool, &'static str> {
        let distinct = self.reactions.len();
        match self.reactions.iter_mut().find(|r| r.emoji == emoji) {
            Some(r) if r.user_ids.iter().any(|u| u == user_id) => Ok(false),
            Some(r) => {
                r.user_ids.push(user_id.to_string());
                r.count = r.user_ids.len() as u32;
                Ok(true)
            }
            None if distinct >= MAX_REACTION_EMOJI => {
                Err("a message has at most 20 different reactions")
            }
            None => {
                self.reactions.push(Reaction {
                    emoji: emoji.to_string(),
                    count: 1,
                    user_ids: vec![user_id.to_string()],
                });
                Ok(true)
            }
        }
    }

    /// Removes `user_id`'s reaction with `emoji`; false when there was none.
    pub fn remove_reaction(&mut self, emoji: &str, user_id: &str) -> bool {
        let Some(at) = self.reactions.iter().position(|r| r.emoji == emoji) else {
            return false;
        };
        let reaction = &mut self.reactions[at];
        let before = reaction.user_ids.len();
        reaction.user_ids.retain(|u| u != user_id);
        if reaction.user_ids.len() == before {
            return false;
        }
        reaction.count = reaction.user_ids.len() as u32;
        if reaction.user_ids.is_empty() {
            self.reactions.remove(at);
        }
        true
    }

    /// The message as deleted: it keeps its place (`seq`) but loses its body, files, reactions
    /// and mentions.
    pub fn into_deleted(mut self) -> Message {
        self.deleted = true;
        self.body.clear();
        self.attachments.clear();
        self.reactions.clear();
        self.mentions.clear();
        self.mentions_room = false;
        self
    }
}

/// Whether a file's bytes are in place: `pending` until `complete` has checked the stored
/// object, `ready` after.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum FileStatus {
    Pending,
    Ready,
}

/// `File`: an attachment's metadata. `filename` is only a label (sanitized), never a path.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct File {
    pub id: FileId,
    pub room_id: RoomId,
    pub uploader_id: UserId,
    pub filename: String,
    pub content_type: String,
    pub size: u64,
    pub status: FileStatus,
    pub created_at: Timestamp,
}

impl File {
    /// The file as a message shows it.
    pub fn to_ref(&self) -> FileRef {
        FileRef {
            id: self.id.clone(),
            filename: self.filename.clone(),
            content_type: self.content_type.clone(),
            size: self.size,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reaction_emoji_are_one_emoji_or_a_shortcode() {
        for ok in ["👍", "❤️", "👩🏽‍💻", "🇫🇷", ":thumbsup:", ":+1:", ":a_b-c:"]
        {
            assert!(is_reaction_emoji(ok), "{ok}");
        }
        let long_code = format!(":{}:", "a".repeat(33));
        for bad in [
            "",
            "a",
            "ok",
            "👍 ",
            " 👍",
            "👍a",
            "::",
            ":Thumbs:",
            ":a b:",
            "\u{FE0F}",
            "\u{200D}👍",
            &long_code,
            &"👍".repeat(17),
        ] {
            assert!(!is_reaction_emoji(bad), "{bad:?}");
        }
    }

    fn message() -> Message {
        serde_json::from_value(serde_json::json!({
            "id": "m", "room_id": "r", "seq": 1, "sender_id": "a", "client_id": "c",
            "body": "hi", "attachments": [], "reply_to": null,
            "created_at": "2026-12-01T00:00:00.000Z", "edited_at": null, "deleted": false
        }))
        .expect("a message without reactions reads as one with none")
    }

    #[test]
    fn reactions_count_each_user_once_in_first_use_order() {
        let mut m = message();
        assert!(m.reactions.is_empty());
        assert_eq!(m.add_reaction("👍", "a"), Ok(true));
        assert_eq!(m.add_reaction("🎉", "b"), Ok(true));
        assert_eq!(m.add_reaction("👍", "b"), Ok(true));
        assert_eq!(m.add_reaction("👍", "a"), Ok(false));
        let summary: Vec<_> = m
            .reactions
            .iter()
            .map(|r| (r.emoji.as_str(), r.count, r.user_ids.join(",")))
            .collect();
        assert_eq!(summary, [("👍", 2, "a,b".into()), ("🎉", 1, "b".into())]);
        assert!(m.remove_reaction("🎉", "b"));
        assert!(!m.remove_reaction("🎉", "b"));
        assert!(!m.remove_reaction("👍", "c"));
        assert_eq!(m.reactions.len(), 1);
        assert!(m.into_deleted().reactions.is_empty());
    }

    #[test]
    fn mentioned_names_are_read_like_a_reader_would() {
        assert_eq!(
            mentioned_names("@Bob and @carol.x, thanks @bob. Ask @room!", 10),
            ["bob", "carol.x", "room"]
        );
        assert_eq!(
            mentioned_names("mail bob@example.com or @@bob or a@b", 10),
            Vec::<String>::new()
        );
        assert_eq!(mentioned_names("(@dave) @é @", 10), ["dave"]);
        assert_eq!(mentioned_names("@a @b @c", 2), ["a", "b"]);
    }

    #[test]
    fn at_most_twenty_distinct_emoji() {
        let mut m = message();
        for i in 0..MAX_REACTION_EMOJI {
            assert_eq!(m.add_reaction(&format!(":e{i}:"), "a"), Ok(true));
        }
        assert!(m.add_reaction(":one_more:", "a").is_err());
        assert_eq!(
            m.add_reaction(":e3:", "b"),
            Ok(true),
            "an emoji already there"
        );
    }
}
