//! The Socket.IO namespace `/`: the handshake's authentication, the client events, and the
//! broadcasts they cause. Generic over socketioxide's adapter, so the same handlers fan out
//! in-process (standalone) or through Redis (distributed).
//!
//! Socket.IO rooms: every socket joins `u:{user_id}` (all of that user's sockets) and
//! `r:{room_id}` for each chat room the user belongs to.

use std::sync::Arc;

use models::chat::Message;
use serde::de::DeserializeOwned;
use serde_json::{Value, json};
use socketioxide::adapter::Adapter;
use socketioxide::extract::{AckSender, Extension, SocketRef, State, TryData};
use socketioxide::handler::ConnectHandler;
use socketioxide::socket::DisconnectReason;
use socketioxide::{ParserError, SocketIo};
use socketioxide_core::adapter::DefinedAdapter;
use token::Verifier;

use crate::chat::{
    Chat, DeletePayload, EditPayload, ReadPayload, SendPayload, SyncPayload, TypingPayload,
};
use crate::{Error, Result};

/// The authenticated user behind a socket.
#[derive(Debug, Clone)]
pub struct Caller {
    pub user_id: String,
    pub username: String,
}

/// The Socket.IO room of all of one user's sockets.
pub fn user_room(user_id: &str) -> String {
    format!("u:{user_id}")
}

/// The Socket.IO room of one chat room's members.
pub fn chat_room(room_id: &str) -> String {
    format!("r:{room_id}")
}

/// Broadcast operators on namespace `/` for these rooms; `None` once the server is closing
/// (socketioxide's `io.to` would panic then), so late emits are simply dropped.
pub fn to_rooms<A: Adapter>(
    io: &SocketIo<A>,
    rooms: impl socketioxide_core::adapter::RoomParam,
) -> Option<socketioxide::operators::BroadcastOperators<A>> {
    Some(io.of("/")?.to(rooms))
}

/// Registers the namespace `/` with its authentication middleware, and makes `chat` broadcast
/// accepted messages through `io`.
pub fn register<A: Adapter + DefinedAdapter>(io: &SocketIo<A>, chat: &Chat) -> A::InitRes {
    let emitter = io.clone();
    chat.ordering()
        .set_emitter(Arc::new(move |message: Message| {
            let io = emitter.clone();
            Box::pin(async move {
                broadcast(&io, &message.room_id, "message", &message).await;
            })
        }));
    io.ns("/", on_connect::<A>.with(authenticate::<A>))
}

/// Refusal of the handshake; the client's `connect_error` carries this message.
#[derive(Debug)]
enum Refusal {
    Unauthorized,
    Unavailable,
}

impl std::fmt::Display for Refusal {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self {
            Refusal::Unauthorized => "unauthorized",
            Refusal::Unavailable => "unavailable",
        })
    }
}

/// The user's chat rooms when the socket connected, and who shares them.
#[derive(Debug, Clone)]
struct JoinedRooms {
    rooms: Arc<Vec<String>>,
    co_members: Arc<Vec<String>>,
}

/// Runs before the client is told it is connected: checks the token, registers the event
/// handlers and puts the socket in its rooms, so that nothing sent right after `connect`, by
/// the client or to its rooms, can miss it.
async fn authenticate<A: Adapter>(
    socket: SocketRef<A>,
    TryData(auth): TryData<Value>,
    State(verifier): State<Arc<Verifier>>,
    State(chat): State<Arc<Chat>>,
) -> std::result::Result<(), Refusal> {
    let token = auth
        .ok()
        .and_then(|a| a.get("token").and_then(Value::as_str).map(str::to_string))
        .ok_or(Refusal::Unauthorized)?;
    let claims = verifier.verify(&token).map_err(|e| {
        tracing::debug!(reason = %e, "socket handshake refused");
        Refusal::Unauthorized
    })?;
    let (rooms, co_members) = chat.rooms_and_co_members(&claims.sub).await.map_err(|e| {
        tracing::warn!(error = %e, "could not load rooms; handshake refused");
        Refusal::Unavailable
    })?;
    // Handlers too are in place before the client may emit: an event that arrives before its
    // handler exists would be dropped without an ack.
    socket.on("message:send", on_send::<A>);
    socket.on("message:edit", on_edit::<A>);
    socket.on("message:delete", on_delete::<A>);
    socket.on("read", on_read::<A>);
    socket.on("sync", on_sync::<A>);
    socket.on("typing", on_typing::<A>);
    socket.on_disconnect(on_disconnect::<A>);
    socket.join(user_room(&claims.sub));
    socket.join(rooms.iter().map(|r| chat_room(r)).collect::<Vec<_>>());
    socket.extensions.insert(JoinedRooms {
        rooms: Arc::new(rooms),
        co_members: Arc::new(co_members),
    });
    socket.extensions.insert(Caller {
        user_id: claims.sub,
        username: claims.name,
    });
    Ok(())
}

