//! push-service against a push endpoint of our own ([`receiver`]) that verifies every VAPID
//! signature and decrypts every payload. Each case runs twice: on the standalone composition
//! (SQLite, in-process presence and dedupe, the embedded hand-off with the writer in front) as
//! `<case>_standalone`, and on the distributed service (`push_service::run` on MongoDB, Redis
//! and a RabbitMQ queue of its own, events published by the socket nodes' hand-off) as
//! `<case>_rabbitmq`. The servers come from `CHAT_TEST_MONGODB_URL`, `CHAT_TEST_REDIS_URL` and
//! `CHAT_TEST_AMQP_URL` (scripts/test-servers); missing ones fail the tests.
//!
//! - [`receiver`]: the push endpoint.
//! - [`cases`]: what a user would notice, on both compositions.
//! - [`dedupe`]: the conformance of both [`push_service::Dedupe`] implementations.

mod cases;
mod dedupe;
mod receiver;

use std::sync::Arc;
use std::time::Duration;

use handoff::HandOff;
use models::Timestamp;
use models::chat::{Message, Notifications, RoomKind};
use models::events::Event;
use presence::Presence;
use push_service::{Settings, VapidKeys};
use reqwest::StatusCode;
use serde_json::Value;
use service_kit::config::{Backends, Secret};
use store::{AuthStore, ChatStore, PushStore, RoomRecord, UserRecord};
use tokio_util::sync::CancellationToken;

use crate::receiver::{Device, Receiver};

fn env(name: &str) -> String {
    std::env::var(name).unwrap_or_else(|_| {
        panic!("{name} is not set; run scripts/test, which starts the test servers")
    })
}

fn unique() -> String {
    uuid::Uuid::now_v7().simple().to_string()
}

/// Fast retries, and a request timeout far longer than any wait of the tests, so that a push
/// arriving while another endpoint hangs shows the sender did not wait for it.
fn settings() -> Settings {
    Settings {
        subject: "mailto:ops@chat.test".into(),
        ttl: Duration::from_secs(3600),
        max_attempts: 3,
        retry_base: Duration::from_millis(20),
        max_retry_delay: Duration::from_secs(5),
        request_timeout: Duration::from_secs(30),
        concurrency: 16,
        max_pending_per_device: 4,
        stuck_after: Duration::from_secs(1),
        dedupe_ttl: Duration::from_secs(3600),
        allow_http_loopback: true,
    }
}

/// A signed-up user and an access token of theirs.
pub struct User {
    pub id: String,
    pub display_name: String,
    token: String,
}

impl User {
    pub fn token(&self) -> &str {
        &self.token
    }
}

/// A running push service, its store and presence, a way to publish events, and a receiver.
pub struct Harness {
    pub api: String,
    http: reqwest::Client,
    issuer: token::Issuer,
    users: Arc<dyn AuthStore>,
    rooms: Arc<dyn ChatStore>,
    pub subscriptions: Arc<dyn PushStore>,
    presence: Arc<dyn Presence>,
    handoff: Arc<dyn HandOff>,
    pub receiver: Receiver,
    pub keys: VapidKeys,
    /// The RabbitMQ names, on the distributed service only.
    pub topology: Option<handoff::Topology>,
    shutdown: CancellationToken,
    _data_dir: Option<TempDir>,
}

impl Drop for Harness {
    fn drop(&mut self) {
        self.shutdown.cancel();
    }
}

impl Harness {
    /// The standalone composition: one SQLite file, in-process presence, the embedded hand-off
    /// with the writer as its durable consumer and the sender in the background.
    pub async fn standalone() -> Harness {
        let dir = TempDir::new();
        let store = Arc::new(store::SqliteStore::open(dir.0.join("chat.db")).unwrap());
        let jwt = token::KeyPair::generate();
        let verifier = Arc::new(
            token::Verifier::from_public_pem(
                jwt.public_pem(),
                token::DEFAULT_ISSUER,
                token::DEFAULT_AUDIENCE,
            )
            .unwrap(),
        );
        let keys = VapidKeys::load_or_generate(&dir.0.join("keys")).unwrap();
        let presence: Arc<dyn Presence> = Arc::new(presence::LocalPresence::new());
        let push = push_service::embedded(
            store.clone(),
            presence.clone(),
            verifier,
            keys.clone(),
            settings(),
        )
        .unwrap();
        let writer = Arc::new(db_writer::Writer::new(store.clone()));
        let handoff = Arc::new(handoff::EmbeddedHandOff::new(writer, vec![push.sender]));
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let api = format!("http://{}", listener.local_addr().unwrap());
        let shutdown = CancellationToken::new();
        let stop = shutdown.clone();
        tokio::spawn(async move {
            axum::serve(listener, push.router)
                .with_graceful_shutdown(stop.cancelled_owned())
                .await
        });
        Harness {
            api,
            http: reqwest::Client::new(),
            issuer: issuer(&jwt),
            users: store.clone(),
            rooms: store.clone(),
            subscriptions: store,
            presence,
            handoff,
            receiver: Receiver::start(keys.public_key()).await,
            keys,
            topology: None,
            shutdown,
            _data_dir: Some(dir),
        }
    }

