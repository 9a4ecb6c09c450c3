//! The hand-off: how a socket node passes an accepted event on to the consumers that persist
//! it (db-writer) and push it (push-service). `publish` returns only once the event is durable,
//! so a sender is acked only for what cannot be lost.
//!
//! [`HandOff`] has two implementations: [`RabbitHandOff`] (RabbitMQ) in the distributed mode,
//! and [`EmbeddedHandOff`] in the standalone server, which runs the consumers in-process.
//!
//! - `embedded`: [`EmbeddedHandOff`].
//! - `rabbit`: [`RabbitHandOff`], publisher confirms and recovery from broker outages.
//! - [`topology`]: the exchanges and queues on RabbitMQ, declared alike by the publisher and
//!   by the consumers (db-writer, push-service), which use [`lapin`] re-exported from here.

mod embedded;
mod rabbit;
pub mod topology;

use async_trait::async_trait;
use models::events::Event;

pub use embedded::EmbeddedHandOff;
pub use lapin;
pub use rabbit::{RabbitHandOff, RabbitOptions};
pub use topology::{ConsumerQueue, Topology};

#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// The broker (or the embedded consumer's store) could not take the event; it is not
    /// durable and the sender must not be acked.
    #[error("hand-off unavailable: {0}")]
    Unavailable(String),
}

pub type Result<T, E = Error> = std::result::Result<T, E>;

#[async_trait]
pub trait HandOff: Send + Sync + 'static {
    /// Returns once the event is durable.
    async fn publish(&self, event: &Event) -> Result<()>;

    /// Whether a publish can succeed now, as far as is known without trying. Senders check it
    /// before sequencing, so a broker outage refuses a message before it gets a `seq`.
    fn is_available(&self) -> bool {
        true
    }
}

/// A consumer of handed-off events, run in-process by [`EmbeddedHandOff`].
#[async_trait]
pub trait Consumer: Send + Sync + 'static {
    /// Handles a batch; an error means none of it may be considered done.
    async fn handle(&self, events: &[Event]) -> Result<(), String>;
}