async fn on_connect<A: Adapter>(
    socket: SocketRef<A>,
    io: SocketIo<A>,
    State(chat): State<Arc<Chat>>,
    Extension(caller): Extension<Caller>,
) {
    // Needed only now: not kept for the socket's whole life.
    let Some(JoinedRooms { rooms, co_members }) = socket.extensions.remove::<JoinedRooms>() else {
        return;
    };
    match chat
        .deps()
        .presence
        .connected(&caller.user_id, socket.id.as_str())
        .await
    {
        Ok(true) => announce_presence(&io, &caller.user_id, &rooms, true).await,
        Ok(false) => {}
        Err(e) => tracing::warn!(error = %e, "presence not recorded"),
    }
    match chat.online_among(&co_members).await {
        Ok(online) => {
            for user_id in online {
                let _ = socket.emit("presence", &json!({"user_id": user_id, "online": true}));
            }
        }
        Err(e) => tracing::warn!(error = %e, "presence snapshot unavailable"),
    }
}

async fn on_disconnect<A: Adapter>(
    socket: SocketRef<A>,
    io: SocketIo<A>,
    reason: DisconnectReason,
    State(chat): State<Arc<Chat>>,
) {
    let Some(caller) = socket.extensions.get::<Caller>() else {
        return;
    };
    tracing::debug!(user_id = %caller.user_id, %reason, "socket disconnected");
    match chat
        .deps()
        .presence
        .disconnected(&caller.user_id, socket.id.as_str())
        .await
    {
        Ok(true) => {
            if let Ok(rooms) = chat.room_ids_of(&caller.user_id).await {
                announce_presence(&io, &caller.user_id, &rooms, false).await;
            }
        }
        Ok(false) => {}
        Err(e) => tracing::warn!(error = %e, "presence not updated"),
    }
}

/// Tells everyone sharing a room with the user, but the user's own sockets.
pub async fn announce_presence<A: Adapter>(
    io: &SocketIo<A>,
    user_id: &str,
    rooms: &[String],
    online: bool,
) {
    if rooms.is_empty() {
        return;
    }
    let targets: Vec<String> = rooms.iter().map(|r| chat_room(r)).collect();
    let payload = json!({"user_id": user_id, "online": online});
    let Some(ops) = to_rooms(io, targets) else {
        return;
    };
    if let Err(e) = ops
        .except(user_room(user_id))
        .emit("presence", &payload)
        .await
    {
        tracing::warn!(error = %e, "presence broadcast failed");
    }
}

/// A payload of the wrong shape is an `invalid_request` ack, never a silent drop.
fn parse<T: DeserializeOwned>(data: std::result::Result<Value, ParserError>) -> Result<T> {
    let value = data.map_err(|_| Error::Invalid("the payload must be a JSON object".into()))?;
    serde_json::from_value(value).map_err(|e| Error::Invalid(format!("invalid payload: {e}")))
}

fn answer<A: Adapter>(ack: AckSender<A>, result: Result<Value>) {
    let body = match result {
        Ok(mut ok) => {
            ok["ok"] = json!(true);
            ok
        }
        Err(e) => e.to_ack(),
    };
    if let Err(e) = ack.send(&body) {
        tracing::debug!(error = %e, "ack not delivered");
    }
}

async fn broadcast<A: Adapter, T: serde::Serialize + ?Sized>(
    io: &SocketIo<A>,
    room_id: &str,
    event: &str,
    data: &T,
) {
    let Some(ops) = to_rooms(io, chat_room(room_id)) else {
        return;
    };
    if let Err(e) = ops.emit(event, data).await {
        tracing::warn!(error = %e, event, "broadcast failed");
    }
}