    /// The distributed service, as its binary runs it, on a database, Redis prefix and
    /// RabbitMQ names of its own; events go through the socket nodes' RabbitMQ hand-off.
    pub async fn rabbitmq() -> Harness {
        let id = unique();
        let (keys, pem) = VapidKeys::generate().unwrap();
        let jwt = token::KeyPair::generate();
        let backends = Backends {
            mongodb_url: Secret::new(env("CHAT_TEST_MONGODB_URL")),
            mongodb_database: format!("push_test_{id}"),
            redis_url: Secret::new(env("CHAT_TEST_REDIS_URL")),
            redis_prefix: format!("push-test:{id}:"),
            amqp_url: Secret::new(env("CHAT_TEST_AMQP_URL")),
            amqp_prefix: format!("push-test-{id}"),
        };
        let topology = handoff::Topology::with_prefix(backends.amqp_prefix.clone());
        let config = push_service::Config {
            listen: "127.0.0.1:0".parse().unwrap(),
            backends: backends.clone(),
            tokens: service_kit::config::TokenConfig::of_public_key(jwt.public_pem()),
            vapid_private_key: Secret::new(pem),
            settings: settings(),
            consumer: push_service::ConsumerConfig::new(
                backends.amqp_url.clone(),
                topology.clone(),
            ),
        };
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let api = format!("http://{}", listener.local_addr().unwrap());
        let shutdown = CancellationToken::new();
        tokio::spawn(push_service::run(config, listener, shutdown.clone()));

        let store = Arc::new(
            store::MongoStore::connect(backends.mongodb_url.expose(), &backends.mongodb_database)
                .await
                .unwrap(),
        );
        let redis = service_kit::redis::connect(backends.redis_url.expose())
            .await
            .unwrap();
        // The socket nodes' view of presence: users connected there are online for the sender.
        let presence: Arc<dyn Presence> = Arc::new(
            presence::RedisPresence::start(
                redis,
                backends.redis_prefix.clone(),
                format!("socket-{id}"),
                presence::RedisPresenceConfig::default(),
                shutdown.clone(),
            )
            .await
            .unwrap(),
        );
        let handoff = Arc::new(
            handoff::RabbitHandOff::connect(backends.amqp_url.expose(), topology.clone())
                .await
                .unwrap(),
        );
        let harness = Harness {
            api,
            http: reqwest::Client::new(),
            issuer: issuer(&jwt),
            users: store.clone(),
            rooms: store.clone(),
            subscriptions: store,
            presence,
            handoff,
            receiver: Receiver::start(keys.public_key()).await,
            keys,
            topology: Some(topology),
            shutdown,
            _data_dir: None,
        };
        harness.wait_ready().await;
        harness
    }

