//! [`SqliteStore`]: the embedded store of the standalone mode, one SQLite file.
//!
//! One connection, owned by one thread of its own: SQLite serialises writers anyway, and one
//! connection keeps every transaction simple. Every trait implementation of this store goes
//! through the crate-private `SqliteStore::call`, which queues a closure for that thread and
//! awaits its result, so the async runtime never waits on the disk. Under load the thread runs
//! queued calls back to back: no lock is contended and no thread is woken per call, which a
//! shared connection on tokio's blocking pool would cost (a wake-up and a lock hand-over per
//! call, most of the standalone server's CPU under load).
//!
//! The schema is the ordered list `MIGRATIONS`; `PRAGMA user_version` records how many of them
//! a file has had, so opening a file applies only the missing ones. A later trait adds its
//! tables by appending one batch to that list.
//!
//! [`AuthStore`] is implemented here, [`crate::ChatStore`] (and the embedded message sequencer,
//! [`SqliteStore::sequence_message`]) in the `chat` submodule, [`crate::PushStore`] in `push`,
//! [`crate::FileStore`] in `files`, [`crate::SearchStore`] in `search`.

use std::panic::AssertUnwindSafe;
use std::path::Path;
use std::sync::mpsc;
use std::time::Duration;

use async_trait::async_trait;
use models::Timestamp;
use rusqlite::{Connection, ErrorCode, OptionalExtension, Row, TransactionBehavior, params};

use crate::auth::{AuthStore, Consumed, NewRefreshToken, UserRecord};
use crate::{Error, Result};

mod chat;
mod files;
mod push;
mod search;

/// How long a statement waits for another process's write lock before giving up as
/// [`Error::Unavailable`]. Only matters when a second process opens the same file.
const BUSY_TIMEOUT: Duration = Duration::from_secs(5);

