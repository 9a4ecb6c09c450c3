//! The sender: for each new message, a web push to every device of every room member who is
//! offline, except the sender.
//!
//! - **Who.** The room's members minus the sender, minus whoever presence says has a socket
//!   anywhere, minus those whose notification setting for the room does not want the message
//!   (`none`; `all` while muted; `mentions` unless it mentions them or the room or answers one
//!   of their messages), then their subscriptions.
//! - **What.** The JSON of docs/protocol.md (`type`, `room_id`, `message_id`, `seq`, `sender_name`,
//!   `preview` of at most [`PREVIEW_CHARS`] characters, `mention`), encrypted per RFC 8291 (`aes128gcm`)
//!   for the device, with an RFC 8292 VAPID `Authorization`, a `TTL`, and a `Topic` per room,
//!   so a device that is offline for a while gets the latest message of each room rather than
//!   a pile of them.
//! - **Outcomes.** 2xx: sent. 404/410: the subscription is gone, so it is deleted. 429, 5xx, a
//!   timeout or a connection failure: tried again after a backoff that doubles from
//!   [`Settings::retry_base`] (or after the push service's `Retry-After`), up to
//!   [`Settings::max_attempts`]; then the device is *dead-lettered* for this event. Any other
//!   answer (400, 401, 403, 413) will not change by trying again: counted as failed.
//! - **Isolation.** Devices are sent to concurrently, each request bounded by
//!   [`Settings::request_timeout`], so one slow or failing push service never delays the others.
//!   Across events too: a device has at most [`Settings::max_pending_per_device`] pushes under
//!   way; a further one waits for one of them to finish, but gives up (is dead-lettered) once the
//!   oldest has been under way for [`Settings::stuck_after`], and none starts while the device
//!   backs off after a failure. So a device whose push service hangs holds a few of the
//!   consumer's events, never all of them, while a burst of messages goes on to everyone else.
//! - **Newest first.** A push for a device that backs off is kept (in memory), the newest per
//!   room replacing an older one as its `Topic` would, and sent as soon as the push that backs
//!   off gets through; if that one is given up, the kept ones are too.
//! - **Once per device.** Each (message, endpoint) pair is claimed in the [`Dedupe`] store
//!   before its first attempt; a redelivered event finds the claim and skips that device. A
//!   dead-lettered device's claim is released, so a replayed dead letter reaches just it.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use async_trait::async_trait;
use futures_util::StreamExt;
use models::Timestamp;
use models::chat::Message;
use models::events::Event;
use presence::Presence;
use reqwest::StatusCode;
use reqwest::header::{CONTENT_ENCODING, CONTENT_TYPE, HeaderMap, RETRY_AFTER};
use serde::Serialize;
use sha2::{Digest, Sha256};
use store::{AuthStore, ChatStore, PushStore, PushSubscription};
use web_push::{ContentEncoding, SubscriptionInfo, WebPushMessageBuilder};

use crate::{Dedupe, Error, Result, VapidKeys};

/// The longest `preview`, in characters.
pub const PREVIEW_CHARS: usize = 120;

/// How the sender sends. [`Settings::default`] is production's.
#[derive(Debug, Clone)]
pub struct Settings {
    /// `sub` of the VAPID JWT: how a push service reaches the operator (`mailto:` or
    /// `https:`).
    pub subject: String,
    /// `TTL` of each push: how long a push service keeps it for a device that is offline.
    pub ttl: Duration,
    /// Attempts per device and event, the first included.
    pub max_attempts: u32,
    /// The first retry's delay; each further one doubles it.
    pub retry_base: Duration,
    /// The longest wait before a retry. A `Retry-After` asking for longer dead-letters the
    /// device at once rather than sending before the push service allows it.
    pub max_retry_delay: Duration,
    /// The longest one request to a push service may take.
    pub request_timeout: Duration,
    /// Devices sent to at once for one event.
    pub concurrency: usize,
    /// Pushes to one device under way at once, across events; a further one waits.
    pub max_pending_per_device: usize,
    /// How long the oldest push under way to a device may take before further pushes to it
    /// stop waiting and are dead-lettered.
    pub stuck_after: Duration,
    /// How long a (message, device) claim is kept: longer than any redelivery may come late.
    pub dedupe_ttl: Duration,
    /// Let the API accept `http://` endpoints on loopback addresses (tests, local
    /// development); every other endpoint must be `https://`.
    pub allow_http_loopback: bool,
}

