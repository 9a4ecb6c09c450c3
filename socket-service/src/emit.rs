//! Everything clients receive leaves through here: each [`ServerEvent`] with its audience, and
//! the Socket.IO rooms sockets are in.
//!
//! Socket.IO rooms: every socket joins `u:{user_id}` (all of that user's sockets) and
//! `r:{room_id}` for each chat room the user belongs to. Emits fan out in-process (standalone)
//! or through Redis (distributed), as the adapter `A` does.

use models::chat::{Message, Room, RoomInfo};
use models::socket::{MessageDeleted, Presence, Read, RoomRemoved, ServerEvent, Typing};
use socketioxide::SocketIo;
use socketioxide::adapter::Adapter;
use socketioxide::extract::SocketRef;
use socketioxide::operators::BroadcastOperators;
use socketioxide_core::adapter::RoomParam;

/// The Socket.IO room of all of one user's sockets.
pub fn user_room(user_id: &str) -> String {
    format!("u:{user_id}")
}

/// The Socket.IO room of one chat room's members.
pub fn chat_room(room_id: &str) -> String {
    format!("r:{room_id}")
}

/// Emits to clients through the Socket.IO server `io`.
pub struct Emitter<A: Adapter> {
    io: SocketIo<A>,
}

impl<A: Adapter> Clone for Emitter<A> {
    fn clone(&self) -> Self {
        Emitter {
            io: self.io.clone(),
        }
    }
}

impl<A: Adapter> Emitter<A> {
    pub fn new(io: SocketIo<A>) -> Self {
        Emitter { io }
    }

    /// Broadcast operators on namespace `/` for these rooms; `None` once the server is closing
    /// (socketioxide's `io.to` would panic then), so late emits are simply dropped.
    fn to(&self, rooms: impl RoomParam) -> Option<BroadcastOperators<A>> {
        Some(self.io.of("/")?.to(rooms))
    }

    async fn send(&self, ops: Option<BroadcastOperators<A>>, event: &ServerEvent) {
        let Some(ops) = ops else {
            return;
        };
        if let Err(e) = ops.emit(event.name(), event).await {
            tracing::warn!(error = %e, event = event.name(), "emit failed");
        }
    }

    /// A new message, to every member of its room.
    pub async fn message(&self, message: Message) {
        let room = chat_room(&message.room_id);
        self.send(self.to(room), &ServerEvent::Message(message))
            .await;
    }

    /// A changed message, to every member of its room.
    pub async fn message_updated(&self, message: &Message) {
        let room = chat_room(&message.room_id);
        self.send(self.to(room), &ServerEvent::MessageUpdated(message.clone()))
            .await;
    }

    /// A deleted message, to every member of its room.
    pub async fn message_deleted(&self, message: &Message) {
        let event = ServerEvent::MessageDeleted(MessageDeleted {
            room_id: message.room_id.clone(),
            message_id: message.id.clone(),
            seq: message.seq,
        });
        self.send(self.to(chat_room(&message.room_id)), &event)
            .await;
    }

    /// A member's read pointer moved, to every member.
    pub async fn read(&self, room_id: &str, user_id: &str, seq: u64) {
        let event = ServerEvent::Read(Read {
            room_id: room_id.to_owned(),
            user_id: user_id.to_owned(),
            seq,
        });
        self.send(self.to(chat_room(room_id)), &event).await;
    }

    /// Typing, to the room's members but the typist's own sockets.
    pub async fn typing(&self, room_id: &str, user_id: &str, typing: bool) {
        let event = ServerEvent::Typing(Typing {
            room_id: room_id.to_owned(),
            user_id: user_id.to_owned(),
            typing,
        });
        let ops = self
            .to(chat_room(room_id))
            .map(|ops| ops.except(user_room(user_id)));
        self.send(ops, &event).await;
    }

    /// A user went online or offline, to everyone sharing one of `rooms` with them but the
    /// user's own sockets.
    pub async fn presence(&self, user_id: &str, rooms: &[String], online: bool) {
        if rooms.is_empty() {
            return;
        }
        let targets: Vec<String> = rooms.iter().map(|r| chat_room(r)).collect();
        let event = ServerEvent::Presence(Presence {
            user_id: user_id.to_owned(),
            online,
        });
        let ops = self.to(targets).map(|ops| ops.except(user_room(user_id)));
        self.send(ops, &event).await;
    }

    /// Who of a user's co-members is online, to one socket that just connected.
    pub fn presence_to_socket(&self, socket: &SocketRef<A>, online: &[String]) {
        for user_id in online {
            let event = ServerEvent::Presence(Presence {
                user_id: user_id.clone(),
                online: true,
            });
            if let Err(e) = socket.emit(event.name(), &event) {
                tracing::debug!(error = %e, "presence not sent to the socket");
            }
        }
    }

    /// Presence of users, to every socket of one user.
    pub async fn presence_to_user(&self, user_id: &str, online: &[String]) {
        for other in online {
            let event = ServerEvent::Presence(Presence {
                user_id: other.clone(),
                online: true,
            });
            self.send(self.to(user_room(user_id)), &event).await;
        }
    }

    /// Presence of one user, to every member of a room but the user's own sockets.
    pub async fn presence_to_room(&self, room_id: &str, user_id: &str, online: bool) {
        let event = ServerEvent::Presence(Presence {
            user_id: user_id.to_owned(),
            online,
        });
        let ops = self
            .to(chat_room(room_id))
            .map(|ops| ops.except(user_room(user_id)));
        self.send(ops, &event).await;
    }

    /// Puts every socket of `user_id` into the room and gives them the room (`room:added`).
    pub async fn room_added(&self, user_id: &str, room: &Room) {
        let Some(ops) = self.to(user_room(user_id)) else {
            return;
        };
        if let Err(e) = ops.clone().join(chat_room(&room.id)).await {
            tracing::warn!(error = %e, "sockets did not join the room");
        }
        self.send(Some(ops), &ServerEvent::RoomAdded(room.clone()))
            .await;
    }

    /// Takes every socket of `user_id` out of the room and tells them (`room:removed`).
    pub async fn room_removed(&self, user_id: &str, room_id: &str) {
        let Some(ops) = self.to(user_room(user_id)) else {
            return;
        };
        if let Err(e) = ops.clone().leave(chat_room(room_id)).await {
            tracing::warn!(error = %e, "sockets did not leave the room");
        }
        let event = ServerEvent::RoomRemoved(RoomRemoved {
            room_id: room_id.to_owned(),
        });
        self.send(Some(ops), &event).await;
    }

    /// The room as it is now, to every member (`room:updated`).
    pub async fn room_updated(&self, room: RoomInfo) {
        let target = chat_room(&room.id);
        self.send(self.to(target), &ServerEvent::RoomUpdated(room))
            .await;
    }
}