/// The schema, one SQL batch per version: batch `i` takes a file from `user_version = i` to
/// `i + 1`, inside the same transaction as the version bump.
///
/// To change the schema, append a batch (and bump nothing else); never edit a batch that has
/// shipped, since files in the field have already run it.
const MIGRATIONS: &[&str] = &[
    // 1: users and refresh-token families.
    "
    CREATE TABLE IF NOT EXISTS users (
        id            TEXT    NOT NULL PRIMARY KEY,
        username      TEXT    NOT NULL UNIQUE,
        display_name  TEXT    NOT NULL,
        password_hash TEXT    NOT NULL,
        created_at    INTEGER NOT NULL
    ) STRICT;

    CREATE TABLE IF NOT EXISTS token_families (
        id         TEXT    NOT NULL PRIMARY KEY,
        user_id    TEXT    NOT NULL REFERENCES users (id) ON DELETE CASCADE,
        revoked    INTEGER NOT NULL DEFAULT 0,
        created_at INTEGER NOT NULL
    ) STRICT;
    CREATE INDEX IF NOT EXISTS token_families_user_id ON token_families (user_id);

    CREATE TABLE IF NOT EXISTS refresh_tokens (
        hash       TEXT    NOT NULL PRIMARY KEY,
        family_id  TEXT    NOT NULL REFERENCES token_families (id) ON DELETE CASCADE,
        user_id    TEXT    NOT NULL,
        used       INTEGER NOT NULL DEFAULT 0,
        expires_at INTEGER NOT NULL,
        created_at INTEGER NOT NULL
    ) STRICT;
    CREATE INDEX IF NOT EXISTS refresh_tokens_family_id ON refresh_tokens (family_id);
    ",
    // 2: rooms, memberships with read pointers, messages.
    //
    // `direct_key` is NULL for groups; SQLite's UNIQUE lets any number of NULLs through, so it
    // only binds direct rooms. `joined` numbers a room's members in join order. `attachments`
    // is the JSON array of the message's `FileRef`s. The two UNIQUE constraints of `messages`
    // are what make inserts idempotent, and their indexes serve paging (room_id, seq) and the
    // retry lookup (room_id, sender_id, client_id).
    "
    CREATE TABLE IF NOT EXISTS rooms (
        id            TEXT    NOT NULL PRIMARY KEY,
        kind          TEXT    NOT NULL CHECK (kind IN ('direct', 'group')),
        name          TEXT    NOT NULL,
        created_by    TEXT    NOT NULL,
        created_at    INTEGER NOT NULL,
        direct_key    TEXT    UNIQUE,
        last_seq      INTEGER NOT NULL DEFAULT 0,
        last_activity INTEGER NOT NULL
    ) STRICT;

    CREATE TABLE IF NOT EXISTS room_members (
        room_id       TEXT    NOT NULL REFERENCES rooms (id) ON DELETE CASCADE,
        user_id       TEXT    NOT NULL,
        joined        INTEGER NOT NULL,
        last_read_seq INTEGER NOT NULL DEFAULT 0,
        PRIMARY KEY (room_id, user_id)
    ) STRICT, WITHOUT ROWID;
    CREATE INDEX IF NOT EXISTS room_members_user_id ON room_members (user_id);

    CREATE TABLE IF NOT EXISTS messages (
        id          TEXT    NOT NULL PRIMARY KEY,
        room_id     TEXT    NOT NULL REFERENCES rooms (id) ON DELETE CASCADE,
        seq         INTEGER NOT NULL,
        sender_id   TEXT    NOT NULL,
        client_id   TEXT    NOT NULL,
        body        TEXT    NOT NULL,
        attachments TEXT    NOT NULL DEFAULT '[]',
        reply_to    TEXT,
        created_at  INTEGER NOT NULL,
        edited_at   INTEGER,
        deleted     INTEGER NOT NULL DEFAULT 0,
        UNIQUE (room_id, seq),
        UNIQUE (room_id, sender_id, client_id)
    ) STRICT;
    ",
    // 3: web-push subscriptions, one per endpoint.
    "
    CREATE TABLE IF NOT EXISTS push_subscriptions (
        endpoint   TEXT    NOT NULL PRIMARY KEY,
        user_id    TEXT    NOT NULL,
        p256dh     TEXT    NOT NULL,
        auth       TEXT    NOT NULL,
        created_at INTEGER NOT NULL
    ) STRICT;
    CREATE INDEX IF NOT EXISTS push_subscriptions_user_id ON push_subscriptions (user_id);
    ",
    // 4: file metadata. `message_id` is set once, when a message attaches the file; the
    // sweeper lists `deleted` files oldest first, and expires `pending` ones by age.
    "
    CREATE TABLE IF NOT EXISTS files (
        id           TEXT    NOT NULL PRIMARY KEY,
        room_id      TEXT    NOT NULL,
        uploader_id  TEXT    NOT NULL,
        filename     TEXT    NOT NULL,
        content_type TEXT    NOT NULL,
        size         INTEGER NOT NULL,
        state        TEXT    NOT NULL CHECK (state IN ('pending', 'ready', 'deleted')),
        object_key   TEXT    NOT NULL,
        message_id   TEXT,
        created_at   INTEGER NOT NULL
    ) STRICT;
    CREATE INDEX IF NOT EXISTS files_message_id ON files (message_id);
    CREATE INDEX IF NOT EXISTS files_state_created_at ON files (state, created_at);
    ",
    // 5: change counters. A room's `rev` is its highest change; a message's `rev` the room's
    // `rev` when it last changed (0: never). The index is partial, so new messages (rev 0) cost
    // no index write; `sync` reads changes with `rev > 0` through it.
    "
    ALTER TABLE rooms ADD COLUMN rev INTEGER NOT NULL DEFAULT 0;
    ALTER TABLE messages ADD COLUMN rev INTEGER NOT NULL DEFAULT 0;
    CREATE INDEX IF NOT EXISTS messages_room_rev ON messages (room_id, rev) WHERE rev > 0;
    ",
    // 6: the writer's barriers (see `ChatStore::record_barrier`), by id, with when.
    "
    CREATE TABLE IF NOT EXISTS writer_barriers (
        id  TEXT    NOT NULL PRIMARY KEY,
        at  INTEGER NOT NULL
    ) STRICT;
    ",
    // 7: reactions, a JSON array of `{emoji, count, user_ids}` as the message shows them.
    "
    ALTER TABLE messages ADD COLUMN reactions TEXT NOT NULL DEFAULT '[]';
    ",
    // 8: mentions: a JSON array of the user ids the body mentions, and whether it mentions
    // the whole room.
    "
    ALTER TABLE messages ADD COLUMN mentions TEXT NOT NULL DEFAULT '[]';
    ALTER TABLE messages ADD COLUMN mentions_room INTEGER NOT NULL DEFAULT 0;
    ",
    // 9: notification settings, per member and room, once set (`all` until then).
    "
    CREATE TABLE IF NOT EXISTS notification_settings (
        room_id      TEXT    NOT NULL,
        user_id      TEXT    NOT NULL,
        level        TEXT    NOT NULL,
        muted_until  INTEGER,
        PRIMARY KEY (room_id, user_id)
    ) STRICT, WITHOUT ROWID;
    ",
    // 10: threads. A reply names its root (`thread_id`); a root keeps its summary (`thread`,
    // JSON). The index serves a thread's page of replies.
    "
    ALTER TABLE messages ADD COLUMN thread_id TEXT;
    ALTER TABLE messages ADD COLUMN thread TEXT;
    CREATE INDEX IF NOT EXISTS messages_thread ON messages (room_id, thread_id, seq)
        WHERE thread_id IS NOT NULL;
    ",
    // 11: message search (see the `search` module). The rows of the messages stored before it
    // are written once the batch has run (`migrate`).
    search::CREATE_TABLE,
];

