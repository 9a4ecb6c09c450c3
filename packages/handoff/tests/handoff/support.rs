//! Helpers: sample events, the test broker's URL, and a client of our own to look into queues.

use handoff::{
    ConsumerQueue, Topology,
    lapin::{
        BasicProperties, Channel, Connection, ConnectionProperties,
        options::{BasicGetOptions, ExchangeDeleteOptions, QueueDeleteOptions},
    },
};
use models::{chat::Message, events::Event, time::Timestamp};

/// Logs only with `TEST_LOG=1`.
pub fn init_logs() {
    if std::env::var_os("TEST_LOG").is_some() {
        let _ = tracing_subscriber::fmt()
            .with_env_filter("handoff=debug,lapin=warn")
            .with_test_writer()
            .try_init();
    }
}

/// The test broker; a RabbitMQ test fails (never skips) without one.
pub fn amqp_url() -> String {
    init_logs();
    std::env::var("CHAT_TEST_AMQP_URL").unwrap_or_else(|_| {
        panic!(
            "CHAT_TEST_AMQP_URL is not set: the RabbitMQ tests need the test broker. Run them \
             with scripts/test, or first `exports=$(scripts/test-servers start) && eval \"$exports\"`"
        )
    })
}

/// Names no other test uses, so tests share the broker without seeing each other's events.
pub fn unique_topology() -> Topology {
    Topology::with_prefix(format!("test-{}", uuid::Uuid::now_v7().simple()))
}

pub fn message(body: &str) -> Message {
    Message {
        id: uuid::Uuid::now_v7().to_string(),
        room_id: "room-1".into(),
        seq: 1,
        sender_id: "user-1".into(),
        client_id: uuid::Uuid::now_v7().to_string(),
        body: body.into(),
        created_at: Timestamp::from_millis(1_767_225_600_123),
        ..Message::default()
    }
}

pub fn created(body: &str) -> Event {
    Event::MessageCreated {
        message: message(body),
    }
}

/// One event of every kind, `message.created` first.
pub fn one_of_each_kind() -> Vec<Event> {
    let mut edited = message("edited, with ünïcödé and \"quotes\"");
    edited.edited_at = Some(Timestamp::from_millis(1_767_225_700_000));
    vec![
        created("hello"),
        Event::MessageEdited { message: edited },
        Event::MessageDeleted {
            room_id: "room-1".into(),
            message_id: "m-1".into(),
            seq: 7,
            rev: 3,
        },
        Event::ReadUpdated {
            room_id: "room-1".into(),
            user_id: "user-2".into(),
            seq: 9,
        },
    ]
}

/// A message as the test fetched it from a queue.
pub struct Got {
    pub event: Event,
    pub routing_key: String,
    pub properties: BasicProperties,
    pub delivery_tag: u64,
}

/// The test's own AMQP client, playing the consumers' part.
pub struct Broker {
    pub connection: Connection,
    pub channel: Channel,
}

impl Broker {
    pub async fn connect() -> Broker {
        Broker::connect_to(&amqp_url()).await
    }

    pub async fn connect_to(url: &str) -> Broker {
        let connection = Connection::connect(url, ConnectionProperties::default())
            .await
            .expect("the test connects to RabbitMQ");
        let channel = connection.create_channel().await.expect("open a channel");
        Broker {
            connection,
            channel,
        }
    }

    /// The next message of `queue`, left unacknowledged (ack or reject it by `delivery_tag`).
    pub async fn get(&self, queue: &str) -> Option<Got> {
        let message = self
            .channel
            .basic_get(queue.into(), BasicGetOptions { no_ack: false })
            .await
            .expect("basic.get")?;
        let delivery = message.delivery;
        Some(Got {
            event: serde_json::from_slice(&delivery.data).expect("the body is an Event in JSON"),
            routing_key: delivery.routing_key.to_string(),
            properties: delivery.properties,
            delivery_tag: delivery.delivery_tag,
        })
    }

    /// Takes (acks) everything in `queue`.
    pub async fn drain(&self, queue: &str) -> Vec<Got> {
        let mut all = Vec::new();
        while let Some(got) = self
            .channel
            .basic_get(queue.into(), BasicGetOptions { no_ack: true })
            .await
            .expect("basic.get")
        {
            let delivery = got.delivery;
            all.push(Got {
                event: serde_json::from_slice(&delivery.data)
                    .expect("the body is an Event in JSON"),
                routing_key: delivery.routing_key.to_string(),
                properties: delivery.properties,
                delivery_tag: delivery.delivery_tag,
            });
        }
        all
    }

    pub async fn drain_events(&self, queue: &str) -> Vec<Event> {
        self.drain(queue)
            .await
            .into_iter()
            .map(|g| g.event)
            .collect()
    }

    /// Removes the queues and exchanges of `topology` (the test node is shared).
    pub async fn delete(&self, topology: &Topology) {
        for consumer in ConsumerQueue::ALL {
            for queue in [topology.queue(consumer), topology.dead_queue(consumer)] {
                self.channel
                    .queue_delete(queue.into(), QueueDeleteOptions::default())
                    .await
                    .expect("queue.delete");
            }
        }
        for exchange in [topology.exchange(), topology.dead_exchange()] {
            self.channel
                .exchange_delete(exchange.into(), ExchangeDeleteOptions::default())
                .await
                .expect("exchange.delete");
        }
    }
}