impl Default for Settings {
    fn default() -> Self {
        Settings {
            subject: "mailto:postmaster@localhost".into(),
            ttl: Duration::from_secs(24 * 3600),
            max_attempts: 4,
            retry_base: Duration::from_millis(500),
            max_retry_delay: Duration::from_secs(30),
            request_timeout: Duration::from_secs(10),
            concurrency: 64,
            max_pending_per_device: 4,
            stuck_after: Duration::from_secs(2),
            dedupe_ttl: Duration::from_secs(24 * 3600),
            allow_http_loopback: false,
        }
    }
}

/// What the sender reads and writes.
#[derive(Clone)]
pub struct Deps {
    pub rooms: Arc<dyn ChatStore>,
    pub users: Arc<dyn AuthStore>,
    pub subscriptions: Arc<dyn PushStore>,
    pub presence: Arc<dyn Presence>,
    pub dedupe: Arc<dyn Dedupe>,
}

/// What became of one event's pushes.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Report {
    pub sent: usize,
    /// Devices pushed to for this event before (a redelivery).
    pub duplicates: usize,
    /// Subscriptions deleted because their push service said they are gone.
    pub removed: usize,
    /// Refused for good by the push service.
    pub failed: usize,
    /// Still failing after every attempt: the event should be dead-lettered.
    pub dead: usize,
    /// Kept for a device that backs off, sent when it takes pushes again (the newest per room).
    pub parked: usize,
}

/// One device's outcome.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Outcome {
    Sent,
    Duplicate,
    Removed,
    Failed,
    Dead,
    /// Kept until the device's backoff ends.
    Parked,
}

/// The decrypted payload of docs/protocol.md.
#[derive(Debug, Serialize)]
struct Payload<'a> {
    #[serde(rename = "type")]
    kind: &'static str,
    room_id: &'a str,
    message_id: &'a str,
    seq: u64,
    sender_name: &'a str,
    preview: String,
    /// Whether the message mentions the device's user (by name, or the room).
    mention: bool,
}

pub struct Sender {
    deps: Deps,
    keys: VapidKeys,
    settings: Settings,
    http: reqwest::Client,
    /// The devices with pushes under way or backing off, by endpoint.
    devices: Arc<Mutex<HashMap<String, DeviceState>>>,
}

#[derive(Default)]
struct DeviceState {
    /// The pushes under way: an id each, and when it started.
    pending: Vec<(u64, Instant)>,
    next_id: u64,
    /// No new push starts before this: the device's push service failed and is backed off.
    backing_off_until: Option<Instant>,
    /// What arrived while it backs off: the newest push per room (`Topic`), sent by the push
    /// that backs off once its push service takes pushes again.
    parked: HashMap<String, Parked>,
}

/// A push kept while its device backs off.
struct Parked {
    device: PushSubscription,
    claim: String,
    payload: Arc<[u8]>,
    topic: String,
}

/// Why a push to a device cannot start now.
enum Busy {
    /// Its push service asked us to wait.
    BackingOff,
    /// Its pushes under way have hung for too long.
    Stuck,
}

/// One push under way to a device; taken off the list when dropped.
struct Pending {
    devices: Arc<Mutex<HashMap<String, DeviceState>>>,
    endpoint: String,
    id: u64,
}

impl Pending {
    fn back_off(&self, until: Option<Instant>) {
        let mut devices = self.devices.lock().unwrap_or_else(|e| e.into_inner());
        if let Some(state) = devices.get_mut(&self.endpoint) {
            state.backing_off_until = until;
        }
    }
}

impl Drop for Pending {
    fn drop(&mut self) {
        let mut devices = self.devices.lock().unwrap_or_else(|e| e.into_inner());
        if let Some(state) = devices.get_mut(&self.endpoint) {
            state.pending.retain(|(id, _)| *id != self.id);
            let backing_off = state.backing_off_until.is_some_and(|t| t > Instant::now());
            if state.pending.is_empty() && !backing_off {
                devices.remove(&self.endpoint);
            }
        }
    }
}

impl Sender {
    pub fn new(deps: Deps, keys: VapidKeys, settings: Settings) -> Result<Self> {
        let http = reqwest::Client::builder()
            .connect_timeout(settings.request_timeout)
            // A push service answers; it never redirects a push elsewhere.
            .redirect(reqwest::redirect::Policy::none())
            .build()
            .map_err(|e| Error::Internal(format!("HTTP client: {e}")))?;
        Ok(Sender {
            deps,
            keys,
            settings,
            http,
            devices: Arc::default(),
        })
    }