/// The version that added the search index, which `migrate` fills from the stored messages.
const SEARCH_VERSION: i64 = 11;

/// The schema version a file has once every migration is applied (its `user_version`).
pub const SCHEMA_VERSION: i64 = MIGRATIONS.len() as i64;

/// The embedded store: every trait of this crate over one SQLite file.
///
/// Cheap to clone; clones share the connection and its thread, which ends when the last clone
/// is dropped.
#[derive(Clone)]
pub struct SqliteStore {
    jobs: mpsc::Sender<Job>,
    /// Messages waiting for their group's sequencing transaction (see `sequence_message`).
    sequencing: chat::SequenceQueue,
    /// The members of recently read rooms (see `ChatStore::room_members`).
    members: chat::SharedMembersCache,
}

/// A call queued for the connection's thread.
type Job = Box<dyn FnOnce(&mut Connection) + Send>;

impl std::fmt::Debug for SqliteStore {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SqliteStore").finish_non_exhaustive()
    }
}

impl SqliteStore {
    /// Opens (or creates) the database file at `path`, creating missing parent directories,
    /// and brings its schema up to date.
    ///
    /// Blocking: call it at start-up, before serving, or inside `spawn_blocking`.
    pub fn open(path: impl AsRef<Path>) -> Result<Self> {
        let path = path.as_ref();
        if let Some(dir) = path.parent().filter(|d| !d.as_os_str().is_empty()) {
            std::fs::create_dir_all(dir).map_err(|e| {
                Error::Unavailable(format!("creating directory {}: {e}", dir.display()))
            })?;
        }
        let mut conn = Connection::open(path).map_err(map_err)?;
        configure(&conn).map_err(map_err)?;
        migrate(&mut conn)?;
        let (jobs, queue) = mpsc::channel::<Job>();
        let members = chat::SharedMembersCache::default();
        let watched = members.clone();
        std::thread::Builder::new()
            .name("sqlite".into())
            .spawn(move || {
                while let Ok(job) = queue.recv() {
                    // Before the call answers, so that whoever it answers sees what another
                    // connection committed before it.
                    chat::notice_other_writers(&conn, &watched);
                    // A panicking call answers nobody (its caller gets an error); its
                    // transaction, if any, was rolled back as it unwound, so the connection
                    // is still sound for the next one.
                    let _ = std::panic::catch_unwind(AssertUnwindSafe(|| job(&mut conn)));
                }
            })
            .map_err(|e| Error::Unavailable(format!("starting the sqlite thread: {e}")))?;
        Ok(SqliteStore {
            jobs,
            sequencing: Default::default(),
            members,
        })
    }

    /// Queues `f` for the connection's thread without waiting for it.
    fn submit(&self, f: impl FnOnce(&mut Connection) + Send + 'static) -> Result<()> {
        self.jobs
            .send(Box::new(f))
            .map_err(|_| Error::Internal("the sqlite thread stopped".into()))
    }

    /// Runs `f` with the connection on its thread and maps its error.
    ///
    /// Every method of every trait this store implements goes through here, so they all share
    /// one connection, one after the other. `f` runs alone: open a transaction inside it when
    /// several statements must agree. Dropping the returned future does not cancel `f`.
    pub(crate) async fn call<T, F>(&self, f: F) -> Result<T>
    where
        F: FnOnce(&mut Connection) -> rusqlite::Result<T> + Send + 'static,
        T: Send + 'static,
    {
        let (reply, answer) = tokio::sync::oneshot::channel();
        self.submit(move |conn| {
            let _ = reply.send(f(conn));
        })?;
        answer
            .await
            .map_err(|_| Error::Internal("a sqlite call panicked".into()))?
            .map_err(map_err)
    }
}