async fn on_send<A: Adapter>(
    TryData(data): TryData<Value>,
    ack: AckSender<A>,
    State(chat): State<Arc<Chat>>,
    Extension(caller): Extension<Caller>,
) {
    let result = async {
        let payload: SendPayload = parse(data)?;
        // The broadcast of a fresh message happens inside, in seq order (see `ordering`).
        let (message, _fresh) = chat.send(&caller.user_id, payload).await?;
        Ok(json!({"message": message}))
    }
    .await;
    answer(ack, result);
}

async fn on_edit<A: Adapter>(
    io: SocketIo<A>,
    TryData(data): TryData<Value>,
    ack: AckSender<A>,
    State(chat): State<Arc<Chat>>,
    Extension(caller): Extension<Caller>,
) {
    let result = async {
        let payload: EditPayload = parse(data)?;
        let message: Message = chat.edit(&caller.user_id, payload).await?;
        broadcast(&io, &message.room_id, "message:updated", &message).await;
        Ok(json!({"message": message}))
    }
    .await;
    answer(ack, result);
}

async fn on_delete<A: Adapter>(
    io: SocketIo<A>,
    TryData(data): TryData<Value>,
    ack: AckSender<A>,
    State(chat): State<Arc<Chat>>,
    Extension(caller): Extension<Caller>,
) {
    let result = async {
        let payload: DeletePayload = parse(data)?;
        let message = chat.delete(&caller.user_id, payload).await?;
        let event =
            json!({"room_id": message.room_id, "message_id": message.id, "seq": message.seq});
        broadcast(&io, &message.room_id, "message:deleted", &event).await;
        Ok(json!({}))
    }
    .await;
    answer(ack, result);
}

async fn on_read<A: Adapter>(
    io: SocketIo<A>,
    TryData(data): TryData<Value>,
    ack: AckSender<A>,
    State(chat): State<Arc<Chat>>,
    Extension(caller): Extension<Caller>,
) {
    let result = async {
        let payload: ReadPayload = parse(data)?;
        let room_id = payload.room_id.clone();
        if let Some(seq) = chat.read(&caller.user_id, payload).await? {
            let event = json!({"room_id": room_id, "user_id": caller.user_id, "seq": seq});
            broadcast(&io, &room_id, "read", &event).await;
        }
        Ok(json!({}))
    }
    .await;
    answer(ack, result);
}

async fn on_sync<A: Adapter>(
    TryData(data): TryData<Value>,
    ack: AckSender<A>,
    State(chat): State<Arc<Chat>>,
    Extension(caller): Extension<Caller>,
) {
    let result = async {
        let payload: SyncPayload = parse(data)?;
        let rooms: Vec<Value> = chat
            .sync(&caller.user_id, payload)
            .await?
            .into_iter()
            .map(|(room_id, page)| match page {
                Ok(page) => json!({"room_id": room_id, "messages": page.messages, "has_more": page.has_more}),
                Err(e) => {
                    let error = e.to_ack()["error"].clone();
                    json!({"room_id": room_id, "messages": [], "has_more": false, "error": error})
                }
            })
            .collect();
        Ok(json!({"rooms": rooms}))
    }
    .await;
    answer(ack, result);
}

/// Relayed to the room's members but the typist; over the rate, silently dropped.
async fn on_typing<A: Adapter>(
    io: SocketIo<A>,
    TryData(data): TryData<Value>,
    ack: AckSender<A>,
    State(chat): State<Arc<Chat>>,
    Extension(caller): Extension<Caller>,
) {
    let result = async {
        let payload: TypingPayload = parse(data)?;
        if chat.typing_allowed(&caller.user_id, &payload.room_id).await? {
            let event = json!({"room_id": payload.room_id, "user_id": caller.user_id, "typing": payload.typing});
            let Some(ops) = to_rooms(&io, chat_room(&payload.room_id)) else {
                return Ok(json!({}));
            };
            if let Err(e) = ops
                .except(user_room(&caller.user_id))
                .emit("typing", &event)
                .await
            {
                tracing::debug!(error = %e, "typing broadcast failed");
            }
        }
        Ok(json!({}))
    }
    .await;
    answer(ack, result);
}
