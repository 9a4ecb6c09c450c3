//! [`RedisSequencer`]: the distributed sequencer. Every node runs the same Lua script, so a
//! room's numbering, its dedupe entries and its recent log change in one atomic step whichever
//! node accepted the message.
//!
//! Keys of one room (all carry the Redis Cluster hash tag `{room_id}`, so the script's keys
//! share a slot and rooms spread over the cluster; a `{` in the prefix would become the tag
//! instead and put every room in one slot):
//!
//! - `{prefix}seq:{room_id}:counter`: the last assigned `seq` (a string integer, no TTL).
//! - `{prefix}seq:{room_id}:log`: the recent log, a sorted set scored by `seq` whose members
//!   are the messages' JSON with `seq: 0` (the score is the truth), capped to the newest
//!   [`RedisSequencerConfig::log_cap`] entries.
//! - `{prefix}seq:{room_id}:dedupe:{sender_id}:{client_id}`: the `seq` a (sender, client id)
//!   pair got, expiring after [`RedisSequencerConfig::dedupe_ttl`]; `{seq}:p` once the message
//!   was handed off (a retry does not hand it off again), `{seq}:f` when its hand-off failed.
//! - `{prefix}seq:{room_id}:reconciled`: the `seq` up to which the [`crate::Reconciler`] has
//!   made sure the store holds the room's log.
//! - `{prefix}seq:{room_id}:rev`: the last assigned change `rev` (no TTL).
//! - `{prefix}seq:{room_id}:changes`: the recent changes, a sorted set of message ids scored by
//!   the `rev` of each one's latest change, capped like the log.
//! - `{prefix}seq:{room_id}:changed`: a hash from those message ids to `{rev}:{ms}:{json}`, the
//!   message's state after that change and when it was made (Unix ms).
//! - `{prefix}seq:{room_id}:reconciled_rev`: the `rev` up to which the reconciler has made sure
//!   the store holds the room's recent changes.
//!
//! And one key for all rooms, written before each message's script on the same connection (so
//! a message that got a `seq` always has its room listed), outside the scripts:
//!
//! - `{prefix}seq:active`: a sorted set of room ids scored by their last sequencing time in
//!   Unix milliseconds; the reconciler's list of rooms to look at.
//! - `{prefix}seq:reconciler`: the lease of the one reconciler working now.

use std::collections::HashSet;
use std::sync::{Arc, Mutex, PoisonError};
use std::time::Duration;

use async_trait::async_trait;
use fred::prelude::{Client, HashesInterface, KeysInterface, SortedSetsInterface};
use fred::types::Value;
use fred::types::scripts::Script;
use fred::types::sorted_sets::{ZRange, ZRangeBound, ZRangeKind};
use models::chat::Message;
use store::{ChangeOutcome, ChatStore, MessageChange, NewMessage, Page};

use crate::epoch::{Drain, Epoch};
use crate::{Error, HandOffState, Result, Sequenced, Sequencer};

/// One `sequence` call.
///
/// KEYS: counter, dedupe entry, log. ARGV: floor (`''` when the caller has not read the store),
/// the message JSON, the dedupe TTL in milliseconds, the log cap.
///
/// Replies `{0, seq, json, handed_off}` for a retry (`json` empty when the original was trimmed
/// out of the log; `handed_off` 1 once [`Sequencer::record_hand_off`] recorded success), `{1, seq}` for a
/// new message, and `{2}` when no floor was
/// given and the counter is missing: Redis lost the room (restart without persistence, or a
/// first message ever), so the caller must read the store's `last_seq` and call again with it.
const SEQUENCE_LUA: &str = r#"
local seen = redis.call('GET', KEYS[2])
if seen then
  local seq = tonumber(string.match(seen, '^(%d+)'))
  local handed_off = 0
  if string.find(seen, ':p', 1, true) then handed_off = 1 end
  local original = redis.call('ZRANGEBYSCORE', KEYS[3], seq, seq)
  return {0, seq, original[1] or '', handed_off}
end
local floor = 0
if ARGV[1] == '' then
  if redis.call('EXISTS', KEYS[1]) == 0 then return {2} end
else
  floor = tonumber(ARGV[1])