    /// Pushes `event` if it is a new message; other events need no push.
    pub async fn deliver(&self, event: &Event) -> Result<Report> {
        match event {
            Event::MessageCreated { message } => self.deliver_message(message).await,
            _ => Ok(Report::default()),
        }
    }

    async fn deliver_message(&self, message: &Message) -> Result<Report> {
        let Some(members) = self.deps.rooms.room_members(&message.room_id).await? else {
            return Ok(Report::default());
        };
        let others: Vec<String> = members
            .into_iter()
            .filter(|m| *m != message.sender_id)
            .collect();
        if others.is_empty() {
            return Ok(Report::default());
        }
        let online = self.deps.presence.online(&others).await?;
        let offline: Vec<String> = others
            .into_iter()
            .zip(online)
            .filter_map(|(user, online)| (!online).then_some(user))
            .collect();
        if offline.is_empty() {
            return Ok(Report::default());
        }
        // Each one's setting for the room: all (unless muted), mentions only, or none.
        let settings = self
            .deps
            .rooms
            .notifications_of(&message.room_id, &offline)
            .await?;
        // Whose messages it answers: the one it replies to, and its thread's root.
        let root_sender = match &message.thread_id {
            Some(root_id) if !settings.is_empty() => self
                .deps
                .rooms
                .message(&message.room_id, root_id)
                .await?
                .map(|root| root.sender_id),
            _ => None,
        };
        let answered: Vec<&str> = message
            .reply_preview
            .iter()
            .map(|p| p.sender_id.as_str())
            .chain(root_sender.as_deref())
            .collect();
        let now = Timestamp::now();
        let wanting: Vec<String> = offline
            .into_iter()
            .filter(|user| {
                settings
                    .get(user)
                    .copied()
                    .unwrap_or_default()
                    .wants(message, user, &answered, now)
            })
            .collect();
        if wanting.is_empty() {
            return Ok(Report::default());
        }
        let devices = self.deps.subscriptions.subscriptions_of(&wanting).await?;
        if devices.is_empty() {
            return Ok(Report::default());
        }

        let sender_name = match self.deps.users.user_by_id(&message.sender_id).await? {
            Some(user) if !user.display_name.is_empty() => user.display_name,
            Some(user) => user.username,
            None => message.sender_id.clone(),
        };
        // Two payloads: for those the message mentions, and for the others.
        let [plain, mentioning] = [false, true].map(|mention| {
            serde_json::to_vec(&Payload {
                kind: "message",
                room_id: &message.room_id,
                message_id: &message.id,
                seq: message.seq,
                sender_name: &sender_name,
                preview: preview(message),
                mention,
            })
            .map(Arc::<[u8]>::from)
            .map_err(|e| Error::Internal(format!("encoding the payload: {e}")))
        });
        let (plain, mentioning) = (plain?, mentioning?);
        let topic = topic(&message.room_id);

        // Owned arguments: futures borrowing the list's items would not be `Send` here.
        let pushes = devices.into_iter().map(|device| {
            let payload = if message.mentions_of(&device.user_id) {
                mentioning.clone()
            } else {
                plain.clone()
            };
            let (message_id, topic) = (message.id.clone(), topic.clone());
            async move { self.push(&device, &message_id, &payload, &topic).await }
        });
        let outcomes: Vec<Outcome> = futures_util::stream::iter(pushes)
            .buffer_unordered(self.settings.concurrency.max(1))
            .collect()
            .await;
        let mut report = Report::default();
        for outcome in outcomes {
            let count = match outcome {
                Outcome::Sent => &mut report.sent,
                Outcome::Duplicate => &mut report.duplicates,
                Outcome::Removed => &mut report.removed,
                Outcome::Failed => &mut report.failed,
                Outcome::Dead => &mut report.dead,
                Outcome::Parked => &mut report.parked,
            };
            *count += 1;
        }
        Ok(report)
    }

