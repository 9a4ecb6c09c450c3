//! Messages persisted per second by the db-writer consumer, from a RabbitMQ backlog into
//! MongoDB, for a few batch sizes. Not part of the test run: `scripts/bench writer` starts the
//! test servers, runs this, and writes the report to `db-writer/BENCHMARKS.md`.
//!
//! For each batch size: a fresh queue gets `N` `message.created` events (spread over 10 rooms)
//! before the consumer starts, so the clock measures only consuming and writing; it stops when
//! MongoDB counts all `N`. Reads `CHAT_TEST_AMQP_URL` and `CHAT_TEST_MONGODB_URL`;
//! `CHAT_BENCH_MESSAGES` sets `N` (default 20,000), `CHAT_BENCH_OUT` the report's path (default:
//! print only).

use std::sync::Arc;
use std::time::{Duration, Instant};

use db_writer::{Consumer, ConsumerConfig, Writer};
use futures_util::StreamExt;
use handoff::lapin::{
    Connection, ConnectionProperties, options::QueueDeclareOptions, types::FieldTable,
};
use handoff::{ConsumerQueue, HandOff, RabbitHandOff, Topology};
use models::chat::Message;
use models::events::Event;
use models::time::Timestamp;
use service_kit::config::Secret;
use store::MongoStore;
use tokio_util::sync::CancellationToken;

const BATCH_SIZES: [usize; 4] = [1, 50, 500, 2000];
const ROOMS: u64 = 10;

struct Row {
    batch_max: usize,
    messages: u64,
    seconds: f64,
}

fn env(name: &str) -> String {
    std::env::var(name)
        .unwrap_or_else(|_| panic!("{name} is not set: run this through `scripts/bench writer`"))
}

fn events(n: u64) -> Vec<Event> {
    let rooms: Vec<String> = (0..ROOMS)
        .map(|_| uuid::Uuid::now_v7().to_string())
        .collect();
    (0..n)
        .map(|i| {
            let seq = i / ROOMS + 1;
            Event::MessageCreated {
                message: Message {
                    id: uuid::Uuid::now_v7().to_string(),
                    room_id: rooms[(i % ROOMS) as usize].clone(),
                    seq,
                    sender_id: "user-1".into(),
                    client_id: uuid::Uuid::now_v7().to_string(),
                    body: format!("benchmark message {seq}: a line of chat of ordinary length"),
                    created_at: Timestamp::from_millis(1_767_225_600_000 + i as i64),
                    ..Message::default()
                },
            }
        })
        .collect()
}

async fn count(client: &mongodb::Client, database: &str) -> u64 {
    client
        .database(database)
        .collection::<mongodb::bson::Document>("messages")
        .count_documents(mongodb::bson::doc! {})
        .await
        .expect("count")
}

async fn run_one(amqp: &str, mongodb: &str, batch_max: usize, n: u64) -> Row {
    let name = format!("bench-{}", uuid::Uuid::now_v7().simple());
    let topology = Topology::with_prefix(name.clone());
    let store = MongoStore::connect(mongodb, &name).await.expect("MongoDB");
    let publisher = RabbitHandOff::connect(amqp, topology.clone())
        .await
        .expect("RabbitMQ");
    futures_util::stream::iter(events(n))
        .map(|event| {
            let publisher = &publisher;
            async move { publisher.publish(&event).await.expect("publish") }
        })
        .buffer_unordered(64)
        .collect::<Vec<()>>()
        .await;

    let mut config = ConsumerConfig::new(Secret::new(amqp.to_owned()), topology.clone());
    config.batch_max = batch_max;
    let consumer = Consumer::new(Arc::new(Writer::new(Arc::new(store))), config);
    let shutdown = CancellationToken::new();
    // Watching the broker while the writer works: counting a growing collection on every
    // poll would compete with the writes being measured. MongoDB is counted once the queue is
    // empty, for the last batch in flight.
    let broker = Connection::connect(amqp, ConnectionProperties::default())
        .await
        .expect("RabbitMQ");
    let channel = broker.create_channel().await.expect("channel");
    let queue = topology.queue(ConsumerQueue::DbWriter);
    let client = mongodb::Client::with_uri_str(mongodb)
        .await
        .expect("MongoDB");
    let started = Instant::now();
    let task = tokio::spawn(consumer.run(shutdown.clone()));
    loop {
        let ready = channel
            .queue_declare(
                queue.as_str().into(),
                QueueDeclareOptions {
                    passive: true,
                    ..QueueDeclareOptions::default()
                },
                FieldTable::default(),
            )
            .await
            .expect("passive queue.declare")
            .message_count();
        if ready == 0 {
            break;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    while count(&client, &name).await < n {
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    let seconds = started.elapsed().as_secs_f64();
    shutdown.cancel();
    task.await.expect("consumer");
    let _ = broker.close(200, "OK".into()).await;
    Row {
        batch_max,
        messages: n,
        seconds,
    }
}

#[tokio::main]
async fn main() {
    // `cargo bench` passes `--bench`; nothing else is taken.
    let amqp = env("CHAT_TEST_AMQP_URL");
    let mongodb = env("CHAT_TEST_MONGODB_URL");
    let n: u64 = std::env::var("CHAT_BENCH_MESSAGES")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(20_000);
    let store = std::env::var("CHAT_BENCH_STORE").unwrap_or_else(|_| "MongoDB".into());

    let mut rows = Vec::new();
    for batch_max in BATCH_SIZES {
        // One message per batch is slow; fewer of them tell the same.
        let n = if batch_max == 1 { n.min(2_000) } else { n };
        let row = run_one(&amqp, &mongodb, batch_max, n).await;
        eprintln!(
            "batch_max {:>5}: {} messages in {:.1} s = {:.0} msg/s",
            row.batch_max,
            row.messages,
            row.seconds,
            row.messages as f64 / row.seconds
        );
        rows.push(row);
    }

    let mut report = String::new();
    report.push_str("# db-writer throughput\n\n");
    report.push_str(
        "Messages persisted per second by the db-writer consumer draining a RabbitMQ backlog \
         into MongoDB (unordered bulk inserts, one ack per batch after the write), by the \
         largest batch it takes (`CHAT_WRITER_BATCH_MAX`). Written by `scripts/bench writer`.\n\n",
    );
    report.push_str(&format!(
        "- Machine: {}\n- Store: {store}\n- Broker: RabbitMQ (a node of the run's own, on \
         loopback)\n- Date: {}\n\n",
        testkit::machine(),
        &Timestamp::now().to_rfc3339()[..10]
    ));
    report.push_str("| batch_max | messages | seconds | messages/s |\n|---:|---:|---:|---:|\n");
    for row in &rows {
        report.push_str(&format!(
            "| {} | {} | {:.1} | {:.0} |\n",
            row.batch_max,
            row.messages,
            row.seconds,
            row.messages as f64 / row.seconds
        ));
    }
    print!("{report}");
    if let Ok(path) = std::env::var("CHAT_BENCH_OUT") {
        std::fs::write(&path, &report).expect("write the report");
        eprintln!("wrote {path}");
    }
}