end
local seq = redis.call('INCR', KEYS[1])
if seq <= floor then
  seq = floor + 1
  redis.call('SET', KEYS[1], seq)
end
redis.call('ZADD', KEYS[3], seq, ARGV[2])
redis.call('ZREMRANGEBYRANK', KEYS[3], 0, -(tonumber(ARGV[4]) + 1))
redis.call('SET', KEYS[2], seq, 'PX', ARGV[3])
return {1, seq}
"#;

/// One `change` call.
///
/// KEYS: rev counter, changes, changed. ARGV: floor (`''` when the caller has not read the
/// store), the message id, its new state as JSON, the `rev` the change was made from, the cap,
/// now (Unix ms).
///
/// Replies `{1, rev}` when applied, `{2}` when the counter is missing and no floor was given
/// (as [`SEQUENCE_LUA`]), `{3}` when the message is deleted, `{4}` when it changed after the
/// caller's `rev`.
const CHANGE_LUA: &str = r#"
local current = redis.call('ZSCORE', KEYS[2], ARGV[2])
if current then
  local prev = redis.call('HGET', KEYS[3], ARGV[2])
  if prev then
    local rest = string.sub(prev, string.find(prev, ':', 1, true) + 1)
    local state = cjson.decode(string.sub(rest, string.find(rest, ':', 1, true) + 1))
    if state.deleted then return {3} end
  end
  if tonumber(current) ~= tonumber(ARGV[4]) then return {4} end
end
local floor = 0
if ARGV[1] == '' then
  if redis.call('EXISTS', KEYS[1]) == 0 then return {2} end
else
  floor = tonumber(ARGV[1])
end
local rev = redis.call('INCR', KEYS[1])
if rev <= floor then
  rev = floor + 1
  redis.call('SET', KEYS[1], rev)
end
redis.call('ZADD', KEYS[2], rev, ARGV[2])
redis.call('HSET', KEYS[3], ARGV[2], rev .. ':' .. ARGV[6] .. ':' .. ARGV[3])
local excess = redis.call('ZCARD', KEYS[2]) - tonumber(ARGV[5])
if excess > 0 then
  local oldest = redis.call('ZRANGE', KEYS[2], 0, excess - 1)
  redis.call('ZREMRANGEBYRANK', KEYS[2], 0, excess - 1)
  redis.call('HDEL', KEYS[3], unpack(oldest))
end
return {1, rev}
"#;

/// Change script reply status: the change got its `rev`.
const APPLIED: i64 = 1;
/// Change script reply status: the message is deleted.
const GONE: i64 = 3;
/// Change script reply status: the message changed after the caller read it.
const STALE: i64 = 4;

/// Script reply status: a retry, answered with the original.
const RETRY: i64 = 0;
/// Script reply status: a new message got the `seq`.
const FRESH: i64 = 1;
/// Script reply status: the counter is missing; call again with the store's `last_seq`.
const NEEDS_FLOOR: i64 = 2;

/// Tuning of [`RedisSequencer`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RedisSequencerConfig {
    /// How many of a room's newest messages the recent log keeps (at least 1). It must cover
    /// what the writer may lag behind, or history reads show a hole until the writer catches up.
    pub log_cap: usize,
    /// How long a (sender, client id) pair is remembered in Redis. A retry within it gets the
    /// original back; the store's unique index still catches later ones.
    pub dedupe_ttl: Duration,
}

/// How old a time-stamped `client_id` (a UUIDv7, as the web app makes them) may be for a send
/// to skip the store look-up: see [`RedisSequencer::recognizes_retry_of`].
pub const RECENT_CLIENT_ID: Duration = Duration::from_secs(3600);

/// How far ahead of ours a client's clock may claim to be before its ids count as not recent.
const CLIENT_CLOCK_AHEAD: Duration = Duration::from_secs(60);

/// Whether `client_id` is a UUIDv7 made at most [`RECENT_CLIENT_ID`] before `now` (Unix time),
/// with a dedupe window long enough to leave client clocks at least as much room again.
fn recent_client_id(client_id: &str, dedupe_ttl: Duration, now: Duration) -> bool {
    if dedupe_ttl < 2 * RECENT_CLIENT_ID {
        return false;
    }
    let Some(made) = client_id_time(client_id) else {
        return false;
    };
    made <= now + CLIENT_CLOCK_AHEAD && now.saturating_sub(made) <= RECENT_CLIENT_ID
}

