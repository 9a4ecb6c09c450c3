//! Helpers: the test servers' URLs, unique names, sample events, a consumer in-process, and
//! looks into the store and the queues.

use std::future::Future;
use std::sync::Arc;
use std::time::Duration;

use db_writer::{Consumer, ConsumerConfig, Writer};
use futures_util::StreamExt;
use handoff::lapin::{
    BasicProperties, Connection, ConnectionProperties,
    options::{BasicGetOptions, BasicPublishOptions, QueueDeclareOptions},
    types::FieldTable,
};
use handoff::{ConsumerQueue, HandOff, RabbitHandOff, Topology};
use models::chat::{Message, RoomKind};
use models::events::Event;
use models::time::Timestamp;
use service_kit::config::Secret;
use store::{ChatStore, MongoStore, Page, RoomRecord};
use tokio::task::JoinHandle;
use tokio::time::Instant;
use tokio_util::sync::CancellationToken;

fn required(name: &str) -> String {
    service_kit::telemetry::init_for_tests();
    std::env::var(name).unwrap_or_else(|_| {
        panic!(
            "{name} is not set: these tests need the test servers. Run them with \
             `exports=$(CHAT_TEST_SERVERS=\"mongodb rabbitmq\" scripts/test-servers start) && \
             eval \"$exports\"` first"
        )
    })
}

pub fn amqp_url() -> String {
    required("CHAT_TEST_AMQP_URL")
}

pub fn mongodb_url() -> String {
    required("CHAT_TEST_MONGODB_URL")
}

pub fn unique(what: &str) -> String {
    format!("{what}-{}", uuid::Uuid::now_v7().simple())
}

/// One test's world: its own exchanges and queues, its own database, a publisher.
pub struct World {
    pub topology: Topology,
    pub database: String,
    pub store: Arc<dyn ChatStore>,
    pub publisher: Arc<RabbitHandOff>,
    pub broker: Connection,
}

impl World {
    pub async fn new() -> World {
        let topology = Topology::with_prefix(unique("dbw"));
        let database = unique("dbw");
        let store = MongoStore::connect(&mongodb_url(), &database)
            .await
            .expect("connect to the test MongoDB");
        let publisher = RabbitHandOff::connect(&amqp_url(), topology.clone())
            .await
            .expect("connect the publisher to the test RabbitMQ");
        let broker = Connection::connect(&amqp_url(), ConnectionProperties::default())
            .await
            .expect("the test connects to RabbitMQ");
        World {
            topology,
            database,
            store: Arc::new(store),
            publisher: Arc::new(publisher),
            broker,
        }
    }

    pub fn config(&self) -> ConsumerConfig {
        let mut config = ConsumerConfig::new(Secret::new(amqp_url()), self.topology.clone());
        config.lag_interval = Duration::from_millis(500);
        config
    }

    /// A consumer running in-process until the returned handle is stopped.
    pub fn spawn_consumer(&self, config: ConsumerConfig) -> Running {
        self.spawn_consumer_on(self.store.clone(), config)
    }

    /// [`World::spawn_consumer`] writing through another connection to the test's database.
    pub fn spawn_consumer_on(&self, store: Arc<dyn ChatStore>, config: ConsumerConfig) -> Running {
        let consumer = Consumer::new(Arc::new(Writer::new(store)), config);
        let shutdown = CancellationToken::new();
        let task = tokio::spawn(consumer.run(shutdown.clone()));
        Running { shutdown, task }
    }

    /// Publishes every event with confirms, many at once (the publisher's channel pool).
    pub async fn publish_all(&self, events: Vec<Event>) {
        publish_all_with(&self.publisher, events).await;
    }

    /// Publishes raw bytes as if they were an event of `routing_key`.
    pub async fn publish_raw(&self, routing_key: &str, body: &[u8]) {
        let channel = self.broker.create_channel().await.expect("channel");
        channel
            .basic_publish(
                self.topology.exchange().into(),
                routing_key.into(),
                BasicPublishOptions::default(),
                body,
                BasicProperties::default().with_delivery_mode(2),
            )
            .await
            .expect("publish raw")
            .await
            .expect("raw publish sent");
        channel.close(200, "OK".into()).await.expect("close");
    }

    /// How many messages wait, ready, in `queue`.
    pub async fn ready_in(&self, queue: &str) -> u32 {
        let channel = self.broker.create_channel().await.expect("channel");
        let declared = channel
            .queue_declare(
                queue.into(),
                QueueDeclareOptions {
                    passive: true,
                    ..QueueDeclareOptions::default()
                },
                FieldTable::default(),
            )
            .await
            .expect("passive queue.declare");
        let _ = channel.close(200, "OK".into()).await;
        declared.message_count()
    }

