//! socket-service: Socket.IO connections, the rooms API, sequencing, presence, typing and
//! read receipts.
//!
//! - [`chat`]: the logic, against the seams ([`chat::Deps`]), unaware of the run mode and of
//!   Socket.IO; one module per concern (sending, changes, history and sync, reads, typing,
//!   rooms).
//! - [`socket`]: the Socket.IO namespace: handshake authentication and the client events.
//! - [`api`]: the `/api/rooms` HTTP API.
//! - [`emit`]: every event clients receive, with its audience.
//! - [`membership`]: the cached membership check and its invalidation across nodes.
//! - [`broadcast_order`]: a room's messages leave this node in seq order.
//! - [`origin`]: the handshake's Origin allowlist.
//! - [`distributed`]: the node of the distributed mode (Redis, RabbitMQ, MongoDB).
//! - [`config`]: the limits ([`Limits`]).
//! - [`error`]: errors as HTTP responses and as Socket.IO acks.

pub mod api;
pub mod broadcast_order;
pub mod chat;
pub mod config;
mod detach;
pub mod distributed;
pub mod emit;
pub mod error;
pub mod membership;
pub mod origin;
pub mod socket;

use std::sync::Arc;

use axum::Router;
use socketioxide::adapter::LocalAdapter;
use socketioxide::{SocketIo, SocketIoBuilder};
use token::Verifier;

pub use chat::{Chat, Deps};
pub use config::Limits;
pub use error::{Error, Result};

/// The socket-service: its HTTP routes, the Socket.IO layer, and the handle to close it.
pub struct Service<A: socketioxide::adapter::Adapter> {
    /// The rooms API.
    pub router: Router,
    /// Closes every connection with a reason (graceful shutdown).
    pub io: SocketIo<A>,
    layer: socketioxide::layer::SocketIoLayer<A>,
    origins: Arc<config::Origins>,
}

impl<A: socketioxide::adapter::Adapter> Service<A> {
    /// Serves Socket.IO on `/socket.io/` in front of `app`, behind the Origin allowlist. Call
    /// it on the finished router (routes and fallback set): axum layers wrap only what exists.
    pub fn wrap(&self, app: Router) -> Router {
        app.layer(self.layer.clone())
            .layer(axum::middleware::from_fn(detach::detach))
            .layer(axum::middleware::from_fn_with_state(
                self.origins.clone(),
                origin::guard,
            ))
    }
}

/// The Socket.IO builder with the limits and the state every handler extracts.
fn builder(limits: &Limits, chat: Arc<Chat>, verifier: Arc<Verifier>) -> SocketIoBuilder {
    let payload = limits.max_payload_bytes;
    SocketIo::builder()
        .max_payload(payload as u64)
        // Packets queued per socket before emits to it fail: room for a burst of acks and
        // broadcasts to a client that sends many messages at once.
        .max_buffer_size(4096)
        // What each WebSocket reads at a time, allocated per connection: chat frames are
        // small, and a larger one only takes more reads.
        .ws_read_buffer_size(1024)
        .ws_max_message_size(payload)
        .ws_max_frame_size(payload)
        .with_state(chat)
        .with_state(verifier)
}

fn assemble<A: socketioxide::adapter::Adapter>(
    chat: Arc<Chat>,
    io: SocketIo<A>,
    layer: socketioxide::layer::SocketIoLayer<A>,
    verifier: Arc<Verifier>,
    limits: &Limits,
) -> Service<A> {
    let router = api::router(api::RoomsState::new(chat, io.clone(), verifier));
    Service {
        router,
        io,
        layer,
        origins: Arc::new(limits.allowed_origins.clone()),
    }
}

/// Builds the service with in-process fan-out (the standalone server).
pub fn local(deps: Deps, limits: Limits, verifier: Arc<Verifier>) -> Service<LocalAdapter> {
    let membership = Arc::new(membership::Membership::new(
        deps.store.clone(),
        Arc::new(membership::LocalInvalidator),
    ));
    let chat = Arc::new(Chat::new(deps, limits.clone(), membership));
    let (layer, io) = builder(&limits, chat.clone(), verifier.clone()).build_layer();
    socket::register(&io, &chat);
    assemble(chat, io, layer, verifier, &limits)
}

/// Graceful shutdown of the Socket.IO side: on `shutdown`, every connection's transport is
/// closed (an Engine.IO close, never a Socket.IO disconnect, which clients take as "do not
/// reconnect"), so clients reconnect by themselves, to another node, and `sync`. The listener
/// stays up a moment after, so that polling clients can fetch the close with their pending poll
/// before the server stops answering.
pub async fn close_then_drain<A: socketioxide::adapter::Adapter>(
    shutdown: tokio_util::sync::CancellationToken,
    io: SocketIo<A>,
) {
    shutdown.cancelled().await;
    io.close().await;
    tokio::time::sleep(std::time::Duration::from_millis(500)).await;
}
