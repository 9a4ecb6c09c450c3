//! Rooms as their members see them, groups and direct rooms, and membership changes.

use std::collections::HashSet;

use models::Timestamp;
use models::chat::{Notifications, Room, RoomInfo, RoomKind};
use store::{MemberRoom, RoomRecord};

use super::Chat;
use crate::{Error, Result};

/// A group holds at most this many members.
const MAX_MEMBERS: usize = 1000;

impl Chat {
    /// The ids of the rooms the user belongs to.
    pub async fn room_ids_of(&self, user_id: &str) -> Result<Vec<String>> {
        Ok(self
            .deps
            .store
            .rooms_of(user_id)
            .await?
            .into_iter()
            .map(|m| m.room.id)
            .collect())
    }

    /// The room as `user_id` sees it.
    pub async fn room_view(&self, record: RoomRecord, last_read_seq: u64) -> Result<Room> {
        let sequencer = &self.deps.sequencer;
        let (sequenced, changed) = tokio::try_join!(
            sequencer.last_seq(&record.id),
            sequencer.last_rev(&record.id)
        )?;
        let last_seq = record.last_seq.max(sequenced.unwrap_or(0));
        let rev = record.rev.max(changed.unwrap_or(0));
        let last_read_seq = last_read_seq.min(last_seq);
        Ok(Room {
            id: record.id,
            kind: record.kind,
            name: record.name,
            created_by: record.created_by,
            created_at: record.created_at,
            members: record.members,
            last_seq,
            rev,
            last_read_seq,
            unread: last_seq - last_read_seq,
            unread_mentions: 0,
            notifications: Notifications::default(),
        })
    }

    /// The room as `user_id` sees it, with their unread mentions.
    async fn member_view(
        &self,
        record: RoomRecord,
        user_id: &str,
        last_read_seq: u64,
    ) -> Result<Room> {
        let mut room = self.room_view(record, last_read_seq).await?;
        room.notifications = self.deps.store.notifications(&room.id, user_id).await?;
        if room.unread > 0 {
            room.unread_mentions = self
                .deps
                .store
                .unread_mentions(&room.id, user_id, room.last_read_seq)
                .await?;
        }
        Ok(room)
    }

    /// Sets the caller's notification setting for the room; answers it.
    pub async fn set_notifications(
        &self,
        room_id: &str,
        user_id: &str,
        setting: Notifications,
    ) -> Result<Notifications> {
        self.require_member(room_id, user_id).await?;
        self.deps
            .store
            .set_notifications(room_id, user_id, &setting)
            .await?;
        Ok(setting)
    }

    /// The room as every member sees it (`room:updated`), `None` when it does not exist.
    pub async fn room_info(&self, room_id: &str) -> Result<Option<RoomInfo>> {
        match self.deps.store.room(room_id).await? {
            Some(record) => Ok(Some(self.room_view(record, 0).await?.into())),
            None => Ok(None),
        }
    }

    pub async fn rooms_of(&self, user_id: &str) -> Result<Vec<Room>> {
        let mut rooms = Vec::new();
        for MemberRoom {
            room,
            last_read_seq,
        } in self.deps.store.rooms_of(user_id).await?
        {
            rooms.push(self.member_view(room, user_id, last_read_seq).await?);
        }
        Ok(rooms)
    }

    pub async fn room(&self, room_id: &str, user_id: &str) -> Result<Room> {
        let last_read = self.read_pointer(room_id, user_id).await?;
        let record = self
            .deps
            .store
            .room(room_id)
            .await?
            .ok_or(Error::NotFound("room"))?;
        self.member_view(record, user_id, last_read).await
    }

    async fn require_user(&self, user_id: &str) -> Result<()> {
        match self.deps.users.user_by_id(user_id).await? {
            Some(_) => Ok(()),
            None => Err(Error::Invalid(format!("unknown user {user_id:?}"))),
        }
    }

