//! What only the RabbitMQ hand-off has: routing per consumer, persistence and durability,
//! dead letters, bounded queues, and repairing a topology someone deleted.

use std::{
    sync::Arc,
    time::{Duration, Instant},
};

use handoff::{
    ConsumerQueue::{self, DbWriter, PushService, SearchIndex},
    Error, HandOff, RabbitHandOff, RabbitOptions, Topology,
    lapin::options::{
        BasicAckOptions, BasicRejectOptions, ExchangeDeclareOptions, QueueDeclareOptions,
        QueueDeleteOptions,
    },
    lapin::{ExchangeKind, types::FieldTable},
    topology::declare,
};
use models::events::Event;

use crate::support::{Broker, amqp_url, created, one_of_each_kind, unique_topology};

async fn connect(topology: &Topology) -> (RabbitHandOff, Broker) {
    let handoff = RabbitHandOff::connect(&amqp_url(), topology.clone())
        .await
        .expect("connect");
    (handoff, Broker::connect().await)
}

/// A shared publisher with other options, and the test's own view of the broker.
async fn connect_with(topology: &Topology, options: RabbitOptions) -> (Arc<RabbitHandOff>, Broker) {
    let handoff = RabbitHandOff::connect_with(&amqp_url(), topology.clone(), options)
        .await
        .expect("connect");
    (Arc::new(handoff), Broker::connect().await)
}

fn read_updated(seq: u64) -> Event {
    Event::ReadUpdated {
        room_id: "room-1".into(),
        user_id: "user-1".into(),
        seq,
    }
}

#[tokio::test]
async fn every_kind_goes_to_db_writer_new_messages_to_push_service_and_text_events_to_search() {
    let topology = unique_topology();
    let (handoff, broker) = connect(&topology).await;
    let events = one_of_each_kind();
    for event in &events {
        handoff.publish(event).await.expect("publish");
    }

    let db_writer = broker.drain(&topology.queue(DbWriter)).await;
    let keys: Vec<&str> = db_writer.iter().map(|g| g.routing_key.as_str()).collect();
    assert_eq!(
        keys,
        [
            "message.created",
            "message.edited",
            "message.deleted",
            "read.updated"
        ]
    );
    let got: Vec<Event> = db_writer.into_iter().map(|g| g.event).collect();
    assert_eq!(got, events);

    let push = broker.drain_events(&topology.queue(PushService)).await;
    assert_eq!(push, vec![events[0].clone()], "only message.created");

    let search = broker.drain_events(&topology.queue(SearchIndex)).await;
    assert_eq!(search, events[..3], "the message's text events");
    broker.delete(&topology).await;
}

#[tokio::test]
async fn messages_are_persistent_json_and_the_topology_is_durable() {
    let topology = unique_topology();
    let (handoff, broker) = connect(&topology).await;
    for event in one_of_each_kind() {
        handoff.publish(&event).await.expect("publish");
    }
    let got = broker.drain(&topology.queue(DbWriter)).await;
    assert_eq!(got.len(), 4);
    let mut ids = std::collections::HashSet::new();
    for g in &got {
        let p = &g.properties;
        assert_eq!(*p.delivery_mode(), Some(2), "persistent");
        assert_eq!(
            p.content_type().as_ref().map(|c| c.as_str()),
            Some("application/json")
        );
        assert_eq!(p.kind().as_ref().map(|k| k.as_str()), Some(g.event.kind()));
        let id = p.message_id().as_ref().expect("a message id").to_string();
        assert!(ids.insert(id), "message ids are unique");
    }

    // Declaring again changes nothing (consumers do it at every start and reconnect) ...
    declare(&broker.channel, &topology)
        .await
        .expect("declaring is idempotent");
    let again = RabbitHandOff::connect(&amqp_url(), topology.clone()).await;
    assert!(
        again.is_ok(),
        "a second publisher declares the same topology"
    );

    // ... and what exists is durable: RabbitMQ refuses to redeclare it transient.
    let queues = [DbWriter, PushService]
        .into_iter()
        .flat_map(|c| [topology.queue(c), topology.dead_queue(c)]);
    for queue in queues {
        let channel = broker.connection.create_channel().await.unwrap();
        let err = channel
            .queue_declare(
                queue.clone().into(),
                QueueDeclareOptions::default(),
                FieldTable::default(),
            )
            .await
            .expect_err("a transient redeclare of a durable queue fails");
        assert!(
            err.to_string().contains("inequivalent arg 'durable'"),
            "{queue}: {err}"
        );
    }
    for exchange in [topology.exchange(), topology.dead_exchange()] {
        let channel = broker.connection.create_channel().await.unwrap();
        let err = channel
            .exchange_declare(
                exchange.clone().into(),
                ExchangeKind::Topic,
                ExchangeDeclareOptions::default(),
                FieldTable::default(),
            )
            .await
            .expect_err("a transient redeclare of a durable exchange fails");
        assert!(
            err.to_string().contains("inequivalent arg 'durable'"),
            "{exchange}: {err}"
        );
    }
    // The length limit is really on the queue.
    let channel = broker.connection.create_channel().await.unwrap();
    let other_bound = Topology {
        max_length: 5,
        ..topology.clone()
    };
    let err = declare(&channel, &other_bound)
        .await
        .expect_err("other arguments are refused");
    assert!(err.to_string().contains("x-max-length"), "{err}");

    broker.delete(&topology).await;
}

