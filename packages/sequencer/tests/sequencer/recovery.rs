//! Redis losing its data while the writer lags: numbering waits for the writer to store what
//! was handed off, then resumes above it, so no `seq` or `rev` is given twice and a retry of a
//! message sent before the loss gets its original back.

use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};

use async_trait::async_trait;
use models::chat::Message;
use sequencer::{Drain, Error, RedisSequencer, RedisSequencerConfig, Sequencer};
use store::{ChangeOutcome, ChatStore, MessageChange, SqliteStore};
use tokio::sync::Mutex;

use crate::{Rig, delete_keys, message, on_redis};

/// The writer, as the sequencer sees it: it stores the events handed off so far when asked to
/// drain, unless it is down.
struct Writer {
    store: SqliteStore,
    handed_off: Mutex<Vec<Message>>,
    up: std::sync::atomic::AtomicBool,
    drains: AtomicUsize,
}

#[async_trait]
impl Drain for Writer {
    async fn drain(&self) -> Result<(), String> {
        self.drains.fetch_add(1, Ordering::SeqCst);
        if !self.up.load(Ordering::SeqCst) {
            return Err("the writer is down".into());
        }
        let queued = std::mem::take(&mut *self.handed_off.lock().await);
        self.store
            .insert_messages(&queued)
            .await
            .map_err(|e| e.to_string())?;
        Ok(())
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn numbering_after_redis_lost_its_data_resumes_above_what_the_writer_stores() {
    on_redis(|rig: Rig| async move {
        let room = rig.room().await;
        let (redis, prefix) = rig.redis().await;
        let writer = Arc::new(Writer {
            store: rig.store.clone(),
            handed_off: Mutex::new(Vec::new()),
            up: true.into(),
            drains: AtomicUsize::new(0),
        });
        let node = RedisSequencer::new(
            redis.clone(),
            prefix.clone(),
            Arc::new(rig.store.clone()),
            RedisSequencerConfig::default(),
        )
        .with_drain(writer.clone());
        let retry_id = uuid::Uuid::now_v7().to_string();

        // Five messages acked; the writer has stored none of them yet.
        let mut acked = Vec::new();
        for i in 0..5 {
            let client_id = if i == 2 {
                retry_id.clone()
            } else {
                format!("c{i}")
            };
            let out = node
                .sequence(message(&room, "alice", &client_id))
                .await
                .unwrap();
            writer.handed_off.lock().await.push(out.message.clone());
            acked.push(out.message);
        }
        assert_eq!(
            acked.iter().map(|m| m.seq).collect::<Vec<_>>(),
            [1, 2, 3, 4, 5]
        );
        let drains_before = writer.drains.load(Ordering::SeqCst);

        // Redis loses everything, and the writer is down: nothing is numbered meanwhile.
        delete_keys(&redis, &prefix).await;
        writer.up.store(false, Ordering::SeqCst);
        let refused = node.sequence(message(&room, "bob", "during")).await;
        assert!(matches!(refused, Err(Error::Unavailable(_))), "{refused:?}");
        assert!(writer.drains.load(Ordering::SeqCst) > drains_before);

        // The writer is back: it stores what was queued, and numbering resumes above it.
        writer.up.store(true, Ordering::SeqCst);
        let next = node.sequence(message(&room, "bob", "after")).await.unwrap();
        assert_eq!((next.message.seq, next.fresh), (6, true));
        // A retry of a message acked before the loss is the original, not a new seq.
        let retry = node
            .sequence(message(&room, "alice", &retry_id))
            .await
            .unwrap();
        assert!(!retry.fresh);
        assert_eq!(retry.message.seq, 3);
        assert!(
            !node.recognizes_retry_of(&retry_id),
            "an id made before the loss is not left to the lost dedupe"
        );
        assert!(node.recognizes_retry_of(&uuid::Uuid::now_v7().to_string()));

        // Changes too: `rev` resumes above the store's.
        let stored = rig
            .store
            .message(&room.id, &acked[0].id)
            .await
            .unwrap()
            .unwrap();
        let changed = node
            .change(MessageChange {
                message: Message {
                    body: "edited".into(),
                    ..stored
                },
                base_rev: 0,
            })
            .await
            .unwrap();
        assert!(
            matches!(changed, ChangeOutcome::Applied(ref m) if m.rev == 1),
            "{changed:?}"
        );
    })
    .await;
}
