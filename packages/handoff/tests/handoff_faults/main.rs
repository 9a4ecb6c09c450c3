//! Broker outages against the RabbitMQ hand-off. This binary starts a RabbitMQ node of its own
//! ([`testkit::PrivateServers`]) and stops it at the end, because it takes the broker away: the
//! node other tests share must not blink.

use std::time::{Duration, Instant};

use handoff::{
    ConsumerQueue, Error, HandOff, RabbitHandOff, RabbitOptions, Topology,
    lapin::{Connection, ConnectionProperties, options::BasicGetOptions},
};
use models::{chat::Message, events::Event, time::Timestamp};
use testkit::PrivateServers;

fn event(body: &str) -> Event {
    Event::MessageCreated {
        message: Message {
            id: uuid::Uuid::now_v7().to_string(),
            room_id: "room-1".into(),
            seq: 1,
            sender_id: "user-1".into(),
            client_id: uuid::Uuid::now_v7().to_string(),
            body: body.into(),
            created_at: Timestamp::from_millis(1_767_225_600_000),
            ..Message::default()
        },
    }
}

const TIMEOUT: Duration = Duration::from_secs(2);
/// Scheduling slack on top of the publish timeout (2 shared cores, a broker starting).
const SLACK: Duration = Duration::from_millis(1500);

/// Publishes while the broker is unusable: every publish must fail, and within the timeout.
async fn assert_fails_within_timeout(handoff: &RabbitHandOff, what: &str) {
    for i in 0..3 {
        let started = Instant::now();
        let result = handoff.publish(&event(&format!("{what} {i}"))).await;
        let took = started.elapsed();
        eprintln!("{what}: publish {i} -> {result:?} in {took:?}");
        assert!(
            matches!(result, Err(Error::Unavailable(_))),
            "{what}: publish {i} must fail, got {result:?}"
        );
        assert!(took <= TIMEOUT + SLACK, "{what}: publish {i} took {took:?}");
    }
}

/// Publishes until one succeeds (same `RabbitHandOff`, no restart); returns how long it took.
async fn publish_until_it_succeeds(handoff: &RabbitHandOff, event: &Event) -> Duration {
    let started = Instant::now();
    loop {
        let attempt = Instant::now();
        let result = handoff.publish(event).await;
        assert!(attempt.elapsed() <= TIMEOUT + SLACK, "a publish hung");
        match result {
            Ok(()) => return started.elapsed(),
            Err(e) => {
                assert!(
                    started.elapsed() < Duration::from_secs(60),
                    "still failing after 60 s: {e}"
                );
                tokio::time::sleep(Duration::from_millis(200)).await;
            }
        }
    }
}

/// What the db-writer queue holds, in order.
async fn db_writer_events(url: &str, topology: &Topology) -> Vec<Event> {
    let connection = Connection::connect(url, ConnectionProperties::default())
        .await
        .expect("connect");
    let channel = connection.create_channel().await.expect("channel");
    let mut events = Vec::new();
    while let Some(got) = channel
        .basic_get(
            topology.queue(ConsumerQueue::DbWriter).into(),
            BasicGetOptions { no_ack: true },
        )
        .await
        .expect("basic.get")
    {
        events.push(serde_json::from_slice(&got.delivery.data).expect("an Event"));
    }
    events
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn publishing_fails_fast_during_outages_and_recovers_without_a_restart() {
    if std::env::var_os("TEST_LOG").is_some() {
        let _ = tracing_subscriber::fmt()
            .with_env_filter("handoff=debug,lapin=warn")
            .with_test_writer()
            .try_init();
    }
    let mut node = PrivateServers::start("rabbitmq").await;
    let topology = Topology::with_prefix("faults");
    let options = RabbitOptions {
        publish_timeout: TIMEOUT,
        connect_timeout: TIMEOUT,
        max_reconnect_delay: Duration::from_millis(500),
        heartbeat: 2,
        ..RabbitOptions::default()
    };
    let handoff = RabbitHandOff::connect_with(&node.amqp_url(), topology.clone(), options)
        .await
        .expect("connect");
    let before = event("before the outage");
    handoff.publish(&before).await.expect("publish while up");

    // 1. The broker stops (its AMQP port closes) and comes back.
    node.rabbitmqctl(&["stop_app"]).await;
    assert_fails_within_timeout(&handoff, "broker stopped").await;
    assert!(!handoff.is_connected());
    node.rabbitmqctl(&["start_app"]).await;
    let after_restart = event("after the restart");
    let took = publish_until_it_succeeds(&handoff, &after_restart).await;
    eprintln!("publishing worked again {took:?} after start_app returned");
    assert!(handoff.is_connected());

    // 2. The broker freezes: sockets stay open, nothing answers.
    node.signal_rabbitmq("-STOP").await;
    assert_fails_within_timeout(&handoff, "broker frozen").await;
    node.signal_rabbitmq("-CONT").await;
    let after_freeze = event("after the freeze");
    let took = publish_until_it_succeeds(&handoff, &after_freeze).await;
    eprintln!("publishing worked again {took:?} after the broker thawed");

    // Confirmed events survived the restart (durable queue, persistent messages); failed
    // publishes may or may not be there (the sender retries those, the writer deduplicates).
    let held = db_writer_events(&node.amqp_url(), &topology).await;
    for confirmed in [&before, &after_restart, &after_freeze] {
        assert!(
            held.contains(confirmed),
            "a confirmed event is missing: {confirmed:?}"
        );
    }
    assert_eq!(held.first(), Some(&before));
}
