//! The service as the standalone server builds it, in this process: a fresh SQLite store in a
//! temporary directory, the store's own sequencer, the embedded hand-off to the writer, and
//! in-process presence and rate limits, behind `socket_service::local`. Clients are
//! socketioxide's in-process test sockets ([`Client`]); HTTP calls go to the rooms router with
//! `oneshot`.

use std::collections::{HashMap, VecDeque};
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

use axum::body::Body;
use axum::http::{Method, Request, StatusCode, header};
use engineioxide::Packet;
use models::Timestamp;
use models::chat::RoomKind;
use serde_json::{Value, json};
use socket_service::{Deps, Limits, Service};
use socketioxide::adapter::LocalAdapter;
use store::{AuthStore, ChatStore, RoomRecord, SqliteStore, UserRecord};
use token::{Issuer, KeyPair, Verifier};
use tokio::sync::mpsc;
use tokio::time::Instant;
use tower::ServiceExt;
use uuid::Uuid;

/// How long anything expected may take to arrive.
pub const WAIT: Duration = Duration::from_secs(5);
/// How long to watch for something that must not arrive.
pub const QUIET: Duration = Duration::from_millis(300);

const ISSUER: &str = "test-issuer";
const AUDIENCE: &str = "test-audience";

/// The service over its own store, and what makes users and rooms.
pub struct App {
    pub service: Service<LocalAdapter>,
    pub store: SqliteStore,
    issuer: Issuer,
    _dir: TempDir,
}

/// A registered user and an access token for them.
#[derive(Debug, Clone)]
pub struct User {
    pub id: String,
    pub name: String,
    /// The unique name others mention them by (`@username`).
    pub username: String,
    pub token: String,
}

impl App {
    pub async fn new() -> App {
        App::with_limits(Limits::default()).await
    }

    /// Composes the service as `chat::run` (the standalone server) does.
    pub async fn with_limits(limits: Limits) -> App {
        service_kit::telemetry::init_for_tests();
        let dir = TempDir::new();
        let store = SqliteStore::open(dir.path().join("chat.db")).expect("open the SQLite store");
        let keys = KeyPair::generate();
        let verifier = Arc::new(
            Verifier::from_public_pem(keys.public_pem(), ISSUER, AUDIENCE).expect("public key"),
        );
        let issuer = Issuer::new(&keys, ISSUER, AUDIENCE, Duration::from_secs(600));
        let shared = Arc::new(store.clone());
        let writer = Arc::new(db_writer::Writer::new(shared.clone()));
        let deps = Deps {
            users: shared.clone(),
            store: shared.clone(),
            files: shared.clone(),
            search: shared.clone(),
            sequencer: Arc::new(sequencer::StoreSequencer::new(store.clone())),
            handoff: Arc::new(handoff::EmbeddedHandOff::new(
                Arc::new(db_writer::EmbeddedWriter(writer)),
                Vec::new(),
            )),
            presence: Arc::new(presence::LocalPresence::new()),
            limiter: Arc::new(rate_limit::LocalLimiter::new()),
        };
        let service = socket_service::local(deps, limits, verifier);
        App {
            service,
            store,
            issuer,
            _dir: dir,
        }
    }

    /// A new user in the store, with a token.
    pub async fn user(&self, name: &str) -> User {
        let id = Uuid::now_v7().simple().to_string();
        let username = format!("{name}{}", &id[24..]);
        self.store
            .create_user(&UserRecord {
                id: id.clone(),
                username: username.clone(),
                display_name: name.into(),
                password_hash: "unused".into(),
                created_at: Timestamp::now(),
            })
            .await
            .expect("create user");
        User {
            token: self.issuer.issue(&id, name),
            name: name.into(),
            username,
            id,
        }
    }

    /// A group owned by `owner` with `others` as members, written straight to the store
    /// (before anyone connects: sockets join their rooms when they connect).
    pub async fn group(&self, owner: &User, others: &[&User]) -> String {
        self.room_record(RoomKind::Group, "group", owner, others)
            .await
    }

    /// The direct room of two users, written straight to the store.
    pub async fn direct(&self, a: &User, b: &User) -> String {
        self.room_record(RoomKind::Direct, "", a, &[b]).await
    }

    async fn room_record(
        &self,
        kind: RoomKind,
        name: &str,
        owner: &User,
        others: &[&User],
    ) -> String {
        let id = Uuid::now_v7().simple().to_string();
        let now = Timestamp::now();
        let mut members = vec![owner.id.clone()];
        members.extend(others.iter().map(|u| u.id.clone()));
        let direct_key = (kind == RoomKind::Direct).then(|| {
            let mut pair = [owner.id.as_str(), others[0].id.as_str()];
            pair.sort();
            pair.join(":")
        });
        self.store
            .create_room(&RoomRecord {
                id: id.clone(),
                kind,
                name: name.into(),
                created_by: owner.id.clone(),
                created_at: now,
                direct_key,
                members,
                last_seq: 0,
                rev: 0,
                last_activity: now,
            })
            .await
            .expect("create room");
        id
    }