    /// One device: claim, then attempts until an answer that settles it.
    async fn push(
        &self,
        device: &PushSubscription,
        message_id: &str,
        payload: &Arc<[u8]>,
        topic: &str,
    ) -> Outcome {
        let claim = format!("{message_id}:{}", hex_prefix(&device.endpoint, 16));
        match self
            .deps
            .dedupe
            .claim(&claim, self.settings.dedupe_ttl)
            .await
        {
            Ok(true) => {}
            Ok(false) => {
                metrics::counter!("chat_push_duplicates_skipped_total").increment(1);
                return Outcome::Duplicate;
            }
            Err(e) => {
                // Without a claim a redelivery could push twice; dead-letter instead, so the
                // event comes back once the dedupe store answers.
                tracing::warn!(error = %e, "cannot claim the push; dead-lettering the device");
                metrics::counter!("chat_push_dead_lettered_total").increment(1);
                return Outcome::Dead;
            }
        }
        let host = host_of(&device.endpoint);
        let pending = match self.start(&device.endpoint).await {
            Ok(pending) => pending,
            Err(Busy::BackingOff) => {
                // The newest message is the one its user needs: kept (replacing an older one of
                // the same room) and sent when the push service takes pushes again.
                tracing::debug!(%host, "device backing off; push kept for later");
                let parked = Parked {
                    device: device.clone(),
                    claim,
                    payload: payload.clone(),
                    topic: topic.to_owned(),
                };
                let replaced = self
                    .devices
                    .lock()
                    .unwrap_or_else(|e| e.into_inner())
                    .get_mut(&device.endpoint)
                    .and_then(|state| state.parked.insert(topic.to_owned(), parked));
                if let Some(older) = replaced {
                    metrics::counter!("chat_push_superseded_total").increment(1);
                    if let Err(e) = self.deps.dedupe.release(&older.claim).await {
                        tracing::warn!(error = %e, "could not release the push claim");
                    }
                }
                return Outcome::Parked;
            }
            Err(Busy::Stuck) => {
                tracing::debug!(%host, "device stuck");
                return self.dead_letter(&claim, &host, 0).await;
            }
        };
        let mut attempt = 1;
        loop {
            let answer = self.attempt(device, payload, topic).await;
            let retry_after = match answer {
                Ok((status, _)) if status.is_success() => {
                    pending.back_off(None);
                    metrics::counter!("chat_push_sent_total").increment(1);
                    self.send_parked(&device.endpoint).await;
                    return Outcome::Sent;
                }
                Ok((StatusCode::NOT_FOUND | StatusCode::GONE, _)) => {
                    return self.remove(device, &host).await;
                }
                Ok((status, headers))
                    if status == StatusCode::TOO_MANY_REQUESTS || status.is_server_error() =>
                {
                    tracing::debug!(%host, %status, attempt, "push service asks to retry");
                    retry_after(&headers)
                }
                Ok((status, _)) => {
                    tracing::warn!(%host, %status, "push refused");
                    metrics::counter!("chat_push_failed_total", "reason" => "refused").increment(1);
                    return Outcome::Failed;
                }
                Err(Attempt::Unusable(reason)) => {
                    tracing::warn!(%host, %reason, "cannot build the push for this subscription");
                    metrics::counter!("chat_push_failed_total", "reason" => "unusable")
                        .increment(1);
                    return Outcome::Failed;
                }
                Err(Attempt::Transport(reason)) => {
                    tracing::debug!(%host, %reason, attempt, "push request failed");
                    None
                }
            };
            let backoff = self
                .settings
                .retry_base
                .saturating_mul(1 << (attempt - 1).min(20));
            let delay = retry_after.unwrap_or(backoff.min(self.settings.max_retry_delay));
            if attempt >= self.settings.max_attempts || delay > self.settings.max_retry_delay {
                // What waited for this device goes the same way.
                for parked in self.take_parked(&device.endpoint) {
                    self.dead_letter(&parked.claim, &host, 0).await;
                }
                return self.dead_letter(&claim, &host, attempt).await;
            }
            metrics::counter!("chat_push_retries_total").increment(1);
            pending.back_off(Some(Instant::now() + delay));
            tokio::time::sleep(delay).await;
            attempt += 1;
        }
    }

    /// The pushes kept for `endpoint` while it backed off.
    fn take_parked(&self, endpoint: &str) -> Vec<Parked> {
        let mut devices = self.devices.lock().unwrap_or_else(|e| e.into_inner());
        devices
            .get_mut(endpoint)
            .map(|state| state.parked.drain().map(|(_, p)| p).collect())
            .unwrap_or_default()
    }