/// Per-connection settings. WAL lets readers of other processes (a backup, the sqlite3 shell)
/// run during writes; `synchronous = NORMAL` is durable across application crashes in WAL
/// mode and only risks the last transactions on power loss.
fn configure(conn: &Connection) -> rusqlite::Result<()> {
    conn.busy_timeout(BUSY_TIMEOUT)?;
    let mode: String =
        conn.pragma_update_and_check(None, "journal_mode", "WAL", |row| row.get(0))?;
    if !mode.eq_ignore_ascii_case("wal") {
        tracing::warn!(%mode, "sqlite refused WAL journal mode");
    }
    conn.pragma_update(None, "synchronous", "NORMAL")?;
    conn.pragma_update(None, "foreign_keys", "ON")?;
    Ok(())
}

/// Applies the batches of [`MIGRATIONS`] the file has not had yet, all in one transaction.
fn migrate(conn: &mut Connection) -> Result<()> {
    // IMMEDIATE takes the write lock first, so two processes opening a fresh file at once
    // do not both migrate it.
    let tx = conn
        .transaction_with_behavior(TransactionBehavior::Immediate)
        .map_err(map_err)?;
    let version: i64 = tx
        .pragma_query_value(None, "user_version", |row| row.get(0))
        .map_err(map_err)?;
    let known = MIGRATIONS.len() as i64;
    if !(0..=known).contains(&version) {
        return Err(Error::Internal(format!(
            "database schema version {version} is not one this build knows (0..={known})"
        )));
    }
    for (i, batch) in MIGRATIONS.iter().enumerate().skip(version as usize) {
        tx.execute_batch(batch).map_err(map_err)?;
        tracing::info!(version = i + 1, "applied sqlite migration");
    }
    if version < SEARCH_VERSION && known >= SEARCH_VERSION {
        let indexed = search::rebuild(&tx).map_err(map_err)?;
        tracing::info!(indexed, "built the search index");
    }
    if version < known {
        tx.pragma_update(None, "user_version", known)
            .map_err(map_err)?;
    }
    tx.commit().map_err(map_err)
}

fn map_err(e: rusqlite::Error) -> Error {
    use rusqlite::ffi::{SQLITE_CONSTRAINT_PRIMARYKEY, SQLITE_CONSTRAINT_UNIQUE};
    match &e {
        rusqlite::Error::SqliteFailure(f, _) => match f.code {
            ErrorCode::ConstraintViolation
                if f.extended_code == SQLITE_CONSTRAINT_UNIQUE
                    || f.extended_code == SQLITE_CONSTRAINT_PRIMARYKEY =>
            {
                Error::Duplicate(e.to_string())
            }
            ErrorCode::DatabaseBusy
            | ErrorCode::DatabaseLocked
            | ErrorCode::CannotOpen
            | ErrorCode::SystemIoFailure => Error::Unavailable(e.to_string()),
            _ => Error::Internal(e.to_string()),
        },
        _ => Error::Internal(e.to_string()),
    }
}

const USER_COLUMNS: &str = "id, username, display_name, password_hash, created_at";

fn user_from_row(row: &Row<'_>) -> rusqlite::Result<UserRecord> {
    Ok(UserRecord {
        id: row.get(0)?,
        username: row.get(1)?,
        display_name: row.get(2)?,
        password_hash: row.get(3)?,
        created_at: Timestamp::from_millis(row.get(4)?),
    })
}

fn insert_token(conn: &Connection, token: &NewRefreshToken, now: i64) -> rusqlite::Result<()> {
    conn.execute(
        "INSERT INTO refresh_tokens (hash, family_id, user_id, used, expires_at, created_at)
         VALUES (?1, ?2, ?3, 0, ?4, ?5)",
        params![
            token.hash,
            token.family_id,
            token.user_id,
            token.expires_at.millis(),
            now
        ],
    )?;
    Ok(())
}

#[async_trait]
impl AuthStore for SqliteStore {
    async fn create_user(&self, user: &UserRecord) -> Result<()> {
        let user = user.clone();
        self.call(move |conn| {
            conn.execute(
                "INSERT INTO users (id, username, display_name, password_hash, created_at)
                 VALUES (?1, ?2, ?3, ?4, ?5)",
                params![
                    user.id,
                    user.username,
                    user.display_name,
                    user.password_hash,
                    user.created_at.millis()
                ],
            )?;
            Ok(())
        })
        .await
    }