    /// A connected socket of `user`, past the handshake.
    pub async fn connect(&self, user: &User) -> Client {
        match self.connect_with(json!({"token": user.token})).await {
            Ok(mut client) => {
                client.user_id = user.id.clone();
                client
            }
            Err(refusal) => panic!("{} could not connect: {refusal}", user.name),
        }
    }

    /// A handshake with this `auth`: the connected client, or the CONNECT_ERROR's payload.
    pub async fn connect_with(&self, auth: Value) -> Result<Client, Value> {
        let (tx, rx) = self.service.io.new_dummy_sock("/", auth).await;
        let mut client = Client {
            user_id: String::new(),
            tx,
            rx,
            next_ack: 0,
            arrived: 0,
            events: VecDeque::new(),
            acks: HashMap::new(),
        };
        let deadline = Instant::now() + WAIT;
        loop {
            match client.recv_until(deadline).await {
                Some(Incoming::Connect) => return Ok(client),
                Some(Incoming::ConnectError(e)) => return Err(e),
                Some(other) => client.keep(other),
                None => panic!("no answer to the handshake within {WAIT:?}"),
            }
        }
    }

    /// An HTTP call to the rooms API as `user` (no token when `None`); a JSON body goes with
    /// `Content-Type: application/json`. Answers the status and the JSON body (`Null` when
    /// empty).
    pub async fn http(
        &self,
        method: Method,
        path: &str,
        user: Option<&User>,
        body: Option<Value>,
    ) -> (StatusCode, Value) {
        let mut request = Request::builder().method(method).uri(path);
        if let Some(user) = user {
            request = request.header(header::AUTHORIZATION, format!("Bearer {}", user.token));
        }
        let body = match body {
            Some(body) => {
                request = request.header(header::CONTENT_TYPE, "application/json");
                Body::from(body.to_string())
            }
            None => Body::empty(),
        };
        self.send_request(request.body(body).expect("request"))
            .await
    }

    /// Any request to the rooms API.
    pub async fn send_request(&self, request: Request<Body>) -> (StatusCode, Value) {
        let what = format!("{} {}", request.method(), request.uri());
        let response = self
            .service
            .router
            .clone()
            .oneshot(request)
            .await
            .expect("the router is infallible");
        let status = response.status();
        assert!(
            !status.is_server_error(),
            "{what} answered {status}: no call of the suite may get a 5xx"
        );
        let bytes = axum::body::to_bytes(response.into_body(), usize::MAX)
            .await
            .expect("response body");
        let body = if bytes.is_empty() {
            Value::Null
        } else {
            serde_json::from_slice(&bytes).unwrap_or_else(|e| {
                panic!(
                    "{what}: body is not JSON ({e}): {}",
                    String::from_utf8_lossy(&bytes)
                )
            })
        };
        (status, body)
    }
}

/// A packet the server sent, decoded.
#[derive(Debug)]
enum Incoming {
    Connect,
    ConnectError(Value),
    Event(String, Value),
    Ack(u64, Value),
    /// Anything else (an Engine.IO close, a Socket.IO disconnect).
    Other,
}

/// An event the server emitted to a client; `index` is its place in the order the client
/// received everything.
#[derive(Debug, Clone)]
pub struct Event {
    pub index: u64,
    pub name: String,
    pub payload: Value,
}

/// A Socket.IO client in this process: it speaks protocol 5 text packets (`2<id>[event,
/// payload]` out, `3<id>[answer]` and `2[event, payload]` in) with the server through
/// socketioxide's test socket, which stands in for Engine.IO: each packet is one
/// `engineioxide::Packet::Message`, without the Engine.IO `4` a WebSocket frame would start
/// with.
pub struct Client {
    pub user_id: String,
    tx: mpsc::Sender<Packet>,
    rx: mpsc::Receiver<Packet>,
    next_ack: u64,
    arrived: u64,
    /// Events received and not yet taken, in arrival order.
    events: VecDeque<Event>,
    acks: HashMap<u64, Value>,
}

impl Client {
    /// Emits `event` with an ack id; returns the id (see [`Client::ack`]).
    pub async fn emit(&mut self, event: &str, payload: Value) -> u64 {
        let data = json!([event, payload]).to_string();
        self.emit_raw(&data).await
    }

    /// Emits an event whose argument list (`["name", ...]`) is `data`, with an ack id.
    pub async fn emit_raw(&mut self, data: &str) -> u64 {
        self.next_ack += 1;
        let id = self.next_ack;
        self.send_text(format!("2{id}{data}")).await;
        id
    }