/// When a UUIDv7 `client_id` was made (Unix time, by the client's clock).
fn client_id_time(client_id: &str) -> Option<Duration> {
    let made = uuid::Uuid::try_parse(client_id)
        .ok()
        .filter(|id| id.get_version_num() == 7)
        .and_then(|id| id.get_timestamp())?;
    let (secs, nanos) = made.to_unix();
    Some(Duration::new(secs, nanos))
}

impl Default for RedisSequencerConfig {
    /// 5000 messages per room, dedupe for 24 hours.
    fn default() -> Self {
        RedisSequencerConfig {
            log_cap: 5000,
            dedupe_ttl: Duration::from_secs(24 * 3600),
        }
    }
}

/// The sequencer shared by every socket node: one Lua script per message on Redis.
///
/// The store is the floor under Redis: a room's counter never restarts below the `last_seq`
/// the store already holds, so a Redis that lost its data cannot hand out a `seq` twice for
/// what is already persisted.
pub struct RedisSequencer {
    client: Client,
    prefix: String,
    store: Arc<dyn ChatStore>,
    config: RedisSequencerConfig,
    script: Script,
    change_script: Script,
    /// Rooms this process has already sequenced into with the store's floor. The first message
    /// of a room per process always passes the floor, which also repairs a counter that Redis
    /// kept but restored from an older snapshot; afterwards the script asks for the floor
    /// only when the counter is missing.
    seeded: Mutex<HashSet<String>>,
    /// Whether the floors of the store may be trusted (see [`crate::epoch`]).
    epoch: Epoch,
}

impl RedisSequencer {
    /// A sequencer on `client` (see `service_kit::redis::connect`), with every key under
    /// `prefix` (which keeps deployments and tests apart; best without `{`, see the module
    /// docs). `store` is read for a room's floor and for originals that the recent log no
    /// longer holds.
    pub fn new(
        client: Client,
        prefix: impl Into<String>,
        store: Arc<dyn ChatStore>,
        config: RedisSequencerConfig,
    ) -> Self {
        let prefix = prefix.into();
        let prefix_for_epoch = prefix.clone();
        RedisSequencer {
            client,
            prefix,
            store,
            config: RedisSequencerConfig {
                log_cap: config.log_cap.max(1),
                ..config
            },
            script: Script::from_lua(SEQUENCE_LUA),
            change_script: Script::from_lua(CHANGE_LUA),
            seeded: Mutex::new(HashSet::new()),
            epoch: Epoch::new(&prefix_for_epoch, None),
        }
    }

    /// Drains the writer with `drain` before numbering resumes after Redis lost its data
    /// (see [`crate::epoch`]). Without one, the store's floors are trusted as they are.
    pub fn with_drain(mut self, drain: Arc<dyn Drain>) -> Self {
        self.epoch = Epoch::new(&self.prefix, Some(drain));
        self
    }

    /// Whether the script's dedupe alone answers any retry of `client_id`, so that a send
    /// need not look it up in the store first. True for a `client_id` that is a UUIDv7 made within the last [`RECENT_CLIENT_ID`] by the
    /// sender's clock (and not more than a minute ahead of ours). Its first send cannot have
    /// been more than that hour plus the client's clock error ago, so any send of it lands
    /// within the dedupe window and the script's dedupe entry answers a retry, as long as
    /// client clocks run less than `dedupe_ttl` − 1 h (23 h by default) ahead. Other ids may be
    /// retries of messages the window has forgotten: the caller asks the store first.
    pub fn recognizes_retry_of(&self, client_id: &str) -> bool {
        let now = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .unwrap_or_default();
        // Dedupe entries older than the epoch were lost with Redis' data.
        let Some(epoch) = self.epoch.made_at() else {
            return false;
        };
        let epoch = Duration::from_millis(u64::try_from(epoch).unwrap_or(0));
        recent_client_id(client_id, self.config.dedupe_ttl, now)
            && client_id_time(client_id).is_some_and(|made| made >= epoch)
    }

    fn room_key(&self, room_id: &str, what: &str) -> String {
        room_key(&self.prefix, room_id, what)
    }