    /// Sends what was kept for the device while it backed off, once its push service took a
    /// push again: one attempt each (a failure backs it off again, and keeps them once more).
    async fn send_parked(&self, endpoint: &str) {
        let parked = self.take_parked(endpoint);
        for Parked {
            device,
            claim,
            payload,
            topic,
        } in parked
        {
            let host = host_of(endpoint);
            match self.attempt(&device, &payload, &topic).await {
                Ok((status, _)) if status.is_success() => {
                    metrics::counter!("chat_push_sent_total").increment(1);
                }
                Ok((status, _)) => {
                    tracing::debug!(%host, %status, "a kept push was refused");
                    self.dead_letter(&claim, &host, 1).await;
                }
                Err(_) => {
                    self.dead_letter(&claim, &host, 1).await;
                }
            }
        }
    }

    /// Counts a push to `endpoint` as under way once the device has fewer than
    /// [`Settings::max_pending_per_device`]; refuses while it backs off or is stuck.
    async fn start(&self, endpoint: &str) -> std::result::Result<Pending, Busy> {
        loop {
            {
                let mut devices = self.devices.lock().unwrap_or_else(|e| e.into_inner());
                let state = devices.entry(endpoint.to_owned()).or_default();
                let now = Instant::now();
                if state.backing_off_until.is_some_and(|t| t > now) {
                    return Err(Busy::BackingOff);
                }
                if state.pending.len() < self.settings.max_pending_per_device.max(1) {
                    let id = state.next_id;
                    state.next_id += 1;
                    state.pending.push((id, now));
                    return Ok(Pending {
                        devices: self.devices.clone(),
                        endpoint: endpoint.to_owned(),
                        id,
                    });
                }
                let oldest = state.pending.iter().map(|(_, t)| *t).min();
                if oldest.is_some_and(|t| now - t >= self.settings.stuck_after) {
                    return Err(Busy::Stuck);
                }
            }
            // Busy devices answer within milliseconds; a stuck one is given up above.
            tokio::time::sleep(Duration::from_millis(5)).await;
        }
    }

    /// One request; `Ok` with whatever status the push service answered.
    async fn attempt(
        &self,
        device: &PushSubscription,
        payload: &[u8],
        topic: &str,
    ) -> Result<(StatusCode, HeaderMap), Attempt> {
        let info = SubscriptionInfo::new(
            device.endpoint.as_str(),
            device.p256dh.as_str(),
            device.auth.as_str(),
        );
        let mut vapid = self.keys.signer().add_sub_info(&info);
        vapid.add_claim("sub", self.settings.subject.as_str());
        // `aud` is the endpoint's origin (RFC 8292 §2), port included when it is not the
        // scheme's default; the library's own `aud` leaves the port out.
        let origin = reqwest::Url::parse(&device.endpoint)
            .map_err(|e| Attempt::Unusable(format!("endpoint: {e}")))?
            .origin()
            .ascii_serialization();
        vapid.add_claim("aud", origin);
        let vapid = vapid
            .build()
            .map_err(|e| Attempt::Unusable(format!("VAPID signature: {e}")))?;
        let ttl = u32::try_from(self.settings.ttl.as_secs()).unwrap_or(u32::MAX);
        let mut builder = WebPushMessageBuilder::new(&info);
        builder.set_ttl(ttl);
        builder.set_topic(topic.to_owned());
        builder.set_vapid_signature(vapid);
        builder.set_payload(ContentEncoding::Aes128Gcm, payload);
        let message = builder
            .build()
            .map_err(|e| Attempt::Unusable(format!("encryption: {e}")))?;
        let body = message
            .payload
            .ok_or_else(|| Attempt::Unusable("no payload".into()))?;

        let mut request = self
            .http
            .post(&device.endpoint)
            .timeout(self.settings.request_timeout)
            .header("TTL", ttl)
            .header("Topic", topic)
            .header(CONTENT_ENCODING, body.content_encoding.to_str())
            .header(CONTENT_TYPE, "application/octet-stream");
        // `Authorization: vapid t=..., k=...`.
        for (name, value) in body.crypto_headers {
            request = request.header(name, value);
        }
        let response = request
            .body(body.content)
            .send()
            .await
            .map_err(|e| Attempt::Transport(e.without_url().to_string()))?;
        Ok((response.status(), response.headers().clone()))
    }

    async fn remove(&self, device: &PushSubscription, host: &str) -> Outcome {
        match self
            .deps
            .subscriptions
            .remove_subscription(&device.endpoint)
            .await
        {
            Ok(_) => {
                tracing::info!(%host, user_id = %device.user_id, "subscription gone; deleted");
                metrics::counter!("chat_push_subscriptions_removed_total").increment(1);
                Outcome::Removed
            }
            Err(e) => {
                tracing::warn!(error = %e, %host, "could not delete a gone subscription");
                metrics::counter!("chat_push_failed_total", "reason" => "gone_not_deleted")
                    .increment(1);
                Outcome::Failed
            }
        }
    }