    async fn user_by_username(&self, username: &str) -> Result<Option<UserRecord>> {
        let username = username.to_owned();
        self.call(move |conn| {
            conn.query_row(
                &format!("SELECT {USER_COLUMNS} FROM users WHERE username = ?1"),
                [username],
                user_from_row,
            )
            .optional()
        })
        .await
    }

    async fn user_by_id(&self, id: &str) -> Result<Option<UserRecord>> {
        let id = id.to_owned();
        self.call(move |conn| {
            conn.query_row(
                &format!("SELECT {USER_COLUMNS} FROM users WHERE id = ?1"),
                [id],
                user_from_row,
            )
            .optional()
        })
        .await
    }

    async fn search_users(&self, prefix: &str, limit: usize) -> Result<Vec<UserRecord>> {
        // A range rather than LIKE: no wildcards to escape, and it uses the username index.
        // Usernames are ASCII below DEL, so `prefix + DEL` bounds every name with that prefix.
        let low = prefix.to_owned();
        let high = format!("{prefix}\u{7f}");
        let limit = i64::try_from(limit).unwrap_or(i64::MAX);
        self.call(move |conn| {
            let mut stmt = conn.prepare_cached(&format!(
                "SELECT {USER_COLUMNS} FROM users
                 WHERE username >= ?1 AND username < ?2
                 ORDER BY username LIMIT ?3"
            ))?;
            let rows = stmt.query_map(params![low, high, limit], user_from_row)?;
            rows.collect()
        })
        .await
    }

    async fn create_family(&self, token: &NewRefreshToken) -> Result<()> {
        let token = token.clone();
        self.call(move |conn| {
            let now = Timestamp::now().millis();
            let tx = conn.transaction()?;
            tx.execute(
                "INSERT INTO token_families (id, user_id, revoked, created_at)
                 VALUES (?1, ?2, 0, ?3)",
                params![token.family_id, token.user_id, now],
            )?;
            insert_token(&tx, &token, now)?;
            tx.commit()
        })
        .await
    }

    async fn add_token(&self, token: &NewRefreshToken) -> Result<()> {
        let token = token.clone();
        self.call(move |conn| insert_token(conn, &token, Timestamp::now().millis()))
            .await
    }

    async fn consume_token(&self, hash: &str, now: Timestamp) -> Result<Consumed> {
        let hash = hash.to_owned();
        self.call(move |conn| {
            let tx = conn.transaction_with_behavior(TransactionBehavior::Immediate)?;
            // The conditional UPDATE is the atomic step: only one caller flips `used`.
            let claimed: Option<(String, String, i64)> = tx
                .query_row(
                    "UPDATE refresh_tokens SET used = 1 WHERE hash = ?1 AND used = 0
                     RETURNING family_id, user_id, expires_at",
                    [&hash],
                    |row| Ok((row.get(0)?, row.get(1)?, row.get(2)?)),
                )
                .optional()?;
            let outcome = match claimed {
                Some((family_id, user_id, expires_at)) => {
                    let revoked: Option<bool> = tx
                        .query_row(
                            "SELECT revoked FROM token_families WHERE id = ?1",
                            [&family_id],
                            |row| row.get(0),
                        )
                        .optional()?;
                    // A missing family counts as revoked: nothing vouches for the token.
                    if revoked.unwrap_or(true) || expires_at <= now.millis() {
                        Consumed::Dead
                    } else {
                        Consumed::Fresh { user_id, family_id }
                    }
                }
                None => tx
                    .query_row(
                        "SELECT family_id FROM refresh_tokens WHERE hash = ?1",
                        [&hash],
                        |row| row.get(0),
                    )
                    .optional()?
                    .map_or(Consumed::Unknown, |family_id| Consumed::Reused {
                        family_id,
                    }),
            };
            tx.commit()?;
            Ok(outcome)
        })
        .await
    }

    async fn revoke_family(&self, family_id: &str) -> Result<()> {
        let family_id = family_id.to_owned();
        self.call(move |conn| {
            conn.execute(
                "UPDATE token_families SET revoked = 1 WHERE id = ?1",
                [family_id],
            )?;
            Ok(())
        })
        .await
    }

    async fn token_family(&self, hash: &str) -> Result<Option<String>> {
        let hash = hash.to_owned();
        self.call(move |conn| {
            conn.query_row(
                "SELECT family_id FROM refresh_tokens WHERE hash = ?1",
                [hash],
                |row| row.get(0),
            )
            .optional()
        })
        .await
    }

    async fn ping(&self) -> Result<()> {
        self.call(|conn| conn.query_row("SELECT 1", [], |_| Ok(())))
            .await
    }
}