    fn is_seeded(&self, room_id: &str) -> bool {
        self.seeded
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .contains(room_id)
    }

    fn mark_seeded(&self, room_id: &str) {
        self.seeded
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .insert(room_id.to_owned());
    }

    /// The room's `last_seq` in the store: what the counter must stay above.
    async fn floor(&self, room_id: &str) -> Result<u64> {
        Ok(self.stored_room(room_id).await?.last_seq)
    }

    /// The room as stored, once the store's counters may be trusted as floors.
    async fn stored_room(&self, room_id: &str) -> Result<store::RoomRecord> {
        self.epoch.verify(&self.client).await?;
        match self.store.room(room_id).await {
            Ok(Some(room)) => Ok(room),
            Ok(None) => Err(Error::Unavailable(format!(
                "sequencing into unknown room {room_id}"
            ))),
            Err(e) => Err(Error::Unavailable(format!(
                "reading the floor of room {room_id}: {e}"
            ))),
        }
    }

    async fn run(&self, keys: &[String; 3], floor: Option<u64>, json: &str) -> Result<Vec<Value>> {
        let args = vec![
            floor.map(|f| f.to_string()).unwrap_or_default(),
            json.to_owned(),
            self.config.dedupe_ttl.as_millis().max(1).to_string(),
            self.config.log_cap.to_string(),
        ];
        self.script
            .evalsha_with_reload(&self.client, keys.to_vec(), args)
            .await
            .map_err(unavailable)
    }

    fn dedupe_key(&self, message: &Message) -> String {
        self.room_key(
            &message.room_id,
            &format!("dedupe:{}:{}", message.sender_id, message.client_id),
        )
    }

    /// Lists the room among those the reconciler looks at, as active now.
    async fn list_active(&self, room_id: &str) -> Result<i64> {
        let now = models::time::Timestamp::now().millis() as f64;
        self.client
            .zadd::<i64, _, _>(
                active_key(&self.prefix),
                None,
                None,
                false,
                false,
                (now, room_id),
            )
            .await
            .map_err(unavailable)
    }

    /// The message this sender already sent with this client id, if the store has it.
    async fn stored_retry(&self, message: &NewMessage) -> Result<Option<Message>> {
        self.store
            .message_by_client_id(&message.room_id, &message.sender_id, &message.client_id)
            .await
            .map_err(|e| Error::Unavailable(format!("reading an original from the store: {e}")))
    }

    /// The original of a retry whose log entry was trimmed: the writer must have stored it.
    async fn stored_original(&self, message: &NewMessage, seq: u64) -> Result<Message> {
        let stored = self
            .store
            .message_by_client_id(&message.room_id, &message.sender_id, &message.client_id)
            .await
            .map_err(|e| Error::Unavailable(format!("reading an original from the store: {e}")))?;
        stored.ok_or_else(|| {
            Error::Unavailable(format!(
                "the original of client id {:?} in room {} (seq {seq}) is neither in the recent \
                 log nor stored yet",
                message.client_id, message.room_id
            ))
        })
    }
}

