//! `App::spawn`: file-service's routes on `127.0.0.1:0` over a fresh SQLite file and the chosen
//! object storage, with socket-service's chat logic on the same store for sending and deleting
//! messages, and typed helpers for what a browser would do.

use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use file_service::{AppState, Settings};
use models::Timestamp;
use models::chat::RoomKind;
use models::socket::{DeletePayload, SendPayload};
use reqwest::StatusCode;
use serde_json::{Value, json};
use socket_service::chat::Turn;
use socket_service::membership::{LocalInvalidator, Membership};
use socket_service::{Chat, Deps, Limits};
use storage::{LocalStorage, ObjectStorage, S3Config, S3Storage};
use store::{AuthStore, ChatStore, RoomRecord, SqliteStore, UserRecord};
use token::{Issuer, KeyPair, Verifier};
use tokio::net::TcpListener;
use tokio_util::sync::CancellationToken;
use uuid::Uuid;

#[derive(Debug, Clone, Copy)]
pub enum Storage {
    S3,
    Local,
}

pub fn env(name: &str) -> String {
    std::env::var(name).unwrap_or_else(|_| {
        panic!("{name} is not set; run scripts/test, which starts the test servers")
    })
}

pub fn s3_config(bucket: String) -> S3Config {
    S3Config {
        endpoint: Some(env("CHAT_TEST_S3_ENDPOINT")),
        public_endpoint: None,
        region: env("CHAT_TEST_S3_REGION"),
        bucket,
        access_key_id: env("CHAT_TEST_S3_ACCESS_KEY"),
        secret_access_key: env("CHAT_TEST_S3_SECRET_KEY"),
        force_path_style: true,
        create_bucket: true,
    }
}

pub fn unique_bucket() -> String {
    format!("files-test-{}", Uuid::now_v7().simple())
}

pub struct User {
    pub id: String,
    pub token: String,
}

pub struct App {
    pub base: String,
    pub store: SqliteStore,
    pub storage: Arc<dyn ObjectStorage>,
    pub chat: Arc<Chat>,
    pub settings: Settings,
    issuer: Issuer,
    client: reqwest::Client,
    shutdown: CancellationToken,
    dir: PathBuf,
}

impl Drop for App {
    fn drop(&mut self) {
        self.shutdown.cancel();
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}

impl App {
    pub async fn spawn(storage: Storage) -> App {
        Self::spawn_with(storage, Settings::default()).await
    }

    pub async fn spawn_with(kind: Storage, settings: Settings) -> App {
        service_kit::telemetry::init_for_tests();
        let dir = std::env::temp_dir().join(format!("files-test-{}", Uuid::now_v7().simple()));
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let base = format!("http://{}", listener.local_addr().unwrap());
        let store = SqliteStore::open(dir.join("chat.db")).unwrap();
        let keys = KeyPair::generate();
        let verifier = Arc::new(
            Verifier::from_public_pem(keys.public_pem(), "test-issuer", "test-audience").unwrap(),
        );
        let issuer = Issuer::new(
            &keys,
            "test-issuer",
            "test-audience",
            Duration::from_secs(600),
        );
        let (storage, local): (Arc<dyn ObjectStorage>, Option<LocalStorage>) = match kind {
            Storage::S3 => (
                Arc::new(
                    S3Storage::connect(s3_config(unique_bucket()))
                        .await
                        .unwrap(),
                ),
                None,
            ),
            Storage::Local => {
                let local = LocalStorage::open(dir.join("files"), base.clone()).unwrap();
                (Arc::new(local.clone()), Some(local))
            }
        };
        let state = AppState {
            files: Arc::new(store.clone()),
            rooms: Arc::new(store.clone()),
            storage: storage.clone(),
            verifier,
            settings: Arc::new(settings.clone()),
        };
        let mut app = file_service::router(state).fallback(service_kit::http::not_found);
        if let Some(local) = local {
            app = app.merge(local.router());
        }
        let shutdown = CancellationToken::new();
        let stop = shutdown.clone();
        tokio::spawn(async move {
            axum::serve(listener, app)
                .with_graceful_shutdown(stop.cancelled_owned())
                .await
        });

        let shared = Arc::new(store.clone());
        let deps = Deps {
            users: shared.clone(),
            store: shared.clone(),
            files: shared.clone(),
            search: shared.clone(),
            sequencer: Arc::new(sequencer::StoreSequencer::new(store.clone())),
            handoff: Arc::new(handoff::EmbeddedHandOff::new(
                Arc::new(db_writer::Writer::new(shared.clone())),
                Vec::new(),
            )),
            presence: Arc::new(presence::LocalPresence::new()),
            limiter: Arc::new(rate_limit::LocalLimiter::new()),
        };
        let membership = Arc::new(Membership::new(shared, Arc::new(LocalInvalidator)));
        let chat = Arc::new(Chat::new(deps, Limits::default(), membership));
        App {
            base,
            store,
            storage,
            chat,
            settings,
            issuer,
            client: reqwest::Client::new(),
            shutdown,
            dir,
        }
    }