    /// Emits `event` without asking for an ack.
    pub async fn emit_no_ack(&mut self, event: &str, payload: Value) {
        self.send_text(format!("2{}", json!([event, payload])))
            .await;
    }

    async fn send_text(&mut self, text: String) {
        self.tx
            .send(Packet::Message(text.into()))
            .await
            .expect("the test socket is open");
    }

    /// The answer to the emit with ack id `id` (the ack's first argument).
    pub async fn ack(&mut self, id: u64) -> Value {
        let deadline = Instant::now() + WAIT;
        loop {
            if let Some(answer) = self.acks.remove(&id) {
                return answer;
            }
            match self.recv_until(deadline).await {
                Some(incoming) => self.keep(incoming),
                None => panic!("no ack {id} within {WAIT:?}"),
            }
        }
    }

    /// Emits `event` and waits for its ack.
    pub async fn call(&mut self, event: &str, payload: Value) -> Value {
        let id = self.emit(event, payload).await;
        self.ack(id).await
    }

    /// Emits raw arguments (`["name", ...]`) and waits for the ack.
    pub async fn call_raw(&mut self, data: &str) -> Value {
        let id = self.emit_raw(data).await;
        self.ack(id).await
    }

    /// The first event named `name` not taken yet, waiting for it if need be.
    pub async fn next(&mut self, name: &str) -> Event {
        let deadline = Instant::now() + WAIT;
        loop {
            if let Some(at) = self.events.iter().position(|e| e.name == name) {
                return self.events.remove(at).expect("present");
            }
            match self.recv_until(deadline).await {
                Some(incoming) => self.keep(incoming),
                None => panic!(
                    "user {}: no {name:?} event within {WAIT:?}; pending: {:?}",
                    self.user_id, self.events
                ),
            }
        }
    }

    /// The payload of the next `name` event.
    pub async fn next_payload(&mut self, name: &str) -> Value {
        self.next(name).await.payload
    }

    /// Watches for [`QUIET`] and asserts that no event named `name` arrived (nor was waiting).
    pub async fn assert_none(&mut self, name: &str) {
        assert_quiet(&mut [self], &[name]).await;
    }

    /// Takes in what has arrived so far, without waiting.
    fn drain(&mut self) {
        while let Ok(packet) = self.rx.try_recv() {
            let incoming = self.decode_packet(packet);
            self.keep(incoming);
        }
    }

    /// Asserts that no event named `name` is held.
    #[track_caller]
    fn assert_not_held(&self, name: &str) {
        let found: Vec<&Event> = self.events.iter().filter(|e| e.name == name).collect();
        assert!(
            found.is_empty(),
            "user {}: unexpected {name:?} events: {found:?}",
            self.user_id
        );
    }

    /// The payloads of the next `n` events named `name`.
    pub async fn take(&mut self, name: &str, n: usize) -> Vec<Value> {
        let mut taken = Vec::with_capacity(n);
        for _ in 0..n {
            taken.push(self.next_payload(name).await);
        }
        taken
    }

    /// Closes the transport, as a client that goes away does.
    pub async fn close(&mut self) {
        let _ = self.tx.send(Packet::Close).await;
    }

    fn keep(&mut self, incoming: Incoming) {
        match incoming {
            Incoming::Event(name, payload) => {
                self.arrived += 1;
                self.events.push_back(Event {
                    index: self.arrived,
                    name,
                    payload,
                });
            }
            Incoming::Ack(id, answer) => {
                let previous = self.acks.insert(id, answer);
                assert!(previous.is_none(), "ack {id} arrived twice");
            }
            Incoming::Connect | Incoming::ConnectError(_) => {
                panic!("a handshake answer after the handshake: {incoming:?}")
            }
            Incoming::Other => {}
        }
    }

    async fn recv_until(&mut self, deadline: Instant) -> Option<Incoming> {
        match tokio::time::timeout_at(deadline, self.rx.recv()).await {
            Err(_) => None,
            Ok(None) => panic!("user {}: the server closed the socket", self.user_id),
            Ok(Some(packet)) => Some(self.decode_packet(packet)),
        }
    }

    fn decode_packet(&self, packet: Packet) -> Incoming {
        match packet {
            Packet::Message(text) => decode(&text),
            _ => Incoming::Other,
        }
    }
}

/// Watches all of `clients` for [`QUIET`] (once, together) and asserts that none of them
/// received an event named in `names`.
pub async fn assert_quiet(clients: &mut [&mut Client], names: &[&str]) {
    tokio::time::sleep(QUIET).await;
    for client in clients.iter_mut() {
        client.drain();
        for name in names {
            client.assert_not_held(name);
        }
    }
}