    /// Until `/readyz` says the consumer is consuming (at most 15 s).
    async fn wait_ready(&self) {
        let deadline = std::time::Instant::now() + Duration::from_secs(15);
        loop {
            let ready = self
                .http
                .get(format!("{}/readyz", self.api))
                .send()
                .await
                .is_ok_and(|r| r.status() == StatusCode::OK);
            if ready {
                return;
            }
            assert!(
                std::time::Instant::now() < deadline,
                "push-service not ready"
            );
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
    }

    pub async fn user(&self, name: &str) -> User {
        let id = unique();
        let record = UserRecord {
            id: id.clone(),
            username: format!("{name}{}", &id[id.len() - 8..]),
            display_name: format!("{name} Example"),
            password_hash: "$argon2id$v=19$m=19456,t=2,p=1$c2FsdA$aGFzaA".into(),
            created_at: Timestamp::now(),
        };
        self.users.create_user(&record).await.unwrap();
        User {
            token: self.issuer.issue(&id, &record.username),
            id,
            display_name: record.display_name,
        }
    }

    pub async fn room(&self, members: &[&User]) -> RoomRecord {
        let now = Timestamp::now();
        let room = RoomRecord {
            id: uuid::Uuid::now_v7().to_string(),
            kind: RoomKind::Group,
            name: "group".into(),
            created_by: members[0].id.clone(),
            created_at: now,
            direct_key: None,
            members: members.iter().map(|u| u.id.clone()).collect(),
            last_seq: 0,
            last_activity: now,
            rev: 0,
        };
        self.rooms.create_room(&room).await.unwrap();
        room
    }

    /// The user has a socket connected.
    pub async fn online(&self, user: &User) {
        self.presence
            .connected(&user.id, &format!("socket-{}", unique()))
            .await
            .unwrap();
    }

    /// `POST /api/push/subscriptions` as `user`; the status and the body.
    pub async fn subscribe_with(&self, user: &User, body: &Value) -> (StatusCode, Value) {
        let response = self
            .http
            .post(format!("{}/api/push/subscriptions", self.api))
            .bearer_auth(&user.token)
            .json(body)
            .send()
            .await
            .unwrap();
        let status = response.status();
        (status, response.json().await.unwrap_or(Value::Null))
    }

    /// Subscribes `device` for `user`, which must succeed.
    pub async fn subscribe(&self, user: &User, device: &Device) {
        let (status, body) = self.subscribe_with(user, &device.subscription()).await;
        assert_eq!(status, StatusCode::CREATED, "{body}");
    }

    /// Sets `user`'s notification setting for the room, as `PUT /api/rooms/{id}/notifications`
    /// does.
    pub async fn notifications(&self, room: &RoomRecord, user: &User, setting: Notifications) {
        self.rooms
            .set_notifications(&room.id, &user.id, &setting)
            .await
            .unwrap();
    }

    /// Publishes a new message as a socket node does once it is sequenced.
    pub async fn send(&self, room: &RoomRecord, sender: &User, seq: u64, body: &str) -> Event {
        self.send_with(room, sender, seq, body, |_| {}).await
    }

    /// [`Harness::send`], the message changed by `shape` first (mentions, a reply).
    pub async fn send_with(
        &self,
        room: &RoomRecord,
        sender: &User,
        seq: u64,
        body: &str,
        shape: impl FnOnce(&mut Message),
    ) -> Event {
        let mut event = Event::MessageCreated {
            message: Message {
                id: uuid::Uuid::now_v7().to_string(),
                room_id: room.id.clone(),
                seq,
                sender_id: sender.id.clone(),
                client_id: unique(),
                body: body.into(),
                created_at: Timestamp::now(),
                ..Message::default()
            },
        };
        if let Event::MessageCreated { message } = &mut event {
            shape(message);
        }
        self.publish(&event).await;
        event
    }

    /// `/metrics` of the distributed service.
    pub async fn metrics(&self) -> String {
        self.http
            .get(format!("{}/metrics", self.api))
            .send()
            .await
            .unwrap()
            .text()
            .await
            .unwrap()
    }

    /// Waits up to 10 s for an event in the push-service dead-letter queue and takes it.
    pub async fn dead_letter(&self) -> Option<Event> {
        use handoff::lapin::options::BasicGetOptions;
        let topology = self.topology.as_ref().expect("the distributed service");
        let connection = handoff::lapin::Connection::connect(
            &env("CHAT_TEST_AMQP_URL"),
            handoff::lapin::ConnectionProperties::default(),
        )
        .await
        .unwrap();
        let channel = connection.create_channel().await.unwrap();
        let queue = topology.dead_queue(handoff::ConsumerQueue::PushService);
        let deadline = std::time::Instant::now() + Duration::from_secs(10);
        while std::time::Instant::now() < deadline {
            let got = channel
                .basic_get(queue.clone().into(), BasicGetOptions { no_ack: true })
                .await
                .unwrap();
            if let Some(message) = got {
                return Some(serde_json::from_slice(&message.delivery.data).unwrap());
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
        None
    }

    pub async fn publish(&self, event: &Event) {
        self.handoff.publish(event).await.unwrap();
    }
}

fn issuer(jwt: &token::KeyPair) -> token::Issuer {
    token::Issuer::new(
        jwt,
        token::DEFAULT_ISSUER,
        token::DEFAULT_AUDIENCE,
        Duration::from_secs(600),
    )
}

/// A fresh directory under the system temp dir, removed on drop.
pub struct TempDir(std::path::PathBuf);

impl TempDir {
    fn new() -> Self {
        let path = std::env::temp_dir().join(format!("push-test-{}", unique()));
        std::fs::create_dir_all(&path).unwrap();
        TempDir(path)
    }
}

impl Drop for TempDir {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}
