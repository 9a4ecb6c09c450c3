//! One suite, both implementations: what a socket node relies on whichever hand-off it has.
//! The "persisting consumer" is a recording [`Consumer`] for the embedded hand-off and the
//! `db-writer` queue (read by the test) for RabbitMQ.

use std::{
    collections::HashSet,
    sync::{
        Arc, Mutex,
        atomic::{AtomicBool, Ordering},
    },
};

use async_trait::async_trait;
use handoff::{Consumer, ConsumerQueue, EmbeddedHandOff, Error, HandOff, RabbitHandOff, Topology};
use models::events::Event;

use crate::support::{Broker, amqp_url, created, one_of_each_kind, unique_topology};

trait Harness {
    fn handoff(&self) -> Arc<dyn HandOff>;
    /// Takes what the persisting consumer got since the last call.
    async fn persisted(&self) -> Vec<Event>;
    async fn finish(self);
}

// ----- the cases ------------------------------------------------------------------------------

async fn each_event_reaches_the_persisting_consumer_once_and_intact(h: impl Harness) {
    let events = one_of_each_kind();
    for event in &events {
        h.handoff().publish(event).await.expect("publish");
    }
    assert_eq!(h.persisted().await, events, "every event, intact, in order");
    assert_eq!(h.persisted().await, Vec::<Event>::new(), "and only once");
    h.finish().await;
}

async fn concurrent_publishes_each_arrive_exactly_once(h: impl Harness) {
    const N: usize = 500;
    let events: Vec<Event> = (0..N).map(|i| created(&format!("message {i}"))).collect();
    let tasks: Vec<_> = events
        .iter()
        .cloned()
        .map(|event| {
            let handoff = h.handoff();
            tokio::spawn(async move { handoff.publish(&event).await })
        })
        .collect();
    for task in tasks {
        task.await.expect("task").expect("publish");
    }

    let persisted = h.persisted().await;
    assert_eq!(persisted.len(), N, "each published event once");
    let published: HashSet<String> = events
        .iter()
        .map(|e| serde_json::to_string(e).unwrap())
        .collect();
    let got: HashSet<String> = persisted
        .iter()
        .map(|e| serde_json::to_string(e).unwrap())
        .collect();
    assert_eq!(got, published, "exactly the published events");
    h.finish().await;
}

async fn a_refusing_persisting_side_fails_the_publish(h: impl Harness) {
    let err = h
        .handoff()
        .publish(&created("not durable"))
        .await
        .expect_err("the persisting side refused the event");
    assert!(matches!(err, Error::Unavailable(_)));
    assert_eq!(
        h.persisted().await,
        Vec::<Event>::new(),
        "nothing was persisted"
    );
    h.finish().await;
}

// ----- embedded -------------------------------------------------------------------------------

#[derive(Default)]
struct Recorder {
    events: Mutex<Vec<Event>>,
    refuse: AtomicBool,
}

#[async_trait]
impl Consumer for Recorder {
    async fn handle(&self, events: &[Event]) -> Result<(), String> {
        if self.refuse.load(Ordering::SeqCst) {
            return Err("the store is down".into());
        }
        self.events.lock().unwrap().extend_from_slice(events);
        Ok(())
    }
}

struct Embedded {
    handoff: Arc<EmbeddedHandOff>,
    recorder: Arc<Recorder>,
}

impl Embedded {
    fn new(refuse: bool) -> Embedded {
        let recorder = Arc::new(Recorder::default());
        recorder.refuse.store(refuse, Ordering::SeqCst);
        Embedded {
            handoff: Arc::new(EmbeddedHandOff::new(recorder.clone(), Vec::new())),
            recorder,
        }
    }
}

impl Harness for Embedded {
    fn handoff(&self) -> Arc<dyn HandOff> {
        self.handoff.clone()
    }

    async fn persisted(&self) -> Vec<Event> {
        std::mem::take(&mut *self.recorder.events.lock().unwrap())
    }

    async fn finish(self) {}
}

#[tokio::test]
async fn embedded_each_event_reaches_the_persisting_consumer_once_and_intact() {
    each_event_reaches_the_persisting_consumer_once_and_intact(Embedded::new(false)).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn embedded_concurrent_publishes_each_arrive_exactly_once() {
    concurrent_publishes_each_arrive_exactly_once(Embedded::new(false)).await;
}

#[tokio::test]
async fn embedded_a_refusing_persisting_side_fails_the_publish() {
    a_refusing_persisting_side_fails_the_publish(Embedded::new(true)).await;
}

// ----- RabbitMQ -------------------------------------------------------------------------------

struct Rabbit {
    handoff: Arc<RabbitHandOff>,
    broker: Broker,
    topology: Topology,
}

impl Rabbit {
    /// A refusing RabbitMQ is one whose db-writer queue is full: `x-max-length` 0 with
    /// `reject-publish` nacks every publish.
    async fn new(refuse: bool) -> Rabbit {
        let mut topology = unique_topology();
        if refuse {
            topology.max_length = 0;
        }
        let handoff = RabbitHandOff::connect(&amqp_url(), topology.clone())
            .await
            .expect("connect");
        Rabbit {
            handoff: Arc::new(handoff),
            broker: Broker::connect().await,
            topology,
        }
    }
}

impl Harness for Rabbit {
    fn handoff(&self) -> Arc<dyn HandOff> {
        self.handoff.clone()
    }

    async fn persisted(&self) -> Vec<Event> {
        // A confirmed message is already in its queues: nothing to wait for.
        self.broker
            .drain_events(&self.topology.queue(ConsumerQueue::DbWriter))
            .await
    }

    async fn finish(self) {
        self.broker.delete(&self.topology).await;
    }
}

#[tokio::test]
async fn rabbit_each_event_reaches_the_persisting_consumer_once_and_intact() {
    each_event_reaches_the_persisting_consumer_once_and_intact(Rabbit::new(false).await).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn rabbit_concurrent_publishes_each_arrive_exactly_once() {
    concurrent_publishes_each_arrive_exactly_once(Rabbit::new(false).await).await;
}

#[tokio::test]
async fn rabbit_a_refusing_persisting_side_fails_the_publish() {
    a_refusing_persisting_side_fails_the_publish(Rabbit::new(true).await).await;
}
