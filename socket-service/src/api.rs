//! The rooms API (`/api/rooms`): creating groups and direct rooms, membership, history and read
//! pointers; and message search (`/api/search/messages`). Membership changes take effect on live sockets at once: the user's sockets join or
//! leave the room's Socket.IO room and get `room:added` / `room:removed`, and every member gets
//! the room as it is now (`room:updated`).

use std::sync::Arc;

use axum::Router;
use axum::extract::{FromRef, Path, Query, State};
use axum::http::StatusCode;
use axum::routing::{delete, get, post, put};
use models::chat::{Notifications, Room, RoomInfo};
use serde::Deserialize;
use serde_json::{Value, json};
use service_kit::Json;
use socketioxide::SocketIo;
use socketioxide::adapter::Adapter;
use store::{Page, RoomRecord};
use token::{AuthUser, Verifier};

use crate::chat::{Chat, HistoryPage};
use crate::emit::Emitter;
use crate::{Error, Result};

/// What the rooms handlers share.
pub struct RoomsState<A: Adapter> {
    pub chat: Arc<Chat>,
    pub emit: Emitter<A>,
    pub verifier: Arc<Verifier>,
}

impl<A: Adapter> RoomsState<A> {
    pub fn new(chat: Arc<Chat>, io: SocketIo<A>, verifier: Arc<Verifier>) -> Self {
        RoomsState {
            chat,
            emit: Emitter::new(io),
            verifier,
        }
    }
}

impl<A: Adapter> Clone for RoomsState<A> {
    fn clone(&self) -> Self {
        RoomsState {
            chat: self.chat.clone(),
            emit: self.emit.clone(),
            verifier: self.verifier.clone(),
        }
    }
}

impl<A: Adapter> FromRef<RoomsState<A>> for Arc<Verifier> {
    fn from_ref(state: &RoomsState<A>) -> Self {
        state.verifier.clone()
    }
}

pub fn router<A: Adapter>(state: RoomsState<A>) -> Router {
    Router::new()
        .route("/api/rooms", post(create_group::<A>).get(list::<A>))
        .route("/api/rooms/direct", post(direct::<A>))
        .route("/api/rooms/{id}", get(get_room::<A>))
        .route("/api/rooms/{id}/members", post(add_member::<A>))
        .route(
            "/api/rooms/{id}/members/{user_id}",
            delete(remove_member::<A>),
        )
        .route("/api/rooms/{id}/messages", get(messages::<A>))
        .route("/api/rooms/{id}/reads", get(reads::<A>))
        .route("/api/rooms/{id}/notifications", put(notifications::<A>))
        .route("/api/rooms/{id}/threads/{message_id}", get(thread::<A>))
        .route("/api/search/messages", get(search::<A>))
        .layer(axum::extract::DefaultBodyLimit::max(64 * 1024))
        .with_state(state)
}

/// Puts every socket of `user_id` into the room and tells them, with who of the room's other
/// members is online: presence is otherwise sent at connect and on changes only.
async fn announce_added<A: Adapter>(state: &RoomsState<A>, user_id: &str, room: &Room) {
    state.emit.room_added(user_id, room).await;
    let others: Vec<String> = room
        .members
        .iter()
        .filter(|m| m.as_str() != user_id)
        .cloned()
        .collect();
    match state.chat.online_among(&others).await {
        Ok(online) => state.emit.presence_to_user(user_id, &online).await,
        Err(e) => tracing::warn!(error = %e, "presence of the new room's members unavailable"),
    }
}

/// The room as it is now, to every member.
async fn announce_updated<A: Adapter>(state: &RoomsState<A>, room: Room) {
    state.emit.room_updated(RoomInfo::from(room)).await;
}

async fn announce_created<A: Adapter>(state: &RoomsState<A>, record: &RoomRecord) -> Result<Room> {
    let room = state.chat.room_view(record.clone(), 0).await?;
    for member in &record.members {
        announce_added(state, member, &room).await;
    }
    Ok(room)
}

#[derive(Deserialize)]
struct CreateGroup {
    name: String,
    #[serde(default)]
    members: Vec<String>,
}

async fn create_group<A: Adapter>(
    State(state): State<RoomsState<A>>,
    caller: AuthUser,
    Json(body): Json<CreateGroup>,
) -> Result<(StatusCode, Json<Room>)> {
    let record = state
        .chat
        .create_group(&caller.id, &body.name, body.members)
        .await?;
    let room = announce_created(&state, &record).await?;
    Ok((StatusCode::CREATED, Json(room)))
}

#[derive(Deserialize)]
struct Direct {
    user_id: String,
}

async fn direct<A: Adapter>(
    State(state): State<RoomsState<A>>,
    caller: AuthUser,
    Json(body): Json<Direct>,
) -> Result<Json<Room>> {
    let (record, created) = state.chat.direct(&caller.id, &body.user_id).await?;
    if created {
        announce_created(&state, &record).await?;
    }
    Ok(Json(state.chat.room(&record.id, &caller.id).await?))
}

async fn list<A: Adapter>(
    State(state): State<RoomsState<A>>,
    caller: AuthUser,
) -> Result<Json<Value>> {
    let rooms = state.chat.rooms_of(&caller.id).await?;
    Ok(Json(json!({"rooms": rooms})))
}

async fn get_room<A: Adapter>(
    State(state): State<RoomsState<A>>,
    caller: AuthUser,
    Path(id): Path<String>,
) -> Result<Json<Room>> {
    Ok(Json(state.chat.room(&id, &caller.id).await?))
}

#[derive(Deserialize)]
struct AddMember {
    user_id: String,
}