#[async_trait]
impl Sequencer for RedisSequencer {
    async fn sequence(&self, message: NewMessage) -> Result<Sequenced> {
        // A retry the dedupe window may have forgotten, or that Redis lost, is answered from
        // the store, where the writer keeps every original.
        if !self.recognizes_retry_of(&message.client_id)
            && let Some(original) = self.stored_retry(&message).await?
        {
            return Ok(Sequenced {
                message: original,
                fresh: false,
                handed_off: true,
            });
        }
        let room_id = message.room_id.clone();
        let keys = [
            self.room_key(&room_id, "counter"),
            self.room_key(
                &room_id,
                &format!("dedupe:{}:{}", message.sender_id, message.client_id),
            ),
            self.room_key(&room_id, "log"),
        ];
        // Serialized here, not by cjson in the script, which would turn `[]` into `{}`.
        let json = serde_json::to_string(&message.clone().into_message(0))
            .map_err(|e| Error::Unavailable(format!("encoding a message: {e}")))?;

        // Listed before the script runs, in the same round trip: a connection's commands run
        // in the order they were sent, so no room holds a `seq` the reconciler cannot find.
        let listed = self.list_active(&room_id);
        let epoch = async {
            if self.epoch.is_stale() {
                self.epoch.refresh(&self.client).await?;
            }
            Ok::<_, Error>(())
        };
        let sequenced = async {
            let mut floor = None;
            if !self.is_seeded(&room_id) {
                floor = Some(self.floor(&room_id).await?);
            }
            let mut reply = self.run(&keys, floor, &json).await?;
            if status(&reply)? == NEEDS_FLOOR {
                // Redis has no counter for the room: new to it, or lost with its data, and
                // the dedupe entries with it. A retry of a message the writer stored is
                // answered from the store.
                floor = Some(self.floor(&room_id).await?);
                if let Some(original) = self.stored_retry(&message).await? {
                    return Ok(Err(original));
                }
                reply = self.run(&keys, floor, &json).await?;
            }
            if floor.is_some() {
                self.mark_seeded(&room_id);
            }
            Ok::<_, Error>(Ok(reply))
        };
        let (_, (), reply) = tokio::try_join!(listed, epoch, sequenced)?;
        let reply = match reply {
            Ok(reply) => reply,
            Err(original) => {
                return Ok(Sequenced {
                    message: original,
                    fresh: false,
                    handed_off: true,
                });
            }
        };

        let seq = reply_seq(&reply)?;
        match status(&reply)? {
            FRESH => Ok(Sequenced {
                message: message.into_message(seq),
                fresh: true,
                handed_off: false,
            }),
            RETRY => {
                let original = match reply.get(2).and_then(Value::as_str) {
                    Some(json) if !json.is_empty() => decode(&json, seq)?,
                    _ => self.stored_original(&message, seq).await?,
                };
                let handed_off = reply.get(3).and_then(Value::as_i64) == Some(1);
                Ok(Sequenced {
                    message: original,
                    fresh: false,
                    handed_off,
                })
            }
            other => Err(Error::Unavailable(format!(
                "unexpected sequencer script status {other}"
            ))),
        }
    }

    async fn hand_off_state(&self, message: &Message) -> Result<HandOffState> {
        let value: Option<String> = self
            .client
            .get(self.dedupe_key(message))
            .await
            .map_err(unavailable)?;
        Ok(match value {
            Some(v) if v.ends_with(":p") => HandOffState::Done,
            Some(v) if v.ends_with(":f") => HandOffState::Failed,
            _ => HandOffState::Pending,
        })
    }

    async fn record_hand_off(&self, message: &Message, outcome: HandOffState) -> Result<()> {
        let mark = match outcome {
            HandOffState::Done => "p",
            HandOffState::Failed => "f",
            HandOffState::Pending => return Ok(()),
        };
        self.client
            .set::<(), _, _>(
                self.dedupe_key(message),
                format!("{}:{mark}", message.seq),
                Some(fred::types::Expiration::KEEPTTL),
                Some(fred::types::SetOptions::XX),
                false,
            )
            .await
            .map_err(unavailable)
    }

    async fn recent(&self, room_id: &str, page: Page, limit: usize) -> Result<Vec<Message>> {
        if limit == 0 {
            return Ok(Vec::new());
        }
        let key = self.room_key(room_id, "log");
        let limit = Some((0, i64::try_from(limit).unwrap_or(i64::MAX)));
        let entries: Vec<(String, f64)> = match page {
            Page::After(after) => self
                .client
                .zrangebyscore(key, exclusive(after), inf(), true, limit)
                .await
                .map_err(unavailable)?,
            Page::Before(before) => {
                let max = before.map_or_else(inf, exclusive);
                let mut newest: Vec<(String, f64)> = self
                    .client
                    .zrevrangebyscore(key, max, neg_inf(), true, limit)
                    .await
                    .map_err(unavailable)?;
                newest.reverse();
                newest
            }
        };
        entries
            .iter()
            .map(|(json, score)| decode(json, *score as u64))
            .collect()
    }

    async fn last_seq(&self, room_id: &str) -> Result<Option<u64>> {
        self.client
            .get(self.room_key(room_id, "counter"))
            .await
            .map_err(unavailable)
    }