    pub fn queue(&self) -> String {
        self.topology.queue(ConsumerQueue::DbWriter)
    }

    pub fn dead_queue(&self) -> String {
        self.topology.dead_queue(ConsumerQueue::DbWriter)
    }

    /// Takes (acks) every message of `queue`, returning their bodies.
    pub async fn drain(&self, queue: &str) -> Vec<Vec<u8>> {
        let channel = self.broker.create_channel().await.expect("channel");
        let mut bodies = Vec::new();
        while let Some(got) = channel
            .basic_get(queue.into(), BasicGetOptions { no_ack: true })
            .await
            .expect("basic.get")
        {
            bodies.push(got.delivery.data);
        }
        let _ = channel.close(200, "OK".into()).await;
        bodies
    }

    /// Every stored message of a room, ascending by seq.
    pub async fn stored(&self, room_id: &str) -> Vec<Message> {
        self.store
            .messages(room_id, Page::After(0), 1_000_000)
            .await
            .expect("read the room's history")
    }

    /// How many messages the test's database holds, all rooms together: a cheap count for
    /// polling while tens of thousands arrive (reading them back would slow the writer down).
    pub async fn count_all(&self) -> u64 {
        let client = mongodb::Client::with_uri_str(mongodb_url())
            .await
            .expect("connect to the test MongoDB");
        client
            .database(&self.database)
            .collection::<mongodb::bson::Document>("messages")
            .count_documents(mongodb::bson::doc! {})
            .await
            .expect("count the stored messages")
    }

    pub async fn stored_count(&self, rooms: &[String]) -> usize {
        let mut total = 0;
        for room in rooms {
            total += self.stored(room).await.len();
        }
        total
    }

    pub async fn create_room(&self, members: &[&str]) -> String {
        let id = unique("room");
        let record = RoomRecord {
            id: id.clone(),
            kind: RoomKind::Group,
            name: "test room".into(),
            created_by: members[0].to_owned(),
            created_at: Timestamp::from_millis(1_767_225_600_000),
            direct_key: None,
            members: members.iter().map(|m| (*m).to_owned()).collect(),
            last_seq: 0,
            last_activity: Timestamp::from_millis(1_767_225_600_000),
        };
        self.store.create_room(&record).await.expect("create room");
        id
    }
}

/// Publishes every event with confirms, many at once (the publisher's channel pool).
pub async fn publish_all_with(publisher: &RabbitHandOff, events: Vec<Event>) {
    futures_util::stream::iter(events)
        .map(|event| async move {
            publisher
                .publish(&event)
                .await
                .unwrap_or_else(|e| panic!("publishing {}: {e}", event.kind()));
        })
        .buffer_unordered(32)
        .collect::<Vec<()>>()
        .await;
}

/// A consumer running in-process.
pub struct Running {
    pub shutdown: CancellationToken,
    pub task: JoinHandle<()>,
}

impl Running {
    /// Graceful shutdown; fails the test if the consumer does not return promptly.
    pub async fn stop(self) {
        self.shutdown.cancel();
        tokio::time::timeout(Duration::from_secs(15), self.task)
            .await
            .expect("the consumer stops within 15 s of shutdown")
            .expect("the consumer task does not panic");
    }
}

/// A message of `room` with `seq`, as the sequencer would have made it.
pub fn message(room_id: &str, seq: u64, body: &str) -> Message {
    Message {
        id: uuid::Uuid::now_v7().to_string(),
        room_id: room_id.to_owned(),
        seq,
        sender_id: "user-1".into(),
        client_id: uuid::Uuid::now_v7().to_string(),
        body: body.into(),
        attachments: Vec::new(),
        reply_to: None,
        created_at: Timestamp::from_millis(1_767_225_600_000 + seq as i64),
        edited_at: None,
        deleted: false,
    }
}

/// `per_room` messages with seqs `1..=per_room` in each of `rooms` new rooms, interleaved.
pub fn messages_in_rooms(rooms: usize, per_room: u64) -> (Vec<String>, Vec<Message>) {
    let ids: Vec<String> = (0..rooms).map(|_| unique("room")).collect();
    let mut all = Vec::new();
    for seq in 1..=per_room {
        for room in &ids {
            all.push(message(room, seq, &format!("message {seq}")));
        }
    }
    (ids, all)
}

pub fn created(messages: &[Message]) -> Vec<Event> {
    messages
        .iter()
        .map(|m| Event::MessageCreated { message: m.clone() })
        .collect()
}

/// Waits until `condition` holds, polling; fails the test with `what` after `timeout`.
pub async fn eventually<F, Fut>(timeout: Duration, what: &str, condition: F)
where
    F: FnMut() -> Fut,
    Fut: Future<Output = bool>,
{
    eventually_every(timeout, Duration::from_millis(50), what, condition).await;
}