/// Decodes a Socket.IO text packet of namespace `/`.
fn decode(text: &str) -> Incoming {
    let (kind, rest) = text.split_at(1);
    let digits = rest.chars().take_while(char::is_ascii_digit).count();
    let (id, json) = rest.split_at(digits);
    let parse = |json: &str| -> Value {
        serde_json::from_str(json).unwrap_or_else(|e| panic!("packet {text:?}: {e}"))
    };
    match kind {
        "0" => {
            parse(json);
            Incoming::Connect
        }
        "4" => Incoming::ConnectError(parse(json)),
        "2" => {
            let Value::Array(mut args) = parse(json) else {
                panic!("event packet without an argument list: {text:?}")
            };
            assert!(!args.is_empty(), "event packet without a name: {text:?}");
            let name = args.remove(0).as_str().expect("event name").to_string();
            assert!(
                args.len() <= 1,
                "event with more than one argument: {text:?}"
            );
            Incoming::Event(name, args.pop().unwrap_or(Value::Null))
        }
        "3" => {
            let id = id.parse().expect("ack id");
            let Value::Array(mut args) = parse(json) else {
                panic!("ack packet without an argument list: {text:?}")
            };
            assert_eq!(args.len(), 1, "an ack carries one answer: {text:?}");
            Incoming::Ack(id, args.remove(0))
        }
        _ => Incoming::Other,
    }
}

/// Asserts `{ok: true, ...}` and returns the answer.
#[track_caller]
pub fn ok(answer: &Value) -> &Value {
    assert_eq!(
        answer["ok"],
        json!(true),
        "expected a successful ack: {answer}"
    );
    assert!(
        answer.get("error").is_none(),
        "a successful ack with an error: {answer}"
    );
    answer
}

/// Asserts `{ok: false, error: {code, message}}` (with `retry_after_ms` only for
/// `rate_limited`) and returns the error object.
#[track_caller]
pub fn refused<'a>(answer: &'a Value, code: &str) -> &'a Value {
    assert_eq!(
        answer["ok"],
        json!(false),
        "expected a refusal ({code}): {answer}"
    );
    let keys: Vec<&String> = answer.as_object().expect("an object").keys().collect();
    assert_eq!(keys.len(), 2, "a refusal is {{ok, error}}: {answer}");
    error_detail(&answer["error"], code);
    &answer["error"]
}

/// Asserts the error object `{code, message[, retry_after_ms]}`.
#[track_caller]
pub fn error_detail(error: &Value, code: &str) {
    assert_eq!(error["code"], json!(code), "error code: {error}");
    let message = error["message"].as_str().unwrap_or_default();
    assert!(!message.is_empty(), "an error needs a message: {error}");
    let expected_keys = if code == "rate_limited" { 3 } else { 2 };
    assert_eq!(
        error.as_object().map(|o| o.len()),
        Some(expected_keys),
        "error fields: {error}"
    );
    if code == "rate_limited" {
        assert!(
            error["retry_after_ms"].as_u64().is_some_and(|ms| ms > 0),
            "rate_limited needs a positive retry_after_ms: {error}"
        );
    }
}

/// Asserts an HTTP error answer: the status and `{error: {code, message}}`.
#[track_caller]
pub fn http_error(answer: &(StatusCode, Value), status: StatusCode, code: &str) {
    assert_eq!(answer.0, status, "status; body: {}", answer.1);
    let keys: Vec<&String> = answer.1.as_object().expect("an object").keys().collect();
    assert_eq!(keys, ["error"], "an error body is {{error}}: {}", answer.1);
    error_detail(&answer.1["error"], code);
}

/// Asserts the wire form of a time: RFC 3339 UTC with milliseconds.
#[track_caller]
pub fn assert_time(value: &Value) {
    let s = value.as_str().unwrap_or_else(|| panic!("a time: {value}"));
    assert!(
        s.len() == 24 && s.ends_with('Z') && s.as_bytes()[10] == b'T' && s.as_bytes()[19] == b'.',
        "not an RFC 3339 time with milliseconds: {s}"
    );
}

/// A fresh client id.
pub fn client_id() -> String {
    Uuid::now_v7().to_string()
}

/// A directory removed when dropped.
struct TempDir(PathBuf);

impl TempDir {
    fn new() -> TempDir {
        let path = std::env::temp_dir().join(format!("socket-test-{}", Uuid::now_v7().simple()));
        std::fs::create_dir_all(&path).expect("create the temporary directory");
        TempDir(path)
    }

    fn path(&self) -> &Path {
        &self.0
    }
}

impl Drop for TempDir {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

/// Sends `body` with a fresh client id; returns the acked message.
pub async fn send(client: &mut Client, room_id: &str, body: &str) -> Value {
    let answer = client
        .call(
            "message:send",
            json!({"room_id": room_id, "client_id": client_id(), "body": body}),
        )
        .await;
    ok(&answer)["message"].clone()
}