async fn add_member<A: Adapter>(
    State(state): State<RoomsState<A>>,
    caller: AuthUser,
    Path(id): Path<String>,
    Json(body): Json<AddMember>,
) -> Result<StatusCode> {
    if state
        .chat
        .add_member(&caller.id, &id, &body.user_id)
        .await?
    {
        let room = state.chat.room(&id, &body.user_id).await?;
        announce_added(&state, &body.user_id, &room).await;
        // The members who were there learn whether the newcomer is online.
        let newcomer = std::slice::from_ref(&body.user_id);
        if state
            .chat
            .online_among(newcomer)
            .await
            .is_ok_and(|on| !on.is_empty())
        {
            state.emit.presence_to_room(&id, &body.user_id, true).await;
        }
        announce_updated(&state, room).await;
    }
    Ok(StatusCode::NO_CONTENT)
}

async fn remove_member<A: Adapter>(
    State(state): State<RoomsState<A>>,
    caller: AuthUser,
    Path((id, user_id)): Path<(String, String)>,
) -> Result<StatusCode> {
    state.chat.remove_member(&caller.id, &id, &user_id).await?;
    state.emit.room_removed(&user_id, &id).await;
    match state.chat.room_info(&id).await {
        Ok(Some(room)) => state.emit.room_updated(room).await,
        Ok(None) => {}
        Err(e) => tracing::warn!(error = %e, "room:updated not sent"),
    }
    Ok(StatusCode::NO_CONTENT)
}

#[derive(Deserialize)]
struct HistoryQuery {
    before_seq: Option<u64>,
    after_seq: Option<u64>,
    limit: Option<usize>,
}

impl HistoryQuery {
    /// The page asked for: after `after_seq` when given, else before `before_seq` (the latest).
    fn page(&self) -> Page {
        match self.after_seq {
            Some(after) => Page::After(after),
            None => Page::Before(self.before_seq),
        }
    }

    /// With both bounds, the messages between them: the page after `after_seq` cut at
    /// `before_seq` (nothing more to come when it was cut).
    fn keep_between(&self, page: &mut HistoryPage) {
        if let (Some(_), Some(before)) = (self.after_seq, self.before_seq) {
            let all = page.messages.len();
            page.messages.retain(|m| m.seq < before);
            if page.messages.len() < all {
                page.has_more = false;
            }
        }
    }
}

async fn messages<A: Adapter>(
    State(state): State<RoomsState<A>>,
    caller: AuthUser,
    Path(id): Path<String>,
    query: std::result::Result<Query<HistoryQuery>, axum::extract::rejection::QueryRejection>,
) -> Result<Json<Value>> {
    let Query(query) = query.map_err(|e| Error::Invalid(e.body_text()))?;
    let limit = Chat::page_limit(query.limit)?;
    state.chat.require_member(&id, &caller.id).await?;
    let mut page = state.chat.history(&id, query.page(), limit).await?;
    query.keep_between(&mut page);
    Ok(Json(
        json!({"messages": page.messages, "has_more": page.has_more}),
    ))
}

async fn reads<A: Adapter>(
    State(state): State<RoomsState<A>>,
    caller: AuthUser,
    Path(id): Path<String>,
) -> Result<Json<Value>> {
    let reads: Vec<Value> = state
        .chat
        .reads(&id, &caller.id)
        .await?
        .into_iter()
        .map(|(user_id, seq)| json!({"user_id": user_id, "seq": seq}))
        .collect();
    Ok(Json(json!({"reads": reads})))
}

/// The caller's own notification setting for the room.
async fn notifications<A: Adapter>(
    State(state): State<RoomsState<A>>,
    caller: AuthUser,
    Path(id): Path<String>,
    Json(setting): Json<Notifications>,
) -> Result<Json<Value>> {
    let setting = state
        .chat
        .set_notifications(&id, &caller.id, setting)
        .await?;
    Ok(Json(json!({"notifications": setting})))
}

/// A thread: its root and a page of its replies, ascending by `seq`.
async fn thread<A: Adapter>(
    State(state): State<RoomsState<A>>,
    caller: AuthUser,
    Path((id, message_id)): Path<(String, String)>,
    query: std::result::Result<Query<HistoryQuery>, axum::extract::rejection::QueryRejection>,
) -> Result<Json<Value>> {
    let Query(query) = query.map_err(|e| Error::Invalid(e.body_text()))?;
    let limit = Chat::page_limit(query.limit)?;
    state.chat.require_member(&id, &caller.id).await?;
    let (root, mut replies) = state
        .chat
        .thread(&id, &message_id, query.page(), limit)
        .await?;
    query.keep_between(&mut replies);
    Ok(Json(json!({
        "root": root,
        "messages": replies.messages,
        "has_more": replies.has_more,
    })))
}

#[derive(Deserialize)]
struct SearchParams {
    q: Option<String>,
    room_id: Option<String>,
    before: Option<String>,
    limit: Option<usize>,
}

/// Messages of the caller's rooms that a query finds, newest first.
async fn search<A: Adapter>(
    State(state): State<RoomsState<A>>,
    caller: AuthUser,
    query: std::result::Result<Query<SearchParams>, axum::extract::rejection::QueryRejection>,
) -> Result<Json<Value>> {
    let Query(p) = query.map_err(|e| Error::Invalid(e.body_text()))?;
    let page = state
        .chat
        .search(
            &caller.id,
            p.q.as_deref(),
            p.room_id.as_deref(),
            p.before.as_deref(),
            p.limit,
        )
        .await?;
    Ok(Json(json!({"messages": page.messages, "next": page.next})))
}