/// [`eventually`], polling every `every` (for conditions that are costly to check).
pub async fn eventually_every<F, Fut>(
    timeout: Duration,
    every: Duration,
    what: &str,
    mut condition: F,
) where
    F: FnMut() -> Fut,
    Fut: Future<Output = bool>,
{
    let deadline = Instant::now() + timeout;
    loop {
        if condition().await {
            return;
        }
        assert!(
            Instant::now() < deadline,
            "timed out after {timeout:?}: {what}"
        );
        tokio::time::sleep(every).await;
    }
}

/// Asserts each room holds exactly `expected` (by id), with seqs `1..=n` and no gap.
pub async fn assert_stored_exactly(world: &World, rooms: &[String], expected: &[Message]) {
    for room in rooms {
        let stored = world.stored(room).await;
        let mut want: Vec<&Message> = expected.iter().filter(|m| &m.room_id == room).collect();
        want.sort_by_key(|m| m.seq);
        let seqs: Vec<u64> = stored.iter().map(|m| m.seq).collect();
        let contiguous: Vec<u64> = (1..=want.len() as u64).collect();
        assert_eq!(seqs, contiguous, "room {room}: seqs contiguous, each once");
        for (got, want) in stored.iter().zip(&want) {
            assert_eq!(
                got.id, want.id,
                "room {room} seq {}: the published message",
                got.seq
            );
            assert_eq!(got.body, want.body);
        }
    }
}

/// A TCP proxy in front of a test server whose connections the test can cut, or refuse for a
/// while, as a restart or a network failure would, without disturbing the server other tests
/// share.
pub struct Proxy {
    pub addr: std::net::SocketAddr,
    state: Arc<std::sync::Mutex<ProxyState>>,
    task: JoinHandle<()>,
}

#[derive(Default)]
struct ProxyState {
    /// Cancelled to drop the connections open now.
    cut: CancellationToken,
    /// New connections are closed at once while down.
    down: bool,
}

impl Proxy {
    /// A proxy to the test broker, and the AMQP URL that goes through it.
    pub async fn amqp() -> (Proxy, String) {
        let url = amqp_url();
        let (scheme_auth, rest) = url
            .split_once('@')
            .expect("amqp://user:pass@host:port/vhost");
        let (upstream, vhost) = rest.split_once('/').unwrap_or((rest, ""));
        let proxy = Proxy::start(upstream.to_owned()).await;
        let url = format!("{scheme_auth}@{}/{vhost}", proxy.addr);
        (proxy, url)
    }

    /// A proxy to the test MongoDB, and the URL that goes through it.
    pub async fn mongodb() -> (Proxy, String) {
        let url = mongodb_url();
        let upstream = url
            .strip_prefix("mongodb://")
            .and_then(|rest| rest.split(['/', '?']).next())
            .filter(|host| !host.contains(',') && !host.contains('@'))
            .unwrap_or_else(|| panic!("the proxy needs a plain mongodb://host:port URL: {url}"));
        let proxy = Proxy::start(upstream.to_owned()).await;
        let url = format!("mongodb://{}/?directConnection=true", proxy.addr);
        (proxy, url)
    }

    async fn start(upstream: String) -> Proxy {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
            .await
            .expect("bind the proxy");
        let addr = listener.local_addr().expect("proxy address");
        let state = Arc::new(std::sync::Mutex::new(ProxyState::default()));
        let task = {
            let state = state.clone();
            tokio::spawn(async move {
                while let Ok((mut client, _)) = listener.accept().await {
                    let (token, down) = {
                        let state = state.lock().unwrap();
                        (state.cut.clone(), state.down)
                    };
                    if down {
                        continue;
                    }
                    let upstream = upstream.clone();
                    tokio::spawn(async move {
                        let Ok(mut server) = tokio::net::TcpStream::connect(&upstream).await else {
                            return;
                        };
                        tokio::select! {
                            _ = tokio::io::copy_bidirectional(&mut client, &mut server) => {}
                            _ = token.cancelled() => {}
                        }
                    });
                }
            })
        };
        Proxy { addr, state, task }
    }

    /// Drops every open connection; new ones are accepted again at once.
    pub fn cut(&self) {
        let old = std::mem::take(&mut self.state.lock().unwrap().cut);
        old.cancel();
    }

    /// Drops every open connection and refuses new ones until [`Proxy::up`].
    pub fn down(&self) {
        self.state.lock().unwrap().down = true;
        self.cut();
    }

    pub fn up(&self) {
        self.state.lock().unwrap().down = false;
    }
}

impl Drop for Proxy {
    fn drop(&mut self) {
        self.down();
        self.task.abort();
    }
}