    async fn change(&self, change: MessageChange) -> Result<ChangeOutcome> {
        let room_id = change.message.room_id.clone();
        let keys = vec![
            self.room_key(&room_id, "rev"),
            self.room_key(&room_id, "changes"),
            self.room_key(&room_id, "changed"),
        ];
        let json = serde_json::to_string(&change.message)
            .map_err(|e| Error::Unavailable(format!("encoding a message: {e}")))?;
        let run = |floor: Option<u64>| {
            let args = vec![
                floor.map(|f| f.to_string()).unwrap_or_default(),
                change.message.id.clone(),
                json.clone(),
                change.base_rev.to_string(),
                self.config.log_cap.to_string(),
                models::time::Timestamp::now().millis().to_string(),
            ];
            let keys = keys.clone();
            async move {
                self.change_script
                    .evalsha_with_reload::<Vec<Value>, _, _>(&self.client, keys, args)
                    .await
                    .map_err(unavailable)
            }
        };
        let changed = async {
            let mut reply = run(None).await?;
            if status(&reply)? == NEEDS_FLOOR {
                // Redis lost the room's counter: it starts again above what the store holds.
                let floor = self.stored_room(&room_id).await?.rev;
                reply = run(Some(floor)).await?;
            }
            Ok::<_, Error>(reply)
        };
        // Listed like a sequenced message's room, for the reconciler.
        let (_, reply) = tokio::try_join!(self.list_active(&room_id), changed)?;
        match status(&reply)? {
            APPLIED => {
                let mut message = change.message;
                message.rev = reply_seq(&reply)?;
                Ok(ChangeOutcome::Applied(Box::new(message)))
            }
            GONE => Ok(ChangeOutcome::Gone),
            STALE => Ok(ChangeOutcome::Stale),
            other => Err(Error::Unavailable(format!(
                "unexpected change script status {other}"
            ))),
        }
    }

    async fn current(&self, room_id: &str, messages: &mut [Message]) -> Result<()> {
        if messages.is_empty() {
            return Ok(());
        }
        let ids: Vec<&str> = messages.iter().map(|m| m.id.as_str()).collect();
        let states: Vec<Option<String>> = self
            .client
            .hmget(self.room_key(room_id, "changed"), ids)
            .await
            .map_err(unavailable)?;
        for (message, state) in messages.iter_mut().zip(states) {
            if let Some(state) = state {
                let newer = decode_change(&state)?;
                if newer.rev > message.rev {
                    *message = newer;
                }
            }
        }
        Ok(())
    }

    async fn changed(
        &self,
        room_id: &str,
        after_rev: u64,
        max_seq: u64,
        limit: usize,
    ) -> Result<Vec<Message>> {
        const BATCH: i64 = 200;
        let changes = self.room_key(room_id, "changes");
        let changed = self.room_key(room_id, "changed");
        let mut out = Vec::new();
        let mut after = after_rev;
        while out.len() < limit {
            let ids: Vec<String> = self
                .client
                .zrangebyscore(&changes, exclusive(after), inf(), false, Some((0, BATCH)))
                .await
                .map_err(unavailable)?;
            if ids.is_empty() {
                break;
            }
            let full = ids.len() as i64 == BATCH;
            let states: Vec<Option<String>> = self
                .client
                .hmget(&changed, ids)
                .await
                .map_err(unavailable)?;
            // An entry trimmed between the two reads is skipped: the writer stored it.
            for state in states.into_iter().flatten() {
                let message = decode_change(&state)?;
                after = after.max(message.rev);
                if message.seq <= max_seq && out.len() < limit {
                    out.push(message);
                }
            }
            if !full {
                break;
            }
        }
        out.sort_by_key(|m| m.rev);
        Ok(out)
    }

    async fn last_rev(&self, room_id: &str) -> Result<Option<u64>> {
        self.client
            .get(self.room_key(room_id, "rev"))
            .await
            .map_err(unavailable)
    }
}

/// A `changed` hash value, `{rev}:{ms}:{json}`, as the message with that `rev`.
pub(crate) fn decode_change(state: &str) -> Result<Message> {
    Ok(decode_timed_change(state)?.0)
}