    /// Gives the device up for this event after `attempts` (none when it was busy or backing
    /// off) and releases the claim, so the dead letter's replay may reach it.
    async fn dead_letter(&self, claim: &str, host: &str, attempts: u32) -> Outcome {
        if attempts > 0 {
            tracing::warn!(%host, attempts, "push still failing; dead-lettering it");
        }
        metrics::counter!("chat_push_dead_lettered_total").increment(1);
        if let Err(e) = self.deps.dedupe.release(claim).await {
            tracing::warn!(error = %e, "could not release the push claim");
        }
        Outcome::Dead
    }
}

/// Why an attempt got no status.
enum Attempt {
    /// The subscription's keys or endpoint cannot make a push; trying again will not help.
    Unusable(String),
    /// Timeout, refused connection, TLS failure: worth another try.
    Transport(String),
}

/// The standalone server runs the sender as a background consumer of its in-process hand-off.
#[async_trait]
impl handoff::Consumer for Sender {
    async fn handle(&self, events: &[Event]) -> Result<(), String> {
        for event in events {
            let report = self.deliver(event).await.map_err(|e| e.to_string())?;
            if report.dead > 0 {
                tracing::warn!(
                    room_id = %event.room_id(), devices = report.dead,
                    "pushes dead-lettered (the embedded hand-off keeps no dead-letter queue)"
                );
            }
        }
        Ok(())
    }
}

/// The message's body cut to [`PREVIEW_CHARS`] characters (an ellipsis marks a cut), or the
/// first attachment's name for a message without text.
fn preview(message: &Message) -> String {
    let text = message.body.trim();
    let text = if text.is_empty() {
        message
            .attachments
            .first()
            .map(|f| f.filename.as_str())
            .unwrap_or_default()
    } else {
        text
    };
    if text.chars().count() <= PREVIEW_CHARS {
        return text.to_owned();
    }
    let mut cut: String = text.chars().take(PREVIEW_CHARS - 1).collect();
    cut.push('…');
    cut
}

/// The `Topic` of a room's pushes: at most 32 base64url characters, so a hash (hex) of the id.
fn topic(room_id: &str) -> String {
    hex_prefix(room_id, 16)
}

/// Hex of the first `bytes` bytes of SHA-256 of `text`.
fn hex_prefix(text: &str, bytes: usize) -> String {
    Sha256::digest(text.as_bytes())
        .iter()
        .take(bytes)
        .map(|b| format!("{b:02x}"))
        .collect()
}

/// The endpoint's host, for logs: the path is a device's capability and stays out of them.
fn host_of(endpoint: &str) -> String {
    reqwest::Url::parse(endpoint)
        .ok()
        .and_then(|u| u.host_str().map(str::to_owned))
        .unwrap_or_default()
}

/// `Retry-After` in seconds (the form push services use); an HTTP date is not read.
fn retry_after(headers: &HeaderMap) -> Option<Duration> {
    let seconds: u64 = headers
        .get(RETRY_AFTER)?
        .to_str()
        .ok()?
        .trim()
        .parse()
        .ok()?;
    Some(Duration::from_secs(seconds))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn message(body: &str) -> Message {
        Message {
            id: "m".into(),
            room_id: "r".into(),
            seq: 1,
            sender_id: "s".into(),
            client_id: "c".into(),
            body: body.into(),
            created_at: models::Timestamp::from_millis(0),
            ..Message::default()
        }
    }

    #[test]
    fn previews_are_at_most_120_characters() {
        assert_eq!(preview(&message("  hi  ")), "hi");
        let long = "é".repeat(300);
        let cut = preview(&message(&long));
        assert_eq!(cut.chars().count(), PREVIEW_CHARS);
        assert!(cut.ends_with('…'));
        let exact = "x".repeat(PREVIEW_CHARS);
        assert_eq!(preview(&message(&exact)), exact);
    }

    #[test]
    fn topics_fit_the_header_rules() {
        let t = topic("0192f0c4-7a3e-7cc1-9a2b-6f7e8d9c0b1a");
        assert_eq!(t.len(), 32);
        assert!(t.chars().all(|c| c.is_ascii_alphanumeric()));
        assert_ne!(t, topic("another room"));
    }
}
