//! The RabbitMQ topology of the hand-off, shared by the publisher ([`crate::RabbitHandOff`]) and
//! the consumers (db-writer, push-service). Everyone declares it at start-up and after every
//! reconnect, so whichever process comes first creates it and a broker that lost it (a fresh
//! node, a deleted queue) gets it back.
//!
//! ```text
//!  publisher --routing key = Event::kind()--> chat.events (topic, durable)
//!      "#"               --> db-writer      --dead letters, key "db-writer"-->    chat.dead --> db-writer.dead
//!      "message.created" --> push-service   --dead letters, key "push-service"--> chat.dead --> push-service.dead
//!      "message.created",
//!      "message.edited",
//!      "message.deleted" --> search-index   --dead letters, key "search-index"--> chat.dead --> search-index.dead
//! ```
//!
//! The consumer queues are bounded (`x-max-length`). The db-writer and search-index queues have
//! `x-overflow: reject-publish`: a full queue makes the broker nack the publish, so the sender
//! is not acked, instead of the broker silently dropping the oldest events. The push-service
//! queue drops its oldest instead (`drop-head`, dead-lettered as `maxlen`): a notification is
//! worth less than the message itself, a stale one even less, and with `reject-publish` a push
//! service that is down long enough to fill its queue would make every chat send fail, since
//! one refusing queue nacks the whole publish. The search-index queue is consumed by the
//! db-writer process too, so it fills only while db-writer is down, when db-writer's own queue
//! fills as fast; refusing there keeps the index complete. The dead-letter queues are bounded too but keep
//! the default overflow (drop the oldest): they hold the recent failures for an operator to
//! look at.
//!
//! Declaring is idempotent only while the arguments stay the same: RabbitMQ refuses to redeclare
//! a queue with other arguments (`PRECONDITION_FAILED`), so a changed `max_length` needs a policy
//! or the queue deleted first.

use lapin::{
    Channel,
    options::{ExchangeDeclareOptions, QueueBindOptions, QueueDeclareOptions},
    types::{AMQPValue, FieldTable},
};

/// Exchange and queue names and bounds. [`Topology::default`] is production's.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Topology {
    /// Prepended, with a `.`, to every exchange and queue name; empty in production. Tests use
    /// a unique prefix each so that they can share one broker without seeing each other's events.
    pub prefix: String,
    /// `x-max-length` of each consumer queue: how many events may wait for a consumer that is
    /// down or slow before publishing fails (and senders see errors) rather than memory and
    /// disk of the broker running out.
    pub max_length: u32,
    /// `x-max-length` of each dead-letter queue.
    pub dead_max_length: u32,
}

impl Default for Topology {
    fn default() -> Self {
        Topology {
            prefix: String::new(),
            max_length: 1_000_000,
            dead_max_length: 100_000,
        }
    }
}

/// The consumers that have a queue of their own.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum ConsumerQueue {
    /// db-writer persists every event.
    DbWriter,
    /// push-service notifies offline members of new messages.
    PushService,
    /// db-writer keeps the search index of message text.
    SearchIndex,
}

impl ConsumerQueue {
    pub const ALL: [ConsumerQueue; 3] = [
        ConsumerQueue::DbWriter,
        ConsumerQueue::PushService,
        ConsumerQueue::SearchIndex,
    ];

    /// The queue's name without the prefix; also the routing key of its dead letters on the
    /// dead-letter exchange.
    pub fn name(self) -> &'static str {
        match self {
            ConsumerQueue::DbWriter => "db-writer",
            ConsumerQueue::PushService => "push-service",
            ConsumerQueue::SearchIndex => "search-index",
        }
    }

    /// The binding keys on the events exchange: which event kinds the consumer gets.
    pub fn binding_keys(self) -> &'static [&'static str] {
        match self {
            ConsumerQueue::DbWriter => &["#"],
            ConsumerQueue::PushService => &["message.created"],
            ConsumerQueue::SearchIndex => &["message.created", "message.edited", "message.deleted"],
        }
    }

    /// `x-overflow` of the queue: what a full queue does (see the module docs).
    pub fn overflow(self) -> &'static str {
        match self {
            ConsumerQueue::DbWriter | ConsumerQueue::SearchIndex => "reject-publish",
            ConsumerQueue::PushService => "drop-head",
        }
    }
}

