//! The Socket.IO namespace `/`: the handshake's authentication and the client events, each
//! answered with an ack. The logic is [`Chat`]'s; what clients receive goes out through
//! [`Emitter`]. Generic over socketioxide's adapter, so the same handlers fan out in-process
//! (standalone) or through Redis (distributed).

use std::convert::Infallible;
use std::sync::Arc;

use models::socket::{
    DeletePayload, EditPayload, ReactionPayload, ReadPayload, SendPayload, SyncPayload,
    TypingPayload, client,
};
use serde::de::DeserializeOwned;
use serde_json::{Value, json};
use socketioxide::adapter::Adapter;
use socketioxide::extract::{AckSender, Extension, SocketRef, State, TryData};
use socketioxide::handler::{ConnectHandler, FromMessageParts};
use socketioxide::socket::{DisconnectReason, Socket};
use socketioxide::{ParserError, SocketIo};
use socketioxide_core::adapter::DefinedAdapter;
use token::Verifier;

use crate::chat::{Chat, EmitOrder, React, Turn};
use crate::emit::{Emitter, chat_room, user_room};
use crate::{Error, Result};

/// The authenticated user behind a socket.
#[derive(Debug, Clone)]
pub struct Caller {
    pub user_id: String,
    pub username: String,
}

/// Registers the namespace `/` with its authentication middleware, and makes `chat` broadcast
/// accepted messages through `io`.
pub fn register<A: Adapter + DefinedAdapter>(io: &SocketIo<A>, chat: &Chat) -> A::InitRes {
    let emitter = Emitter::new(io.clone());
    chat.broadcast_order().set_emitter(Arc::new(move |message| {
        let emitter = emitter.clone();
        Box::pin(async move { emitter.message(message).await })
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
    socket.on(client::SEND, on_send::<A>);
    socket.on(client::EDIT, on_edit::<A>);
    socket.on(client::DELETE, on_delete::<A>);
    socket.on(client::READ, on_read::<A>);
    socket.on(client::SYNC, on_sync::<A>);
    socket.on(client::TYPING, on_typing::<A>);
    socket.on(client::REACTION_ADD, on_reaction_add::<A>);
    socket.on(client::REACTION_REMOVE, on_reaction_remove::<A>);
    socket.on_disconnect(on_disconnect::<A>);
    socket.join(user_room(&claims.sub));
    socket.join(rooms.iter().map(|r| chat_room(r)).collect::<Vec<_>>());
    socket.extensions.insert(JoinedRooms {
        rooms: Arc::new(rooms),
        co_members: Arc::new(co_members),
    });
    socket.extensions.insert(Orders::default());
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
    let emit = Emitter::new(io);
    match chat
        .deps()
        .presence
        .connected(&caller.user_id, socket.id.as_str())
        .await
    {
        Ok(true) => emit.presence(&caller.user_id, &rooms, true).await,
        Ok(false) => {}
        Err(e) => tracing::warn!(error = %e, "presence not recorded"),
    }
    match chat.online_among(&co_members).await {
        Ok(online) => emit.presence_to_socket(&socket, &online),
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
                Emitter::new(io)
                    .presence(&caller.user_id, &rooms, false)
                    .await;
            }
        }
        Ok(false) => {}
        Err(e) => tracing::warn!(error = %e, "presence not updated"),
    }
}

/// The lines one socket's events keep their emit order in.
#[derive(Clone, Default)]
struct Orders {
    sends: Arc<EmitOrder>,
    typing: Arc<EmitOrder>,
}

/// A send's place in its socket's sends, taken as its packet arrives (extractors run in packet
/// order, before the handler's task is spawned).
struct SendTurn(Turn);

/// A typing event's place in its socket's typing events, taken likewise.
struct TypingTurn(Turn);

fn orders<A: Adapter>(s: &Socket<A>) -> Orders {
    s.extensions.get::<Orders>().unwrap_or_default()
}

impl<A: Adapter> FromMessageParts<A> for SendTurn {
    type Error = Infallible;

    fn from_message_parts(
        s: &Arc<Socket<A>>,
        _: &mut socketioxide_core::Value,
        _: &Option<i64>,
    ) -> std::result::Result<Self, Infallible> {
        Ok(SendTurn(orders(s).sends.ticket()))
    }
}

impl<A: Adapter> FromMessageParts<A> for TypingTurn {
    type Error = Infallible;

    fn from_message_parts(
        s: &Arc<Socket<A>>,
        _: &mut socketioxide_core::Value,
        _: &Option<i64>,
    ) -> std::result::Result<Self, Infallible> {
        Ok(TypingTurn(orders(s).typing.ticket()))
    }
}

/// A payload of the wrong shape is an `invalid_request` ack, never a silent drop.
fn parse<T: DeserializeOwned>(data: std::result::Result<Value, ParserError>) -> Result<T> {
    // serde would also read a struct from an array, its fields in order.
    let value = data
        .ok()
        .filter(Value::is_object)
        .ok_or_else(|| Error::Invalid("the payload must be a JSON object".into()))?;
    serde_json::from_value(value).map_err(|e| Error::Invalid(format!("invalid payload: {e}")))
}

/// Answers `{ok: true, ...fields of ok}` or `{ok: false, error}`.
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

async fn on_send<A: Adapter>(
    io: SocketIo<A>,
    SendTurn(turn): SendTurn,
    TryData(data): TryData<Value>,
    ack: AckSender<A>,
    State(chat): State<Arc<Chat>>,
    Extension(caller): Extension<Caller>,
) {
    let result = async {
        let payload: SendPayload = parse(data)?;
        // The broadcast happens inside, in seq order (see `broadcast_order`).
        let sent = chat.send(&caller.user_id, payload, turn).await?;
        let message = sent.message;
        let emitter = Emitter::new(io);
        if sent.fresh && chat.typing_ended_by_message(&message.room_id, &caller.user_id) {
            emitter
                .typing(&message.room_id, &caller.user_id, false)
                .await;
        }
        if let Some(root) = &sent.root {
            emitter.message_updated(root).await;
        }
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
        let message = chat.edit(&caller.user_id, payload).await?;
        Emitter::new(io).message_updated(&message).await;
        Ok(json!({"message": message}))
    }
    .await;
    answer(ack, result);
}

async fn on_reaction_add<A: Adapter>(
    io: SocketIo<A>,
    TryData(data): TryData<Value>,
    ack: AckSender<A>,
    State(chat): State<Arc<Chat>>,
    Extension(caller): Extension<Caller>,
) {
    on_reaction(React::Add, io, data, ack, chat, caller).await;
}

async fn on_reaction_remove<A: Adapter>(
    io: SocketIo<A>,
    TryData(data): TryData<Value>,
    ack: AckSender<A>,
    State(chat): State<Arc<Chat>>,
    Extension(caller): Extension<Caller>,
) {
    on_reaction(React::Remove, io, data, ack, chat, caller).await;
}

/// `reaction:add` and `reaction:remove`: members see the message with its new reactions; a
/// reaction that changed nothing (a retry) is answered without a broadcast.
async fn on_reaction<A: Adapter>(
    react: React,
    io: SocketIo<A>,
    data: std::result::Result<Value, ParserError>,
    ack: AckSender<A>,
    chat: Arc<Chat>,
    caller: Caller,
) {
    let result = async {
        let payload: ReactionPayload = parse(data)?;
        let (message, changed) = chat.react(&caller.user_id, payload, react).await?;
        if changed {
            Emitter::new(io).message_updated(&message).await;
        }
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
        if let Some(message) = chat.delete(&caller.user_id, payload).await? {
            Emitter::new(io).message_deleted(&message).await;
        }
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
            Emitter::new(io).read(&room_id, &caller.user_id, seq).await;
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
        let rooms = chat.sync(&caller.user_id, payload).await?;
        Ok(json!({"rooms": rooms}))
    }
    .await;
    answer(ack, result);
}

/// Relayed to the room's members but the typist, in the order the socket emitted them; see
/// [`crate::chat::typing`] for what is.
async fn on_typing<A: Adapter>(
    io: SocketIo<A>,
    TypingTurn(turn): TypingTurn,
    TryData(data): TryData<Value>,
    ack: AckSender<A>,
    State(chat): State<Arc<Chat>>,
    Extension(caller): Extension<Caller>,
) {
    let result = async {
        let payload: TypingPayload = parse(data)?;
        turn.wait().await;
        if chat.typing(&caller.user_id, &payload).await? {
            Emitter::new(io)
                .typing(&payload.room_id, &caller.user_id, payload.typing)
                .await;
        }
        Ok(json!({}))
    }
    .await;
    answer(ack, result);
}
