//! socket-service in this process, composed as the standalone server composes it (SQLite in a
//! temporary directory, the store's sequencer, the embedded hand-off to the writer, in-process
//! presence and rate limits), driven by in-process Socket.IO clients (socketioxide's test
//! sockets) and by requests to the rooms router. Each case asserts what clients see: acks
//! (`{ok: true, …}` or `{ok: false, error: {code, message}}`), the events each member
//! receives, HTTP statuses and bodies.
//!
//! - [`support`]: the service, users, rooms, the client and the assertions on answers.
//! - [`connect`]: the handshake and presence.
//! - [`send`]: `message:send`: success, retries, refusals, the rate limit, emit order.
//! - [`changes`]: `message:edit` and `message:delete`.
//! - [`mentions`]: `mentions` and `mentions_room`, computed by the server.
//! - [`notifications`]: each member's notification setting for a room.
//! - [`reactions`]: `reaction:add` and `reaction:remove`.
//! - [`replies`]: the preview of the message a reply answers.
//! - [`reads`]: `read`, the pointer and its events.
//! - [`threads`]: replies in a thread, the root's summary, the thread API.
//! - [`sync`]: `sync`, its cursors, paging and limits.
//! - [`typing`]: `typing`, its relay, order and rate.
//! - [`rooms_api`]: `/api/rooms` and the membership events it causes.
//! - [`shapes`]: payloads and bodies that are not objects; presence never to oneself.

mod changes;
mod connect;
mod mentions;
mod notifications;
mod reactions;
mod reads;
mod replies;
mod rooms_api;
mod search;
mod send;
mod shapes;
mod support;
mod sync;
mod threads;
mod typing;
