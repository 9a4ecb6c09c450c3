//! The standalone hand-off: the persisting consumer runs inside `publish`, so an event is
//! durable (committed to the embedded store) when `publish` returns; the other consumers
//! (push) run in the background and never delay the sender.

use std::sync::Arc;

use async_trait::async_trait;
use models::events::Event;

use crate::{Consumer, Error, HandOff, Result};

pub struct EmbeddedHandOff {
    durable: Arc<dyn Consumer>,
    background: Vec<Arc<dyn Consumer>>,
}

impl EmbeddedHandOff {
    /// `durable` persists events before `publish` returns; `background` consumers get each
    /// event afterwards, on their own task.
    pub fn new(durable: Arc<dyn Consumer>, background: Vec<Arc<dyn Consumer>>) -> Self {
        EmbeddedHandOff {
            durable,
            background,
        }
    }
}

#[async_trait]
impl HandOff for EmbeddedHandOff {
    async fn publish(&self, event: &Event) -> Result<()> {
        self.durable
            .handle(std::slice::from_ref(event))
            .await
            .map_err(Error::Unavailable)?;
        for consumer in &self.background {
            let consumer = consumer.clone();
            let event = event.clone();
            tokio::spawn(async move {
                if let Err(e) = consumer.handle(std::slice::from_ref(&event)).await {
                    tracing::warn!(error = %e, kind = event.kind(), "background consumer failed");
                }
            });
        }
        Ok(())
    }
}