/// A `changed` hash value as the message with its `rev`, and when the change was made (Unix ms).
pub(crate) fn decode_timed_change(state: &str) -> Result<(Message, i64)> {
    let malformed = || Error::Unavailable(format!("malformed change entry {state:?}"));
    let (rev, rest) = state.split_once(':').ok_or_else(malformed)?;
    let (at, json) = rest.split_once(':').ok_or_else(malformed)?;
    let mut message: Message = serde_json::from_str(json)
        .map_err(|e| Error::Unavailable(format!("decoding a change entry: {e}")))?;
    message.rev = rev.parse().map_err(|_| malformed())?;
    let at = at.parse().map_err(|_| malformed())?;
    Ok((message, at))
}

pub(crate) fn room_key(prefix: &str, room_id: &str, what: &str) -> String {
    format!("{prefix}seq:{{{room_id}}}:{what}")
}

pub(crate) fn active_key(prefix: &str) -> String {
    format!("{prefix}seq:active")
}

pub(crate) fn unavailable(e: fred::error::Error) -> Error {
    Error::Unavailable(format!("redis: {e}"))
}

/// A log entry with its real `seq`.
pub(crate) fn decode(json: &str, seq: u64) -> Result<Message> {
    let mut message: Message = serde_json::from_str(json)
        .map_err(|e| Error::Unavailable(format!("decoding a recent-log entry: {e}")))?;
    message.seq = seq;
    Ok(message)
}

fn status(reply: &[Value]) -> Result<i64> {
    reply
        .first()
        .and_then(Value::as_i64)
        .ok_or_else(|| Error::Unavailable(format!("malformed sequencer reply {reply:?}")))
}

fn reply_seq(reply: &[Value]) -> Result<u64> {
    reply
        .get(1)
        .and_then(Value::as_u64)
        .ok_or_else(|| Error::Unavailable(format!("malformed sequencer reply {reply:?}")))
}

/// Scores above (or below) `seq`, not `seq` itself.
pub(crate) fn exclusive(seq: u64) -> ZRange {
    ZRange {
        kind: ZRangeKind::Exclusive,
        range: ZRangeBound::Index(i64::try_from(seq).unwrap_or(i64::MAX)),
    }
}

pub(crate) fn inf() -> ZRange {
    ZRange {
        kind: ZRangeKind::Inclusive,
        range: ZRangeBound::InfiniteScore,
    }
}

fn neg_inf() -> ZRange {
    ZRange {
        kind: ZRangeKind::Inclusive,
        range: ZRangeBound::NegInfiniteScore,
    }
}

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use super::recent_client_id;

    const DAY: Duration = Duration::from_secs(24 * 3600);
    /// 2026-12-01T00:00:00Z.
    const NOW: Duration = Duration::from_secs(1_795_996_800);

    fn v7_at(at: Duration) -> String {
        let ts = uuid::Timestamp::from_unix(uuid::NoContext, at.as_secs(), at.subsec_nanos());
        uuid::Uuid::new_v7(ts).hyphenated().to_string()
    }

    #[test]
    fn only_recent_uuid_v7_ids_skip_the_store() {
        let minute = Duration::from_secs(60);
        assert!(recent_client_id(&v7_at(NOW), DAY, NOW));
        assert!(recent_client_id(&v7_at(NOW - 59 * minute), DAY, NOW));
        // The simple (unhyphenated) form is the same id.
        let simple = uuid::Uuid::parse_str(&v7_at(NOW))
            .unwrap()
            .simple()
            .to_string();
        assert!(recent_client_id(&simple, DAY, NOW));

        // Too old: its first send may lie beyond what the dedupe window remembers.
        assert!(!recent_client_id(&v7_at(NOW - 61 * minute), DAY, NOW));
        // From a clock too far ahead of ours.
        assert!(!recent_client_id(&v7_at(NOW + 2 * minute), DAY, NOW));
        // Ids without a time, or that are not UUIDs at all.
        assert!(!recent_client_id(
            "9b2e6f4a-1c3d-4e5f-8a7b-6c5d4e3f2a1b",
            DAY,
            NOW
        ));
        assert!(!recent_client_id("m-1", DAY, NOW));
        assert!(!recent_client_id("", DAY, NOW));
        // A window too short to leave room for clocks: the store is always asked.
        assert!(!recent_client_id(
            &v7_at(NOW),
            Duration::from_secs(3600),
            NOW
        ));
    }
}