    pub async fn user(&self, name: &str) -> User {
        let id = Uuid::now_v7().simple().to_string();
        self.store
            .create_user(&UserRecord {
                id: id.clone(),
                username: format!("{name}{}", &id[24..]),
                display_name: name.into(),
                password_hash: "unused".into(),
                created_at: Timestamp::now(),
            })
            .await
            .unwrap();
        User {
            token: self.issuer.issue(&id, name),
            id,
        }
    }

    /// A group of `members`, created by the first.
    pub async fn room(&self, members: &[&User]) -> String {
        let id = Uuid::now_v7().simple().to_string();
        let now = Timestamp::now();
        self.store
            .create_room(&RoomRecord {
                id: id.clone(),
                kind: RoomKind::Group,
                name: "files".into(),
                created_by: members[0].id.clone(),
                created_at: now,
                direct_key: None,
                members: members.iter().map(|m| m.id.clone()).collect(),
                last_seq: 0,
                rev: 0,
                last_activity: now,
            })
            .await
            .unwrap();
        id
    }

    /// Every answer passes through here: no request in the suite may get a 5xx, and every
    /// error is in the contract's shape.
    async fn parse(response: reqwest::Response) -> (StatusCode, Value) {
        let status = response.status();
        assert!(!status.is_server_error(), "server error {status}");
        let text = response.text().await.unwrap();
        let body: Value = if text.is_empty() {
            Value::Null
        } else {
            serde_json::from_str(&text).unwrap_or_else(|_| panic!("not JSON: {text}"))
        };
        if !status.is_success() {
            assert!(
                body["error"]["code"].is_string() && body["error"]["message"].is_string(),
                "not the error shape: {body}"
            );
        }
        (status, body)
    }

    pub async fn post(&self, user: Option<&User>, path: &str, body: Value) -> (StatusCode, Value) {
        let mut request = self.client.post(format!("{}{path}", self.base)).json(&body);
        if let Some(user) = user {
            request = request.bearer_auth(&user.token);
        }
        Self::parse(request.send().await.unwrap()).await
    }

    pub async fn get(&self, user: &User, path: &str) -> (StatusCode, Value) {
        let request = self
            .client
            .get(format!("{}{path}", self.base))
            .bearer_auth(&user.token);
        Self::parse(request.send().await.unwrap()).await
    }

    /// `POST /api/files`.
    pub async fn create(
        &self,
        user: &User,
        room_id: &str,
        filename: &str,
        content_type: &str,
        size: usize,
    ) -> (StatusCode, Value) {
        self.post(
            Some(user),
            "/api/files",
            json!({"room_id": room_id, "filename": filename, "content_type": content_type, "size": size}),
        )
        .await
    }

