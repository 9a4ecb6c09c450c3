//! Removing what nobody may download any more from storage: uploads never completed (after
//! [`crate::Settings::pending_ttl`]) and the files of deleted messages.

use std::time::Duration;

use models::Timestamp;
use storage::ObjectStorage;
use store::FileStore;
use tokio_util::sync::CancellationToken;

use crate::AppState;

/// Files removed per store read.
const BATCH: usize = 100;

/// One pass: expires old pending uploads, then removes every deleted file's object and then
/// its record. Returns how many files were removed.
pub async fn sweep(
    files: &dyn FileStore,
    storage: &dyn ObjectStorage,
    pending_ttl: Duration,
) -> crate::Result<usize> {
    let ttl = i64::try_from(pending_ttl.as_millis()).unwrap_or(i64::MAX);
    let cutoff = Timestamp::from_millis(Timestamp::now().millis().saturating_sub(ttl));
    let expired = files.expire_pending(cutoff).await?;
    if expired > 0 {
        tracing::info!(expired, "pending uploads expired");
    }
    let mut removed = 0;
    loop {
        let batch = files.deleted_files(BATCH).await?;
        if batch.is_empty() {
            break;
        }
        for file in &batch {
            // Object first: a record is forgotten only once nothing is left behind.
            storage.delete(&file.object_key).await?;
            if files.remove_file(&file.id).await? {
                removed += 1;
            }
        }
        if batch.len() < BATCH {
            break;
        }
    }
    if removed > 0 {
        metrics::counter!("chat_files_removed_total").increment(removed as u64);
        tracing::info!(removed, "files removed from storage");
    }
    Ok(removed)
}

/// Sweeps every [`crate::Settings::sweep_interval`] until `shutdown`.
pub fn spawn(state: AppState, shutdown: CancellationToken) -> tokio::task::JoinHandle<()> {
    tokio::spawn(async move {
        let mut tick = tokio::time::interval(state.settings.sweep_interval);
        tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        loop {
            tokio::select! {
                _ = shutdown.cancelled() => break,
                _ = tick.tick() => {}
            }
            let outcome = sweep(
                state.files.as_ref(),
                state.storage.as_ref(),
                state.settings.pending_ttl,
            )
            .await;
            if let Err(e) = outcome {
                tracing::warn!(error = %e, "file sweep failed; retrying at the next one");
            }
        }
    })
}