impl Topology {
    /// Production's bounds with names under `prefix`.
    pub fn with_prefix(prefix: impl Into<String>) -> Self {
        Topology {
            prefix: prefix.into(),
            ..Topology::default()
        }
    }

    /// The topic exchange events are published to, routed by `Event::kind()`.
    pub fn exchange(&self) -> String {
        self.name("chat.events")
    }

    /// The dead-letter exchange (topic) the consumer queues dead-letter to.
    pub fn dead_exchange(&self) -> String {
        self.name("chat.dead")
    }

    /// The queue `consumer` consumes from.
    pub fn queue(&self, consumer: ConsumerQueue) -> String {
        self.name(consumer.name())
    }

    /// Where messages that `consumer` rejected (or that expired) end up.
    pub fn dead_queue(&self, consumer: ConsumerQueue) -> String {
        self.name(&format!("{}.dead", consumer.name()))
    }

    fn name(&self, base: &str) -> String {
        if self.prefix.is_empty() {
            base.to_owned()
        } else {
            format!("{}.{base}", self.prefix)
        }
    }
}

/// Declares the exchanges, queues and bindings (idempotent; see the module docs).
pub async fn declare(channel: &Channel, topology: &Topology) -> lapin::Result<()> {
    let durable = ExchangeDeclareOptions {
        durable: true,
        ..ExchangeDeclareOptions::default()
    };
    for exchange in [topology.exchange(), topology.dead_exchange()] {
        channel
            .exchange_declare(
                exchange.into(),
                lapin::ExchangeKind::Topic,
                durable,
                FieldTable::default(),
            )
            .await?;
    }

    for consumer in ConsumerQueue::ALL {
        let dead_queue = topology.dead_queue(consumer);
        let mut dead_args = FieldTable::default();
        dead_args.insert(
            "x-max-length".into(),
            AMQPValue::LongLongInt(topology.dead_max_length.into()),
        );
        channel
            .queue_declare(
                dead_queue.clone().into(),
                QueueDeclareOptions::durable(),
                dead_args,
            )
            .await?;
        channel
            .queue_bind(
                dead_queue.into(),
                topology.dead_exchange().into(),
                consumer.name().into(),
                QueueBindOptions::default(),
                FieldTable::default(),
            )
            .await?;

        let queue = topology.queue(consumer);
        let mut args = FieldTable::default();
        args.insert(
            "x-dead-letter-exchange".into(),
            AMQPValue::LongString(topology.dead_exchange().into()),
        );
        args.insert(
            "x-dead-letter-routing-key".into(),
            AMQPValue::LongString(consumer.name().into()),
        );
        args.insert(
            "x-max-length".into(),
            AMQPValue::LongLongInt(topology.max_length.into()),
        );
        args.insert(
            "x-overflow".into(),
            AMQPValue::LongString(consumer.overflow().into()),
        );
        channel
            .queue_declare(queue.clone().into(), QueueDeclareOptions::durable(), args)
            .await?;
        for key in consumer.binding_keys() {
            channel
                .queue_bind(
                    queue.clone().into(),
                    topology.exchange().into(),
                    (*key).into(),
                    QueueBindOptions::default(),
                    FieldTable::default(),
                )
                .await?;
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_take_the_prefix_and_production_has_none() {
        let production = Topology::default();
        assert_eq!(production.exchange(), "chat.events");
        assert_eq!(production.dead_exchange(), "chat.dead");
        assert_eq!(production.queue(ConsumerQueue::DbWriter), "db-writer");
        assert_eq!(
            production.dead_queue(ConsumerQueue::PushService),
            "push-service.dead"
        );

        let test = Topology::with_prefix("t1");
        assert_eq!(test.exchange(), "t1.chat.events");
        assert_eq!(test.queue(ConsumerQueue::PushService), "t1.push-service");
        assert_eq!(
            test.dead_queue(ConsumerQueue::DbWriter),
            "t1.db-writer.dead"
        );
    }
}