    /// A new group with the caller as owner; returns it and its members.
    pub async fn create_group(
        &self,
        owner: &str,
        name: &str,
        members: Vec<String>,
    ) -> Result<RoomRecord> {
        let name = models::text::checked_name(name, "name", 64).map_err(Error::Invalid)?;
        let mut seen = HashSet::new();
        let mut all = vec![owner.to_string()];
        seen.insert(owner.to_string());
        for member in members {
            if seen.insert(member.clone()) {
                self.require_user(&member).await?;
                all.push(member);
            }
        }
        if all.len() > MAX_MEMBERS {
            return Err(Error::Invalid(format!(
                "members: at most {MAX_MEMBERS} per room"
            )));
        }
        let now = Timestamp::now();
        let record = RoomRecord {
            id: uuid::Uuid::now_v7().simple().to_string(),
            kind: RoomKind::Group,
            name,
            created_by: owner.to_string(),
            created_at: now,
            direct_key: None,
            members: all,
            last_seq: 0,
            rev: 0,
            last_activity: now,
        };
        self.deps.store.create_room(&record).await?;
        Ok(record)
    }

    /// The direct room of the pair, created on first use; `true` when it was created now.
    pub async fn direct(&self, caller: &str, other: &str) -> Result<(RoomRecord, bool)> {
        if caller == other {
            return Err(Error::Invalid(
                "user_id: a direct room needs another user".into(),
            ));
        }
        self.require_user(other).await?;
        let mut pair = [caller, other];
        pair.sort();
        let key = pair.join(":");
        if let Some(room) = self.deps.store.direct_room(&key).await? {
            return Ok((room, false));
        }
        let now = Timestamp::now();
        let record = RoomRecord {
            id: uuid::Uuid::now_v7().simple().to_string(),
            kind: RoomKind::Direct,
            name: String::new(),
            created_by: caller.to_string(),
            created_at: now,
            direct_key: Some(key.clone()),
            members: vec![caller.to_string(), other.to_string()],
            last_seq: 0,
            rev: 0,
            last_activity: now,
        };
        match self.deps.store.create_room(&record).await {
            Ok(()) => Ok((record, true)),
            // Both users asked at once; the other request created it.
            Err(store::Error::Duplicate(_)) => {
                let room = self.deps.store.direct_room(&key).await?;
                Ok((room.ok_or(Error::NotFound("room"))?, false))
            }
            Err(e) => Err(e.into()),
        }
    }

    /// Adds `user_id` to a group (its owner only); `true` when added.
    pub async fn add_member(&self, caller: &str, room_id: &str, user_id: &str) -> Result<bool> {
        self.require_member(room_id, caller).await?;
        let room = self
            .deps
            .store
            .room(room_id)
            .await?
            .ok_or(Error::NotFound("room"))?;
        if room.kind == RoomKind::Direct {
            return Err(Error::Forbidden("a direct room has exactly two members"));
        }
        if room.created_by != caller {
            return Err(Error::Forbidden("only the room's owner may add members"));
        }
        if room.members.len() >= MAX_MEMBERS {
            return Err(Error::Invalid(format!(
                "members: at most {MAX_MEMBERS} per room"
            )));
        }
        self.require_user(user_id).await?;
        let added = self.deps.store.add_member(room_id, user_id).await?;
        self.membership.changed(room_id, user_id).await;
        Ok(added)
    }

    /// Removes a member: oneself (leaving), or anyone by the group's owner.
    pub async fn remove_member(&self, caller: &str, room_id: &str, user_id: &str) -> Result<()> {
        self.require_member(room_id, caller).await?;
        if caller != user_id {
            let room = self
                .deps
                .store
                .room(room_id)
                .await?
                .ok_or(Error::NotFound("room"))?;
            if room.kind == RoomKind::Direct || room.created_by != caller {
                return Err(Error::Forbidden(
                    "only the room's owner may remove other members",
                ));
            }
        }
        let removed = self.deps.store.remove_member(room_id, user_id).await?;
        self.membership.changed(room_id, user_id).await;
        if !removed {
            return Err(Error::NotFound("member"));
        }
        Ok(())
    }

    /// The user's rooms and the other users who share one of them, from one store read.
    pub async fn rooms_and_co_members(&self, user_id: &str) -> Result<(Vec<String>, Vec<String>)> {
        let memberships = self.deps.store.rooms_of(user_id).await?;
        let mut others = HashSet::new();
        let mut rooms = Vec::with_capacity(memberships.len());
        for MemberRoom { room, .. } in memberships {
            others.extend(room.members.into_iter().filter(|m| m != user_id));
            rooms.push(room.id);
        }
        let mut others: Vec<String> = others.into_iter().collect();
        others.sort();
        Ok((rooms, others))
    }
}
