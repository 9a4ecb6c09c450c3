//! Files: the pending → ready → attached → deleted life, one message per file, pending uploads
//! expiring by age, and the sweeper's list.

use std::sync::Arc;

use models::Timestamp;
use models::chat::FileStatus;
use store::{Error, FileRecord, FileState, FileStore};

use crate::{new_id, on_mongo, on_sqlite};

const T0: i64 = 1_700_000_000_000;

fn file(room_id: &str, created_at: i64) -> FileRecord {
    let id = new_id();
    FileRecord {
        object_key: format!("rooms/{room_id}/{id}"),
        id,
        room_id: room_id.to_owned(),
        uploader_id: "alice".into(),
        filename: "holiday photo.png".into(),
        content_type: "image/png".into(),
        size: 3 * 1024 * 1024,
        state: FileState::Pending,
        message_id: None,
        created_at: Timestamp::from_millis(created_at),
    }
}

async fn state(store: &dyn FileStore, id: &str) -> Option<FileState> {
    store.file(id).await.unwrap().map(|f| f.state)
}

async fn pending_then_ready(store: Arc<dyn FileStore>) {
    let f = file("room-1", T0);
    store.create_file(&f).await.unwrap();
    assert_eq!(store.file(&f.id).await.unwrap(), Some(f.clone()));
    assert_eq!(store.file(&new_id()).await.unwrap(), None);
    let client_view = f.to_file().expect("a pending file is visible");
    assert_eq!(client_view.status, FileStatus::Pending);
    assert_eq!(client_view.size, f.size);

    let again = store.create_file(&f).await;
    assert!(matches!(again, Err(Error::Duplicate(_))), "{again:?}");

    assert!(store.mark_ready(&f.id).await.unwrap());
    assert_eq!(state(&*store, &f.id).await, Some(FileState::Ready));
    // Only once, and never for an unknown file.
    assert!(!store.mark_ready(&f.id).await.unwrap());
    assert!(!store.mark_ready(&new_id()).await.unwrap());
    let ready = store.file(&f.id).await.unwrap().unwrap();
    assert_eq!(ready.to_file().unwrap().status, FileStatus::Ready);
    assert_eq!(ready.message_id, None);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn pending_then_ready_on_sqlite() {
    on_sqlite(pending_then_ready).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn pending_then_ready_on_mongo() {
    on_mongo(pending_then_ready).await;
}

async fn one_message_per_file(store: Arc<dyn FileStore>) {
    let [ready, other, pending] = [file("r", T0), file("r", T0 + 1), file("r", T0 + 2)];
    for f in [&ready, &other, &pending] {
        store.create_file(f).await.unwrap();
    }
    store.mark_ready(&ready.id).await.unwrap();
    store.mark_ready(&other.id).await.unwrap();
    let (m1, m2) = (new_id(), new_id());

    // Pending and unknown files are not bound; ready ones are.
    let ids = [
        ready.id.clone(),
        pending.id.clone(),
        new_id(),
        other.id.clone(),
    ];
    assert_eq!(
        store.attach_files(&ids, &m1).await.unwrap(),
        [ready.id.clone(), other.id.clone()]
    );
    assert_eq!(
        store.file(&ready.id).await.unwrap().unwrap().message_id,
        Some(m1.clone())
    );
    assert_eq!(
        store.file(&pending.id).await.unwrap().unwrap().message_id,
        None
    );
    // A file already carried by one message is not bound to another.
    assert!(
        store
            .attach_files(std::slice::from_ref(&ready.id), &m2)
            .await
            .unwrap()
            .is_empty()
    );
    assert_eq!(
        store.file(&ready.id).await.unwrap().unwrap().message_id,
        Some(m1.clone())
    );

    // Deleting the message deletes its files, only its files, once.
    assert_eq!(store.delete_message_files(&m2).await.unwrap(), 0);
    assert_eq!(store.delete_message_files(&m1).await.unwrap(), 2);
    assert_eq!(store.delete_message_files(&m1).await.unwrap(), 0);
    let gone = store.file(&ready.id).await.unwrap().unwrap();
    assert_eq!(gone.state, FileState::Deleted);
    assert_eq!(gone.to_file(), None, "a deleted file is shown to nobody");
    assert_eq!(state(&*store, &pending.id).await, Some(FileState::Pending));
    assert!(!store.mark_ready(&ready.id).await.unwrap());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn one_message_per_file_on_sqlite() {
    on_sqlite(one_message_per_file).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn one_message_per_file_on_mongo() {
    on_mongo(one_message_per_file).await;
}

async fn sweeping(store: Arc<dyn FileStore>) {
    let old_pending = file("r", T0);
    let new_pending = file("r", T0 + 60_000);
    let old_ready = file("r", T0 - 1);
    let attached = file("r", T0 + 1);
    for f in [&old_pending, &new_pending, &old_ready, &attached] {
        store.create_file(f).await.unwrap();
    }
    store.mark_ready(&old_ready.id).await.unwrap();
    store.mark_ready(&attached.id).await.unwrap();
    let message = new_id();
    store
        .attach_files(std::slice::from_ref(&attached.id), &message)
        .await
        .unwrap();
    assert!(store.deleted_files(10).await.unwrap().is_empty());

    // Only pending files older than the cut-off expire; ready ones stay whatever their age.
    let cutoff = Timestamp::from_millis(T0 + 30_000);
    assert_eq!(store.expire_pending(cutoff).await.unwrap(), 1);
    assert_eq!(store.expire_pending(cutoff).await.unwrap(), 0);
    assert_eq!(
        state(&*store, &new_pending.id).await,
        Some(FileState::Pending)
    );
    assert_eq!(state(&*store, &old_ready.id).await, Some(FileState::Ready));
    assert!(!store.mark_ready(&old_pending.id).await.unwrap());
    store.delete_message_files(&message).await.unwrap();

    // Oldest first, bounded, with the object key the sweeper needs.
    let listed = store.deleted_files(10).await.unwrap();
    let ids: Vec<&str> = listed.iter().map(|f| f.id.as_str()).collect();
    assert_eq!(ids, [old_pending.id.as_str(), attached.id.as_str()]);
    assert_eq!(listed[0].object_key, old_pending.object_key);
    assert_eq!(store.deleted_files(1).await.unwrap().len(), 1);
    assert!(store.deleted_files(0).await.unwrap().is_empty());

    // Removing forgets deleted files only.
    assert!(!store.remove_file(&old_ready.id).await.unwrap());
    assert!(store.remove_file(&old_pending.id).await.unwrap());
    assert!(!store.remove_file(&old_pending.id).await.unwrap());
    assert_eq!(store.file(&old_pending.id).await.unwrap(), None);
    assert!(store.remove_file(&attached.id).await.unwrap());
    assert!(store.deleted_files(10).await.unwrap().is_empty());
    assert_eq!(state(&*store, &old_ready.id).await, Some(FileState::Ready));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sweeping_on_sqlite() {
    on_sqlite(sweeping).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sweeping_on_mongo() {
    on_mongo(sweeping).await;
}