#[tokio::test]
async fn a_rejected_message_lands_in_its_own_consumers_dead_queue() {
    let topology = unique_topology();
    let (handoff, broker) = connect(&topology).await;
    let poison = created("poison");
    let fine = read_updated(3);
    handoff.publish(&poison).await.expect("publish");
    handoff.publish(&fine).await.expect("publish");

    // db-writer rejects the first, acks the second; push-service rejects its only one.
    let first = broker
        .get(&topology.queue(DbWriter))
        .await
        .expect("a message");
    assert_eq!(first.event, poison);
    broker
        .channel
        .basic_reject(first.delivery_tag, BasicRejectOptions { requeue: false })
        .await
        .unwrap();
    let second = broker
        .get(&topology.queue(DbWriter))
        .await
        .expect("a message");
    assert_eq!(second.event, fine);
    broker
        .channel
        .basic_ack(second.delivery_tag, BasicAckOptions::default())
        .await
        .unwrap();
    let pushed = broker
        .get(&topology.queue(PushService))
        .await
        .expect("a message");
    broker
        .channel
        .basic_reject(pushed.delivery_tag, BasicRejectOptions { requeue: false })
        .await
        .unwrap();

    for consumer in [DbWriter, PushService] {
        let dead = topology.dead_queue(consumer);
        let deadline = Instant::now() + Duration::from_secs(10);
        let got = loop {
            let got = broker.drain(&dead).await;
            if !got.is_empty() || Instant::now() > deadline {
                break got;
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        };
        let events: Vec<Event> = got.iter().map(|g| g.event.clone()).collect();
        assert_eq!(
            events,
            vec![poison.clone()],
            "{dead} holds the rejected one only"
        );
        assert_eq!(*got[0].properties.delivery_mode(), Some(2));
    }
    assert!(broker.drain(&topology.queue(DbWriter)).await.is_empty());
    broker.delete(&topology).await;
}

#[tokio::test]
async fn a_full_queue_fails_the_publish_and_keeps_what_it_holds() {
    let topology = Topology {
        max_length: 2,
        ..unique_topology()
    };
    let (handoff, broker) = connect(&topology).await;
    handoff.publish(&read_updated(1)).await.expect("room for 1");
    handoff.publish(&read_updated(2)).await.expect("room for 2");
    let err = handoff
        .publish(&read_updated(3))
        .await
        .expect_err("the queue is full");
    assert!(matches!(err, Error::Unavailable(_)));

    let held = broker.drain_events(&topology.queue(DbWriter)).await;
    assert_eq!(
        held,
        vec![read_updated(1), read_updated(2)],
        "nothing dropped"
    );
    handoff
        .publish(&read_updated(4))
        .await
        .expect("room again once consumed");
    broker.delete(&topology).await;
}

/// A full push-service queue drops its oldest notification rather than failing the send.
#[tokio::test]
async fn a_full_push_queue_drops_its_oldest_and_the_publish_succeeds() {
    let topology = Topology {
        max_length: 2,
        ..unique_topology()
    };
    let (handoff, broker) = connect(&topology).await;
    let [one, two, three] = [created("one"), created("two"), created("three")];
    handoff.publish(&one).await.expect("room for 1");
    handoff.publish(&two).await.expect("room for 2");
    // db-writer (both of its queues) catches up; push-service does not.
    assert_eq!(
        broker.drain_events(&topology.queue(DbWriter)).await,
        vec![one.clone(), two.clone()]
    );
    assert_eq!(
        broker.drain_events(&topology.queue(SearchIndex)).await,
        vec![one.clone(), two.clone()]
    );
    handoff
        .publish(&three)
        .await
        .expect("a full push queue does not fail the publish");

    assert_eq!(
        broker.drain_events(&topology.queue(PushService)).await,
        vec![two, three.clone()],
        "the oldest was dropped"
    );
    assert_eq!(
        broker.drain_events(&topology.queue(DbWriter)).await,
        vec![three]
    );
    let deadline = Instant::now() + Duration::from_secs(10);
    let dropped = loop {
        let got = broker.drain(&topology.dead_queue(PushService)).await;
        if !got.is_empty() || Instant::now() > deadline {
            break got;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    };
    let dropped: Vec<Event> = dropped.into_iter().map(|g| g.event).collect();
    assert_eq!(dropped, vec![one], "the dropped one is dead-lettered");
    broker.delete(&topology).await;
}

#[tokio::test]
async fn an_unroutable_event_fails_and_the_publisher_restores_the_topology() {
    let topology = unique_topology();
    let (handoff, broker) = connect(&topology).await;
    for consumer in ConsumerQueue::ALL {
        broker
            .channel
            .queue_delete(
                topology.queue(consumer).into(),
                QueueDeleteOptions::default(),
            )
            .await
            .unwrap();
    }

    let event = created("nowhere to go");
    let err = handoff
        .publish(&event)
        .await
        .expect_err("no queue is bound: not durable");
    assert!(format!("{err}").contains("no queue is bound"), "{err}");

    // The failure makes the publisher declare the topology again, without a restart.
    let deadline = Instant::now() + Duration::from_secs(15);
    while handoff.publish(&event).await.is_err() {
        assert!(Instant::now() < deadline, "the topology did not come back");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    let got = broker.drain_events(&topology.queue(DbWriter)).await;
    assert_eq!(got, vec![event], "only the confirmed publish arrived");
    broker.delete(&topology).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn more_concurrent_publishes_than_a_lane_holds_wait_their_turn() {
    let topology = unique_topology();
    let options = RabbitOptions {
        channels: 2,
        max_in_flight: 4,
        ..RabbitOptions::default()
    };
    let (handoff, broker) = connect_with(&topology, options).await;
    let tasks: Vec<_> = (0..100)
        .map(|seq| {
            let handoff = handoff.clone();
            tokio::spawn(async move { handoff.publish(&read_updated(seq)).await })
        })
        .collect();
    for task in tasks {
        task.await.unwrap().expect("publish");
    }
    let mut seqs: Vec<u64> = broker
        .drain_events(&topology.queue(DbWriter))
        .await
        .into_iter()
        .map(|e| match e {
            Event::ReadUpdated { seq, .. } => seq,
            other => panic!("unexpected {other:?}"),
        })
        .collect();
    seqs.sort_unstable();
    assert_eq!(seqs, (0..100).collect::<Vec<u64>>());
    broker.delete(&topology).await;
}

/// Publishes share a channel, and lapin cannot always tell which of them a `basic.return`
/// belongs to: whatever the interleaving, no returned (lost) event is ever reported confirmed.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_confirmed_publish_is_never_one_that_was_returned() {
    let topology = unique_topology();
    let options = RabbitOptions {
        channels: 1,
        ..RabbitOptions::default()
    };
    let (handoff, broker) = connect_with(&topology, options).await;
    // Read pointers now route nowhere; new messages still reach push-service's queue.
    broker
        .channel
        .queue_delete(
            topology.queue(DbWriter).into(),
            QueueDeleteOptions::default(),
        )
        .await
        .unwrap();
    let tasks: Vec<_> = (0..400)
        .map(|i| {
            let handoff = handoff.clone();
            let event = if i % 2 == 0 {
                read_updated(i)
            } else {
                created(&format!("m{i}"))
            };
            tokio::spawn(async move {
                let outcome = handoff.publish(&event).await;
                (event, outcome.is_ok())
            })
        })
        .collect();
    let mut confirmed_reads = Vec::new();
    let mut refused_reads = 0;
    for task in tasks {
        match task.await.unwrap() {
            (Event::ReadUpdated { seq, .. }, true) => confirmed_reads.push(seq),
            (Event::ReadUpdated { .. }, false) => refused_reads += 1,
            _ => {}
        }
    }
    assert!(refused_reads > 0, "the first read pointers had no queue");
    // The publisher restores the queue after the first return (in the background, so on a busy
    // machine maybe only after the last publish): what it confirmed must be there.
    let deadline = tokio::time::Instant::now() + std::time::Duration::from_secs(15);
    loop {
        // A passive declare of a missing queue closes its channel: one channel per look.
        let look = broker.connection.create_channel().await.unwrap();
        let declared = look
            .queue_declare(
                topology.queue(DbWriter).into(),
                QueueDeclareOptions {
                    passive: true,
                    ..Default::default()
                },
                Default::default(),
            )
            .await;
        if declared.is_ok() {
            break;
        }
        assert!(
            tokio::time::Instant::now() < deadline,
            "the publisher did not restore the deleted queue"
        );
        tokio::time::sleep(std::time::Duration::from_millis(100)).await;
    }
    let mut stored: Vec<u64> = broker
        .drain_events(&topology.queue(DbWriter))
        .await
        .into_iter()
        .filter_map(|e| match e {
            Event::ReadUpdated { seq, .. } => Some(seq),
            _ => None,
        })
        .collect();
    stored.sort_unstable();
    confirmed_reads.sort_unstable();
    let lost: Vec<u64> = confirmed_reads
        .iter()
        .filter(|s| stored.binary_search(s).is_err())
        .copied()
        .collect();
    assert!(lost.is_empty(), "confirmed but not queued: {lost:?}");
    broker.delete(&topology).await;
}

#[tokio::test]
async fn connecting_to_no_broker_fails_quickly() {
    let started = Instant::now();
    // Port 1 on loopback: nothing listens there.
    let result =
        RabbitHandOff::connect("amqp://guest:guest@127.0.0.1:1/%2f", unique_topology()).await;
    assert!(matches!(result, Err(Error::Unavailable(_))));
    assert!(started.elapsed() < Duration::from_secs(5));
}
