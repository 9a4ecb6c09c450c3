//! The search index's consumer side: applies the message events of the search-index queue to
//! [`store::SearchStore`] (MongoDB's `message_search`). Each write is ordered by the message's
//! `rev` and a delete is final, so redelivered and reordered events change nothing twice,
//! and the order of a batch does not matter.

use std::sync::Arc;

use async_trait::async_trait;
use models::events::Event;
use store::SearchStore;

use crate::consumer::Apply;

pub struct SearchIndexer {
    index: Arc<dyn SearchStore>,
}

impl SearchIndexer {
    pub fn new(index: Arc<dyn SearchStore>) -> Self {
        SearchIndexer { index }
    }
}

#[async_trait]
impl Apply for SearchIndexer {
    async fn apply(&self, events: &[Event]) -> store::Result<()> {
        let texts: Vec<_> = events
            .iter()
            .filter_map(|e| match e {
                Event::MessageCreated { message } | Event::MessageEdited { message } => {
                    Some(message.clone())
                }
                _ => None,
            })
            .collect();
        if !texts.is_empty() {
            self.index.index_messages(&texts).await?;
        }
        for event in events {
            if let Event::MessageDeleted { message_id, .. } = event {
                self.index.unindex_message(message_id).await?;
            }
        }
        metrics::counter!("chat_search_indexed_total").increment(events.len() as u64);
        Ok(())
    }
}