    /// Declares a file and expects it accepted; returns `{file, upload}`.
    pub async fn declare(
        &self,
        user: &User,
        room_id: &str,
        name: &str,
        ty: &str,
        size: usize,
    ) -> Value {
        let (status, body) = self.create(user, room_id, name, ty, size).await;
        assert_eq!(status, StatusCode::CREATED, "{body}");
        body
    }

    pub async fn complete(&self, user: &User, id: &str) -> (StatusCode, Value) {
        self.post(
            Some(user),
            &format!("/api/files/{id}/complete"),
            Value::Null,
        )
        .await
    }

    /// Declares, uploads and completes a file; returns its id.
    pub async fn ready_file(&self, user: &User, room_id: &str, bytes: &[u8], ty: &str) -> String {
        let created = self
            .declare(user, room_id, "file.bin", ty, bytes.len())
            .await;
        let (status, text) = upload(&created["upload"], bytes.to_vec(), None).await;
        assert_eq!(status, 200, "{text}");
        let id = created["file"]["id"].as_str().unwrap().to_owned();
        let (status, body) = self.complete(user, &id).await;
        assert_eq!(status, StatusCode::OK, "{body}");
        id
    }

    pub async fn send(
        &self,
        user: &User,
        room_id: &str,
        attachments: &[&str],
    ) -> socket_service::Result<models::chat::Message> {
        self.chat
            .send(
                &user.id,
                SendPayload {
                    room_id: room_id.to_owned(),
                    client_id: Uuid::now_v7().simple().to_string(),
                    body: String::new(),
                    attachments: attachments.iter().map(|a| a.to_string()).collect(),
                    reply_to: None,
                    thread_id: None,
                },
                Turn::alone(),
            )
            .await
            .map(|sent| sent.message)
    }

    pub async fn delete(&self, user: &User, room_id: &str, message_id: &str) {
        self.chat
            .delete(
                &user.id,
                DeletePayload {
                    room_id: room_id.to_owned(),
                    message_id: message_id.to_owned(),
                },
            )
            .await
            .unwrap();
    }

    /// One pass of the sweeper, as its timer would run it.
    pub async fn sweep(&self, pending_ttl: Duration) -> usize {
        file_service::sweeper::sweep(&self.store, self.storage.as_ref(), pending_ttl)
            .await
            .unwrap()
    }

    pub async fn object_key(&self, id: &str) -> String {
        store::FileStore::file(&self.store, id)
            .await
            .unwrap()
            .unwrap()
            .object_key
    }
}

/// `PUT`s `body` to the upload URL with its headers, as a browser's `fetch` would (the length
/// comes from the body); `content_type` replaces the declared type when given.
pub async fn upload(upload: &Value, body: Vec<u8>, content_type: Option<&str>) -> (u16, String) {
    assert_eq!(upload["method"], "PUT");
    let mut request = reqwest::Client::new().put(upload["url"].as_str().unwrap());
    for (name, value) in upload["headers"].as_object().unwrap() {
        if name.eq_ignore_ascii_case("content-length") {
            continue;
        }
        let value = match (name.to_ascii_lowercase().as_str(), content_type) {
            ("content-type", Some(other)) => other,
            _ => value.as_str().unwrap(),
        };
        request = request.header(name, value);
    }
    let response = request.body(body).send().await.unwrap();
    let status = response.status().as_u16();
    (status, response.text().await.unwrap_or_default())
}

/// `size` bytes that start like a PNG and are otherwise pseudo-random.
pub fn png(size: usize) -> Vec<u8> {
    const SIGNATURE: &[u8] = b"\x89PNG\r\n\x1a\n\0\0\0\rIHDR";
    let mut state = 0x9e37_79b9_7f4a_7c15u64;
    let mut bytes: Vec<u8> = (0..size)
        .map(|_| {
            state ^= state << 13;
            state ^= state >> 7;
            state ^= state << 17;
            state as u8
        })
        .collect();
    bytes[..SIGNATURE.len()].copy_from_slice(SIGNATURE);
    bytes
}

pub fn code(body: &Value) -> &str {
    body["error"]["code"].as_str().unwrap_or_default()
}
