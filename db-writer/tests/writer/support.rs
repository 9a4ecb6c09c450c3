//! Helpers: the test servers' URLs, unique names, sample events, a consumer in-process, and
//! looks into the store and the queues.

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
use tokio_util::sync::CancellationToken;

pub use testkit::{Proxy, eventually, eventually_every};

fn required(name: &str) -> String {
    service_kit::telemetry::init_for_tests();
    std::env::var(name).unwrap_or_else(|_| {
        panic!(
            "{name} is not set: these tests need the test servers. Run them with \
             `exports=$(CHAT_TEST_SERVERS=\"redis mongodb rabbitmq\" scripts/test-servers start) \
             && eval \"$exports\"` first"
        )
    })
}

pub fn amqp_url() -> String {
    required("CHAT_TEST_AMQP_URL")
}

pub fn mongodb_url() -> String {
    required("CHAT_TEST_MONGODB_URL")
}

pub fn redis_url() -> String {
    required("CHAT_TEST_REDIS_URL")
}

/// A proxy to the test broker, and the AMQP URL that goes through it.
pub async fn amqp_proxy() -> (Proxy, String) {
    Proxy::for_url(&amqp_url()).await
}

/// A proxy to the test MongoDB, and the URL that goes through it.
pub async fn mongodb_proxy() -> (Proxy, String) {
    let (proxy, url) = Proxy::for_url(&mongodb_url()).await;
    // One server behind another address: talk to it directly, no topology discovery.
    let separator = if url.contains('?') { "&" } else { "/?" };
    (proxy, format!("{url}{separator}directConnection=true"))
}

pub fn unique(what: &str) -> String {
    format!("{what}-{}", uuid::Uuid::now_v7().simple())
}

/// One test's world: its own exchanges and queues, its own database, a publisher.
pub struct World {
    pub amqp_url: String,
    pub topology: Topology,
    pub database: String,
    pub store: Arc<dyn ChatStore>,
    pub publisher: Arc<RabbitHandOff>,
}

impl World {
    pub async fn new() -> World {
        World::on(amqp_url()).await
    }

    /// A world on the broker of `amqp_url` (e.g. a private node a test restarts).
    pub async fn on(amqp_url: String) -> World {
        let topology = Topology::with_prefix(unique("dbw"));
        let database = unique("dbw");
        let store = MongoStore::connect(&mongodb_url(), &database)
            .await
            .expect("connect to the test MongoDB");
        let publisher = RabbitHandOff::connect(&amqp_url, topology.clone())
            .await
            .expect("connect the publisher to the test RabbitMQ");
        World {
            amqp_url,
            topology,
            database,
            store: Arc::new(store),
            publisher: Arc::new(publisher),
        }
    }

    /// A channel on a connection of its own (close it after use): the test's looks survive a
    /// broker restart.
    async fn channel(&self) -> (Connection, handoff::lapin::Channel) {
        let connection = Connection::connect(&self.amqp_url, ConnectionProperties::default())
            .await
            .expect("the test connects to RabbitMQ");
        let channel = connection.create_channel().await.expect("channel");
        (connection, channel)
    }

    pub fn config(&self) -> ConsumerConfig {
        let mut config =
            ConsumerConfig::new(Secret::new(self.amqp_url.clone()), self.topology.clone());
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
        let (connection, channel) = self.channel().await;
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
        let _ = connection.close(200, "OK".into()).await;
    }

    /// How many messages wait, ready, in `queue`.
    pub async fn ready_in(&self, queue: &str) -> u32 {
        let (connection, channel) = self.channel().await;
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
        let _ = connection.close(200, "OK".into()).await;
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
        let (connection, channel) = self.channel().await;
        let mut bodies = Vec::new();
        while let Some(got) = channel
            .basic_get(queue.into(), BasicGetOptions { no_ack: true })
            .await
            .expect("basic.get")
        {
            bodies.push(got.delivery.data);
        }
        let _ = connection.close(200, "OK".into()).await;
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
            rev: 0,
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

/// [`publish_all_with`], sending each event again until its publish is confirmed.
pub async fn publish_all_retrying(publisher: &RabbitHandOff, events: Vec<Event>) {
    futures_util::stream::iter(events)
        .map(|event| async move {
            while publisher.publish(&event).await.is_err() {
                tokio::time::sleep(Duration::from_millis(200)).await;
            }
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
        created_at: Timestamp::from_millis(1_767_225_600_000 + seq as i64),
        ..Message::default()
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
