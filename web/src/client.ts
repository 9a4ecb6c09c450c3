// The live side of the app: one Socket.IO connection and the state every screen reads.
//
// - Messages are kept per room in `seq` order; a `seq` past the next expected one means
//   something was missed, and `sync` fetches it. Every (re)connect re-reads the room list and
//   syncs every room the app holds messages of, so what happened while offline shows up.
// - The sync cursor of a room is the last `seq` held without a hole and the highest `rev` (the
//   room's change counter) whose changes are all held. `sync` answers with the new messages and
//   with the held ones that changed since (`changed`), so an edit or a delete made while this
//   client was away shows too. An older server that answers without `changed` just skips that.
// - Read markers come from live `read` events and, when a room is loaded and on every
//   reconnect, from `GET /api/rooms/{id}/reads`, so they survive a reload.
// - Socket.IO reconnects by itself when the connection drops or a stopping server closes it;
//   the only server-side disconnect the app answers is `auth:expired` (a fresh token, then back).
// - Sending shows the message at once with a `client_id`; it is (re)sent with that same id
//   until acknowledged, so a retry never duplicates. Refused messages stay, marked failed.
// - The state is immutable: every change replaces the `State` object and notifies the
//   subscribers (React reads it with `useSyncExternalStore`).

import { io, type Socket } from "socket.io-client";
import {
  Api,
  ApiError,
  type FileInfo,
  type FileRef,
  type Message,
  type Notifications,
  type Room,
  type RoomInfo,
  type SearchPage,
  type Upload,
  type User,
} from "./api";

export type Connection = "connecting" | "online" | "offline";

export interface Pending {
  client_id: string;
  room_id: string;
  body: string;
  attachments: FileRef[];
  /** The message this one answers. */
  reply_to?: string | null;
  /** The thread it goes in. */
  thread_id?: string | null;
  created_at: string;
  status: "sending" | "failed";
  error?: string;
}

export interface Transfer {
  key: string;
  room_id: string;
  filename: string;
  /** 0..1 */
  progress: number;
  error?: string;
}

export interface History {
  messages: Message[];
  /** The latest page was fetched: the list ends at the room's last message. */
  loaded: boolean;
  hasOlder: boolean;
  loadingOlder: boolean;
}

export interface State {
  me: User;
  connection: Connection;
  rooms: Record<string, Room>;
  /** Most recent activity first. */
  order: string[];
  history: Record<string, History>;
  pending: Record<string, Pending[]>;
  transfers: Record<string, Transfer[]>;
  /** room → user → when the indicator lapses (ms since the epoch). */
  typing: Record<string, Record<string, number>>;
  online: Record<string, boolean>;
  /** room → user → the highest `seq` that user has read (live `read` events and `GET …/reads`). */
  reads: Record<string, Record<string, number>>;
  users: Record<string, User>;
  active: string | null;
  /** Thread root → its replies fetched with the thread API (live ones are in `history`). */
  threads: Record<string, Message[]>;
  /** Each room's latest message of its timeline, for the room list (held history wins). */
  latest: Record<string, Message>;
}

type Ack<T> = ({ ok: true } & T) | { ok: false; error: { code: string; message: string; retry_after_ms?: number } };

/** One room's place in a `sync`: what we hold (`after_seq`) and which changes we have (`after_rev`). */
interface SyncCursor {
  room_id: string;
  after_seq: number;
  after_rev: number;
}

/** One room of a `sync` answer; `changed`, `changed_more` and `rev` are absent from an older server. */
interface SyncRoom {
  room_id: string;
  messages: Message[];
  has_more: boolean;
  changed?: Message[];
  changed_more?: boolean;
  rev?: number;
  /** This room was refused (we are no longer a member, say); the others are answered. */
  error?: { code: string; message: string };
}

const ACK_TIMEOUT_MS = 15_000;
const TYPING_SHOWN_MS = 6_000;
const TYPING_IDLE_MS = 3_000;
const TYPING_REPEAT_MS = 2_500;
const PAGE = 50;
const USERS_KEY = "chat.users";

/**
 * A UUIDv7: the time it was made (milliseconds) followed by random bits. The server recognizes
 * a retry of a recent time-stamped id without looking it up in its database.
 */
function newClientId(): string {
  const bytes = new Uint8Array(16);
  crypto.getRandomValues(bytes);
  let ms = Date.now();
  for (let i = 5; i >= 0; i--) {
    bytes[i] = ms % 256;
    ms = Math.floor(ms / 256);
  }
  bytes[6] = 0x70 | (bytes[6]! & 0x0f); // version 7
  bytes[8] = 0x80 | (bytes[8]! & 0x3f); // RFC 9562 variant
  const hex = Array.from(bytes, (b) => b.toString(16).padStart(2, "0")).join("");
  return `${hex.slice(0, 8)}-${hex.slice(8, 12)}-${hex.slice(12, 16)}-${hex.slice(16, 20)}-${hex.slice(20)}`;
}

function emptyHistory(): History {
  return { messages: [], loaded: false, hasOlder: true, loadingOlder: false };
}

/**
 * The later of two copies of one message: the incoming one, unless the held one changed later
 * (a higher `rev`) or is deleted (a delete is final; `message:deleted` carries no `rev`).
 */
function newer(held: Message, incoming: Message): Message {
  if (held.deleted && !incoming.deleted) return held;
  if ((held.rev ?? 0) > (incoming.rev ?? 0)) return held;
  return incoming;
}

/** What went wrong with an upload, in words for the person who tried it. */
function uploadError(e: unknown): string {
  if (e instanceof ApiError) {
    if (e.code === "unsupported_media_type") return "This kind of file cannot be sent here.";
    if (e.code === "too_large") return "The file is larger than the server takes.";
    if (e.code === "rate_limited") return "Too many uploads at once; try again in a moment.";
    return e.message;
  }
  return e instanceof Error ? e.message : "The upload failed.";
}

/** Whether `m` mentions the user `me` by name, or the whole room. */
export function mentionsMe(m: Message, me: string): boolean {
  return !m.deleted && (m.mentions_room === true || (m.mentions ?? []).includes(me));
}

/**
 * Replies among `messages` to any of `changed` show the changed message's new state: the
 * server never changes a reply when its original changes, it tells us of the original only.
 */
function withPreviewsOf(messages: Message[], changed: Message[]): Message[] {
  const byId = new Map(changed.map((m) => [m.id, m]));
  return messages.map((m) => {
    const original = m.reply_to ? byId.get(m.reply_to) : undefined;
    if (!original) return m;
    return {
      ...m,
      reply_preview: {
        message_id: original.id,
        sender_id: original.sender_id,
        body: [...original.body].slice(0, 120).join(""),
        deleted: original.deleted,
      },
    };
  });
}

/** Merges `incoming` into `current` (both ascending by seq); the later copy of a seq wins. */
function merge(current: Message[], incoming: Message[]): Message[] {
  const bySeq = new Map<number, Message>();
  for (const m of current) bySeq.set(m.seq, m);
  for (const m of incoming) {
    const held = bySeq.get(m.seq);
    bySeq.set(m.seq, held ? newer(held, m) : m);
  }
  return [...bySeq.values()].sort((a, b) => a.seq - b.seq);
}

/** The people a message names: its sender, and whom a system message is about. */
function people(messages: Message[]): string[] {
  return messages.flatMap((m) => (m.system?.user_id ? [m.sender_id, m.system.user_id] : [m.sender_id]));
}

/** The last `seq` of the run of messages held without a hole from the first one held (0 when none). */
function contiguousEnd(messages: Message[]): number {
  let end = messages[0]?.seq ?? 0;
  for (const m of messages) {
    if (m.seq > end + 1) break;
    end = Math.max(end, m.seq);
  }
  return end;
}

export class ChatClient {
  private state: State;
  private readonly listeners = new Set<() => void>();
  private readonly socket: Socket;
  private readonly inFlight = new Set<string>();
  private readonly typingSent: Record<string, { at: number; timer?: ReturnType<typeof setTimeout> }> = {};
  private readonly lookups = new Map<string, Promise<void>>();
  private readonly urls = new Map<string, { url: Promise<string>; until: number }>();
  private sweeper: ReturnType<typeof setInterval> | undefined;
  private closed = false;
  /**
   * room → the highest `rev` whose changes this client holds: the `after_rev` of its next `sync`.
   * Raised by a finished `sync`, and by live `message:updated` events only while nothing is
   * outstanding (after a reconnect's catch-up, and outside a `sync` of that room), so a change
   * missed while away can never hide behind a later one seen live.
   */
  private readonly revs = new Map<string, number>();
  /** Page fetches under way, by what they fetch: asking for one again joins it. */
  private readonly fetching = new Map<string, Promise<void>>();
  /** room → how many `sync` calls of it are under way. */
  private readonly syncing = new Map<string, number>();
  /** room → the highest `rev` seen at all, whether or not everything before it is held. */
  private readonly seenRevs = new Map<string, number>();
  /** This connection's catch-up (`sync` of every held room) has finished. */
  private caughtUp = false;
  /** The server said `auth:expired`: its coming disconnect is to be answered with a fresh token. */
  private expired = false;

  constructor(
    readonly api: Api,
    me: User,
  ) {
    let users: Record<string, User> = {};
    try {
      users = JSON.parse(localStorage.getItem(USERS_KEY) ?? "{}") as Record<string, User>;
    } catch {
      users = {};
    }
    users[me.id] = me;
    this.state = {
      me,
      connection: "connecting",
      rooms: {},
      order: [],
      history: {},
      pending: {},
      transfers: {},
      typing: {},
      online: {},
      reads: {},
      users,
      active: null,
      threads: {},
      latest: {},
    };
    this.socket = io({
      auth: (cb) => {
        this.api.token().then(
          (token) => cb({ token }),
          () => cb({ token: "" }),
        );
      },
      autoConnect: false,
    });
    this.wire();
    window.addEventListener("offline", this.onOffline);
    window.addEventListener("online", this.onOnline);
    document.addEventListener("visibilitychange", this.onVisible);
    this.sweeper = setInterval(() => this.sweepTyping(), 1000);
    if (navigator.onLine) this.socket.connect();
    else this.set({ connection: "offline" });
    this.loadRooms().catch(() => undefined);
  }

  // ---- store ----------------------------------------------------------------------------

  getState = (): State => this.state;

  subscribe = (listener: () => void): (() => void) => {
    this.listeners.add(listener);
    return () => this.listeners.delete(listener);
  };

  private set(patch: Partial<State>): void {
    this.state = { ...this.state, ...patch };
    for (const l of this.listeners) l();
  }

  close(): void {
    this.closed = true;
    window.removeEventListener("offline", this.onOffline);
    window.removeEventListener("online", this.onOnline);
    document.removeEventListener("visibilitychange", this.onVisible);
    clearInterval(this.sweeper);
    this.socket.removeAllListeners();
    this.socket.disconnect();
  }

  // ---- connection -----------------------------------------------------------------------

  private wire(): void {
    const s = this.socket;
    s.on("connect", () => {
      this.expired = false;
      void this.connected();
    });
    // The server ends a socket whose access token lapsed or whose session was revoked, and says
    // so first. A fresh token brings us back (a revoked session fails the refresh and signs out).
    // Anything else (a dropped network, a stopping server closing the transport) Socket.IO
    // reconnects by itself.
    s.on("auth:expired", () => {
      this.expired = true;
    });
    s.on("disconnect", (reason: string) => {
      this.caughtUp = false;
      this.set({ connection: navigator.onLine ? "connecting" : "offline", online: {}, typing: {} });
      if (reason === "io server disconnect" && this.expired && !this.closed) {
        this.expired = false;
        this.api.refresh().then(
          () => !this.closed && navigator.onLine && s.connect(),
          () => undefined,
        );
      }
    });
    s.on("connect_error", (err: Error) => {
      this.set({ connection: navigator.onLine ? "connecting" : "offline" });
      if (err.message === "unauthorized" || !s.active) {
        // The server refused the handshake: a fresh token, then try again.
        this.api.refresh().then(
          () => !this.closed && setTimeout(() => s.connect(), 500),
          () => undefined,
        );
      }
    });
    s.on("message", (m: Message) => {
      // Whoever sent it has stopped typing it.
      const typists = this.state.typing[m.room_id];
      if (typists?.[m.sender_id] !== undefined) {
        const room = { ...typists };
        delete room[m.sender_id];
        this.set({ typing: { ...this.state.typing, [m.room_id]: room } });
      }
      this.receive([m]);
    });
    s.on("message:updated", (m: Message) => this.updated(m));
    s.on("message:deleted", (e: { room_id: string; message_id: string; seq: number }) => {
      const h = this.state.history[e.room_id];
      if (!h) return;
      const messages = h.messages.map((m) =>
        m.id === e.message_id ? { ...m, deleted: true, body: "", attachments: [], reactions: [] } : m,
      );
      const gone = messages.find((m) => m.id === e.message_id);
      const held = this.state.latest[e.room_id];
      if (held?.id === e.message_id) {
        this.set({ latest: { ...this.state.latest, [e.room_id]: { ...held, deleted: true, body: "", attachments: [] } } });
      }
      this.set({
        history: { ...this.state.history, [e.room_id]: { ...h, messages: gone ? withPreviewsOf(messages, [gone]) : messages } },
      });
    });
    s.on("typing", (e: { room_id: string; user_id: string; typing: boolean }) => {
      const room = { ...(this.state.typing[e.room_id] ?? {}) };
      if (e.typing) room[e.user_id] = Date.now() + TYPING_SHOWN_MS;
      else delete room[e.user_id];
      this.set({ typing: { ...this.state.typing, [e.room_id]: room } });
    });
    s.on("read", (e: { room_id: string; user_id: string; seq: number }) => {
      if (e.user_id === this.state.me.id) {
        const room = this.state.rooms[e.room_id];
        if (room && e.seq > room.last_read_seq) {
          const unread = Math.max(0, room.last_seq - e.seq);
          this.putRoom({ ...room, last_read_seq: e.seq, unread, unread_mentions: unread === 0 ? 0 : room.unread_mentions });
        }
        return;
      }
      const reads = { ...(this.state.reads[e.room_id] ?? {}) };
      reads[e.user_id] = Math.max(reads[e.user_id] ?? 0, e.seq);
      this.set({ reads: { ...this.state.reads, [e.room_id]: reads } });
    });
    s.on("presence", (e: { user_id: string; online: boolean }) => {
      this.set({ online: { ...this.state.online, [e.user_id]: e.online } });
    });
    s.on("room:added", (room: Room) => {
      this.putRoom(room);
      this.resolveUsers(room.members);
    });
    s.on("room:updated", (info: RoomInfo) => {
      const room = this.state.rooms[info.id];
      if (!room) {
        // Not on our list yet (its `room:added` may still be on the way): read the list.
        this.loadRooms().catch(() => undefined);
        return;
      }
      // Members, name and the like from the event; our own read state, and `last_seq` (raised
      // by the messages themselves, which count as unread), stay ours.
      const own = {
        last_seq: room.last_seq,
        last_read_seq: room.last_read_seq,
        unread: room.unread,
        unread_mentions: room.unread_mentions,
        notifications: room.notifications,
      };
      this.putRoom({ ...room, ...info, ...own });
      this.resolveUsers(info.members);
    });
    s.on("room:removed", (e: { room_id: string }) => {
      const rooms = { ...this.state.rooms };
      delete rooms[e.room_id];
      this.set({
        rooms,
        order: this.state.order.filter((id) => id !== e.room_id),
        active: this.state.active === e.room_id ? null : this.state.active,
      });
    });
  }

  private onOffline = (): void => {
    // The network is gone: say so now rather than after a missed heartbeat.
    this.socket.disconnect();
    this.set({ connection: "offline", online: {}, typing: {} });
  };

  private onOnline = (): void => {
    this.set({ connection: "connecting" });
    this.socket.connect();
  };

  private onVisible = (): void => {
    if (document.visibilityState === "visible" && this.state.active) this.markRead(this.state.active);
  };

  /** Catches up (retrying while connected), then says so and sends what waits. */
  private async connected(): Promise<void> {
    for (let attempt = 0; this.socket.connected; attempt++) {
      try {
        await this.catchUp();
        break;
      } catch {
        await new Promise((r) => setTimeout(r, Math.min(500 * 2 ** attempt, 10_000)));
      }
    }
    if (!this.socket.connected) return;
    this.set({ connection: "online" });
    this.flush();
  }

  /**
   * After a (re)connect: the room list, then everything after what we hold and every change to
   * what we hold, then the read markers we may have missed.
   */
  private async catchUp(): Promise<void> {
    await this.loadRooms();
    const loaded = Object.entries(this.state.history)
      .filter(([id, h]) => h.loaded && this.state.rooms[id])
      .map(([id]) => id);
    await this.sync(loaded.map((id) => this.cursor(id)));
    this.caughtUp = true;
    if (this.state.active) this.markRead(this.state.active);
    for (const id of loaded) this.loadReads(id).catch(() => undefined);
  }

  /** Where `sync` should continue a room from: the end of what we hold, and the changes we have. */
  private cursor(roomId: string): SyncCursor {
    return {
      room_id: roomId,
      after_seq: contiguousEnd(this.state.history[roomId]?.messages ?? []),
      after_rev: this.revs.get(roomId) ?? 0,
    };
  }

  /**
   * Brings the rooms up to date from their cursors: the new messages (paged while `has_more`)
   * and the held ones that changed (paged while `changed_more`, from the `rev` of the last one).
   * A room's cursor `rev` moves to the answer's `rev` once both are complete.
   */
  private async sync(rooms: SyncCursor[]): Promise<void> {
    if (rooms.length === 0) return;
    for (const r of rooms) this.syncing.set(r.room_id, (this.syncing.get(r.room_id) ?? 0) + 1);
    try {
      let todo = rooms;
      while (todo.length > 0) {
        const res = await this.emit<{ rooms: SyncRoom[] }>("sync", { rooms: todo });
        if (!res.ok) throw new ApiError(0, res.error.code, res.error.message);
        const asked = new Map(todo.map((c) => [c.room_id, c]));
        todo = [];
        for (const r of res.rooms) {
          const cursor = asked.get(r.room_id);
          if (!cursor || r.error) continue;
          const messages = r.messages ?? [];
          const changed = r.changed ?? [];
          this.receive(messages);
          this.applyChanged(r.room_id, changed);
          const lastMessage = messages.at(-1);
          const lastChange = changed.at(-1);
          const moreMessages = r.has_more && lastMessage !== undefined;
          const moreChanges = r.changed_more === true && lastChange?.rev !== undefined;
          if (!moreMessages && !moreChanges) {
            if (r.rev !== undefined) this.raiseRev(r.room_id, r.rev);
            continue;
          }
          const next: SyncCursor = {
            room_id: r.room_id,
            after_seq: Math.max(cursor.after_seq, lastMessage?.seq ?? 0),
            after_rev: moreChanges ? lastChange!.rev! : (r.rev ?? cursor.after_rev),
          };
          // Only ever forward: a server that says "more" without moving on is not asked again.
          if (next.after_seq > cursor.after_seq || next.after_rev > cursor.after_rev) todo.push(next);
        }
      }
    } finally {
      for (const r of rooms) {
        const n = (this.syncing.get(r.room_id) ?? 1) - 1;
        if (n > 0) this.syncing.set(r.room_id, n);
        else this.syncing.delete(r.room_id);
      }
    }
  }

  private raiseRev(roomId: string, rev: number | undefined): void {
    if (typeof rev === "number" && rev > (this.revs.get(roomId) ?? 0)) this.revs.set(roomId, rev);
  }

  private emit<T>(event: string, payload: unknown): Promise<Ack<T>> {
    return this.socket.timeout(ACK_TIMEOUT_MS).emitWithAck(event, payload) as Promise<Ack<T>>;
  }

  // ---- rooms ----------------------------------------------------------------------------

  async loadRooms(): Promise<void> {
    const { rooms } = await this.api.call<{ rooms: Room[] }>("GET", "/api/rooms");
    const byId: Record<string, Room> = {};
    for (const r of rooms) byId[r.id] = r;
    this.set({ rooms: byId, order: rooms.map((r) => r.id) });
    this.resolveUsers(rooms.flatMap((r) => r.members));
    void this.loadLatestMessages(rooms.filter((r) => r.last_seq > 0).map((r) => r.id));
  }

  /** The last message of each of these rooms, for the room list (a few requests at a time). */
  private async loadLatestMessages(roomIds: string[]): Promise<void> {
    const todo = roomIds.filter((id) => !this.state.latest[id] && !this.state.history[id]?.loaded);
    for (let i = 0; i < todo.length; i += 4) {
      const answers = await Promise.all(
        todo.slice(i, i + 4).map((id) =>
          this.api
            .call<{ messages: Message[] }>("GET", `/api/rooms/${id}/messages?limit=5`)
            .then((page) => ({ id, messages: page.messages }))
            .catch(() => null),
        ),
      );
      const latest = { ...this.state.latest };
      for (const a of answers) {
        const last = a?.messages.filter((m) => !m.thread_id).at(-1);
        if (a && last && (latest[a.id]?.seq ?? 0) < last.seq) latest[a.id] = last;
      }
      this.set({ latest });
      this.resolveUsers(people(Object.values(latest)));
    }
  }

  private putRoom(room: Room, bump = false): void {
    const order = this.state.order.includes(room.id)
      ? bump
        ? [room.id, ...this.state.order.filter((id) => id !== room.id)]
        : this.state.order
      : [room.id, ...this.state.order];
    this.set({ rooms: { ...this.state.rooms, [room.id]: room }, order });
  }

  open(roomId: string | null): void {
    this.set({ active: roomId });
    if (!roomId) return;
    const h = this.state.history[roomId];
    if (!h?.loaded) {
      this.loadLatest(roomId).catch(() => undefined);
    } else {
      this.markRead(roomId);
    }
  }

  private loadLatest(roomId: string): Promise<void> {
    return this.once(`latest:${roomId}`, () => this.fetchLatest(roomId));
  }

  /** Runs `start` unless a fetch under the same `key` is under way, which it joins. */
  private once(key: string, start: () => Promise<void>): Promise<void> {
    let running = this.fetching.get(key);
    if (!running) {
      running = start().finally(() => this.fetching.delete(key));
      this.fetching.set(key, running);
    }
    return running;
  }

  private async fetchLatest(roomId: string): Promise<void> {
    // The room's `rev` as known before the page is asked for: every change up to it is in the
    // page, so it is where this room's `sync` starts (a page is the messages' current state).
    const before = this.state.rooms[roomId]?.rev ?? 0;
    const fresh = (this.state.history[roomId]?.messages.length ?? 0) === 0;
    const reads = this.loadReads(roomId).catch(() => undefined);
    const page = await this.api.call<{ messages: Message[]; has_more: boolean }>(
      "GET",
      `/api/rooms/${encodeURIComponent(roomId)}/messages?limit=${PAGE}`,
    );
    const h = this.state.history[roomId] ?? emptyHistory();
    this.set({
      history: {
        ...this.state.history,
        [roomId]: { ...h, messages: merge(h.messages, page.messages), loaded: true, hasOlder: page.has_more },
      },
    });
    if (fresh) this.raiseRev(roomId, Math.max(before, ...page.messages.map((m) => m.rev ?? 0)));
    this.resolveUsers(people(page.messages));
    // Anything that arrived or changed between the page and now.
    const last = this.state.history[roomId]!.messages.at(-1)?.seq ?? 0;
    const room = this.state.rooms[roomId];
    const changedSince = (this.seenRevs.get(roomId) ?? 0) > (this.revs.get(roomId) ?? 0);
    if (room && (room.last_seq > last || changedSince) && this.socket.connected) {
      await this.sync([this.cursor(roomId)]);
    }
    if (this.state.active === roomId) this.markRead(roomId);
    await reads;
  }

  /** Every member's read pointer in the room (`GET /api/rooms/{id}/reads`), merged with what we have. */
  private async loadReads(roomId: string): Promise<void> {
    const res = await this.api.call<{ reads?: { user_id: string; seq: number }[] }>(
      "GET",
      `/api/rooms/${encodeURIComponent(roomId)}/reads`,
    );
    const reads = { ...(this.state.reads[roomId] ?? {}) };
    for (const r of res?.reads ?? []) {
      if (r.user_id === this.state.me.id || typeof r.seq !== "number") continue;
      reads[r.user_id] = Math.max(reads[r.user_id] ?? 0, r.seq);
    }
    this.set({ reads: { ...this.state.reads, [roomId]: reads } });
  }

  loadOlder(roomId: string): Promise<void> {
    return this.once(`older:${roomId}`, () => this.fetchOlder(roomId));
  }

  private async fetchOlder(roomId: string): Promise<void> {
    const h = this.state.history[roomId];
    if (!h || !h.loaded || !h.hasOlder) return;
    const first = h.messages[0]?.seq;
    if (first === undefined || first <= 1) {
      this.set({ history: { ...this.state.history, [roomId]: { ...h, hasOlder: false } } });
      return;
    }
    this.set({ history: { ...this.state.history, [roomId]: { ...h, loadingOlder: true } } });
    try {
      const page = await this.api.call<{ messages: Message[]; has_more: boolean }>(
        "GET",
        `/api/rooms/${encodeURIComponent(roomId)}/messages?before_seq=${first}&limit=${PAGE}`,
      );
      const now = this.state.history[roomId]!;
      this.set({
        history: {
          ...this.state.history,
          [roomId]: { ...now, messages: merge(now.messages, page.messages), hasOlder: page.has_more, loadingOlder: false },
        },
      });
      this.resolveUsers(people(page.messages));
    } catch (e) {
      const now = this.state.history[roomId]!;
      this.set({ history: { ...this.state.history, [roomId]: { ...now, loadingOlder: false } } });
      throw e;
    }
  }

  /**
   * Loads a room's older pages until it holds the message `id` or nothing older is left: what a
   * jump to an earlier message (a reply's original, a search hit) needs on screen.
   */
  async loadUntil(roomId: string, id: string): Promise<void> {
    if (!this.state.history[roomId]?.loaded) await this.loadLatest(roomId);
    for (;;) {
      const h = this.state.history[roomId];
      if (!h?.hasOlder || h.messages.some((m) => m.id === id)) return;
      const first = h.messages[0]?.seq;
      await this.loadOlder(roomId);
      // A page that brought nothing older would only be asked for again.
      if (this.state.history[roomId]?.messages[0]?.seq === first) return;
    }
  }

  async startDirect(userId: string): Promise<Room> {
    const room = await this.api.call<Room>("POST", "/api/rooms/direct", { user_id: userId });
    this.putRoom(room);
    return room;
  }

  /** Fetches a thread's replies (the latest page) and its root. */
  async loadThread(roomId: string, rootId: string): Promise<Message> {
    const { root, messages } = await this.api.call<{ root: Message; messages: Message[]; has_more: boolean }>(
      "GET",
      `/api/rooms/${roomId}/threads/${rootId}?limit=100`,
    );
    this.set({ threads: { ...this.state.threads, [rootId]: messages } });
    this.resolveUsers(people([root, ...messages]));
    return root;
  }

  /** Sets our notification setting for the room. */
  async setNotifications(roomId: string, setting: Notifications): Promise<void> {
    const { notifications } = await this.api.call<{ notifications: Notifications }>(
      "PUT",
      `/api/rooms/${roomId}/notifications`,
      setting,
    );
    const room = this.state.rooms[roomId];
    if (room) this.putRoom({ ...room, notifications });
  }

  async createGroup(name: string, members: string[]): Promise<Room> {
    const room = await this.api.call<Room>("POST", "/api/rooms", { name, members });
    this.putRoom(room);
    return room;
  }

  async searchUsers(q: string): Promise<User[]> {
    const { users } = await this.api.call<{ users: User[] }>("GET", `/api/users?q=${encodeURIComponent(q)}`);
    this.remember(users);
    return users.filter((u) => u.id !== this.state.me.id);
  }

  /** The messages of our rooms that `q` finds, newest first; `before` is the previous page's `next`. */
  async searchMessages(q: string, before: string | null): Promise<SearchPage> {
    const params = new URLSearchParams({ q });
    if (before) params.set("before", before);
    const page = await this.api.call<SearchPage>("GET", `/api/search/messages?${params}`);
    this.resolveUsers(people(page.messages));
    return page;
  }

  // ---- messages ---------------------------------------------------------------------------

  /** New messages from the server (live, a page, or a sync), for any number of rooms. */
  private receive(messages: Message[]): void {
    if (messages.length === 0) return;
    const history = { ...this.state.history };
    const pending = { ...this.state.pending };
    const latestNow = { ...this.state.latest };
    const gaps = new Set<string>();
    for (const m of messages) {
      const h = history[m.room_id] ?? emptyHistory();
      if (h.loaded && m.seq > (h.messages.at(-1)?.seq ?? 0) + 1) gaps.add(m.room_id);
      history[m.room_id] = { ...h, messages: merge(h.messages, [m]) };
      if (m.sender_id === this.state.me.id && pending[m.room_id]) {
        pending[m.room_id] = pending[m.room_id]!.filter((p) => p.client_id !== m.client_id);
      }
      if (!m.thread_id && m.kind !== "system" && (latestNow[m.room_id]?.seq ?? 0) <= m.seq) latestNow[m.room_id] = m;
      const room = this.state.rooms[m.room_id];
      if (room && m.seq > room.last_seq) {
        // Our own messages are not news to us (the server counts them until we say `read`),
        // and neither is a record of a room change.
        const news = m.sender_id === this.state.me.id ? 0 : m.seq - room.last_seq - (m.kind === "system" ? 1 : 0);
        const mentioned = m.sender_id !== this.state.me.id && mentionsMe(m, this.state.me.id) ? 1 : 0;
        this.putRoom(
          { ...room, last_seq: m.seq, unread: room.unread + news, unread_mentions: (room.unread_mentions ?? 0) + mentioned },
          true,
        );
      } else if (!room) {
        // A room we were added to but have not heard of yet.
        this.loadRooms().catch(() => undefined);
      }
    }
    this.set({ history, pending, latest: latestNow });
    this.resolveUsers(people(messages));
    // The cursor is taken after the merge: it ends before the hole, so `sync` fills it.
    if (gaps.size > 0 && this.socket.connected) {
      this.sync([...gaps].map((id) => this.cursor(id))).catch(() => undefined);
    }
    const active = this.state.active;
    if (active && messages.some((m) => m.room_id === active)) this.markRead(active);
  }

  /**
   * A message's new state (`message:updated`, or the answer to our own edit): replaces the held
   * copy unless that one is later. One past the end of what we hold is new to us.
   */
  private updated(m: Message): void {
    const held = this.state.latest[m.room_id];
    if (held?.id === m.id) this.set({ latest: { ...this.state.latest, [m.room_id]: newer(held, m) } });
    if (typeof m.rev === "number" && m.rev > (this.seenRevs.get(m.room_id) ?? 0)) {
      this.seenRevs.set(m.room_id, m.rev);
    }
    const h = this.state.history[m.room_id];
    const i = h ? h.messages.findIndex((x) => x.id === m.id) : -1;
    if (h && i >= 0) {
      const messages = withPreviewsOf([...h.messages], [m]);
      messages[i] = newer(messages[i]!, m);
      this.set({ history: { ...this.state.history, [m.room_id]: { ...h, messages } } });
    } else if (h?.loaded && m.seq > (h.messages.at(-1)?.seq ?? 0)) {
      // A message we never got (a gap makes `receive` sync).
      this.receive([m]);
    }
    // An older message we do not hold is left: a page of it comes in its current state.
    // The cursor moves only to the next `rev` (a room's revs are contiguous): changes relayed by
    // different nodes may arrive out of order, and one skipped here is fetched by the next sync.
    const cursorRev = this.revs.get(m.room_id) ?? 0;
    if (this.caughtUp && !this.syncing.has(m.room_id) && m.rev === cursorRev + 1) this.raiseRev(m.room_id, m.rev);
  }

  /** A `sync`'s `changed`: the held copies of those messages become their current state. */
  private applyChanged(roomId: string, changed: Message[]): void {
    const h = this.state.history[roomId];
    if (!h || changed.length === 0) return;
    const byId = new Map(changed.map((m) => [m.id, m]));
    let touched = false;
    const messages = withPreviewsOf(
      h.messages.map((m) => {
        const now = byId.get(m.id);
        if (!now) return m;
        touched = true;
        return newer(m, now);
      }),
      changed,
    );
    if (touched) this.set({ history: { ...this.state.history, [roomId]: { ...h, messages } } });
    this.resolveUsers(people(changed));
  }

  /** Tells the server (and our other tabs) the active room is read up to its last message. */
  markRead(roomId: string): void {
    const room = this.state.rooms[roomId];
    if (!room || document.visibilityState === "hidden") return;
    const h = this.state.history[roomId];
    const seq = Math.max(room.last_seq, h?.messages.at(-1)?.seq ?? 0);
    if (room.unread === 0 && room.last_read_seq >= seq) return;
    this.putRoom({ ...room, unread: 0, unread_mentions: 0, last_read_seq: seq });
    if (this.socket.connected && seq > 0) void this.emit("read", { room_id: roomId, seq }).catch(() => undefined);
  }

  send(
    roomId: string,
    body: string,
    attachments: FileRef[] = [],
    replyTo: string | null = null,
    threadId: string | null = null,
  ): void {
    const p: Pending = {
      client_id: newClientId(),
      room_id: roomId,
      body,
      attachments,
      reply_to: replyTo,
      thread_id: threadId,
      created_at: new Date().toISOString(),
      status: "sending",
    };
    this.setPending(roomId, [...(this.state.pending[roomId] ?? []), p]);
    this.stopTyping(roomId);
    this.flush();
  }

  /** Sends a failed message again, with its original `client_id`. */
  retry(roomId: string, clientId: string): void {
    this.updatePending(roomId, clientId, { status: "sending", error: undefined });
    this.flush();
  }

  discard(roomId: string, clientId: string): void {
    this.setPending(
      roomId,
      (this.state.pending[roomId] ?? []).filter((p) => p.client_id !== clientId),
    );
  }

  /** Sends every waiting message, one room at a time in order, while connected. */
  private flush(): void {
    if (!this.socket.connected) return;
    for (const [roomId, list] of Object.entries(this.state.pending)) {
      const next = list.find((p) => p.status === "sending");
      if (!next || this.inFlight.has(roomId)) continue;
      this.inFlight.add(roomId);
      this.deliver(next)
        .catch(() => undefined)
        .finally(() => {
          this.inFlight.delete(roomId);
          this.flush();
        });
    }
  }

  private async deliver(p: Pending): Promise<void> {
    const payload: Record<string, unknown> = { room_id: p.room_id, client_id: p.client_id, body: p.body };
    if (p.attachments.length > 0) payload.attachments = p.attachments.map((a) => a.id);
    if (p.reply_to) payload.reply_to = p.reply_to;
    if (p.thread_id) payload.thread_id = p.thread_id;
    let res: Ack<{ message: Message }>;
    try {
      res = await this.emit<{ message: Message }>("message:send", payload);
    } catch {
      // No answer in time: the connection is in trouble. Keep it; a reconnect resends it.
      if (this.socket.connected) this.updatePending(p.room_id, p.client_id, { status: "failed", error: "No answer from the server." });
      return;
    }
    if (res.ok) {
      this.receive([res.message]);
      return;
    }
    if (res.error.code === "rate_limited") {
      await new Promise((r) => setTimeout(r, res.error.retry_after_ms ?? 1000));
      return;
    }
    this.updatePending(p.room_id, p.client_id, { status: "failed", error: res.error.message });
  }

  private setPending(roomId: string, list: Pending[]): void {
    this.set({ pending: { ...this.state.pending, [roomId]: list } });
  }

  private updatePending(roomId: string, clientId: string, patch: Partial<Pending>): void {
    this.setPending(
      roomId,
      (this.state.pending[roomId] ?? []).map((p) => (p.client_id === clientId ? { ...p, ...patch } : p)),
    );
  }

  async edit(roomId: string, messageId: string, body: string): Promise<void> {
    const res = await this.emit<{ message: Message }>("message:edit", { room_id: roomId, message_id: messageId, body });
    if (!res.ok) throw new ApiError(0, res.error.code, res.error.message);
    this.updated(res.message);
  }

  /** Adds (or, with `add` false, takes back) the user's reaction with `emoji`. */
  async react(roomId: string, messageId: string, emoji: string, add: boolean): Promise<void> {
    const event = add ? "reaction:add" : "reaction:remove";
    const res = await this.emit<{ message: Message }>(event, { room_id: roomId, message_id: messageId, emoji });
    if (!res.ok) throw new ApiError(0, res.error.code, res.error.message);
    this.updated(res.message);
  }

  async remove(roomId: string, messageId: string): Promise<void> {
    const res = await this.emit<object>("message:delete", { room_id: roomId, message_id: messageId });
    if (!res.ok) throw new ApiError(0, res.error.code, res.error.message);
  }

  // ---- typing -----------------------------------------------------------------------------

  /** The user typed in `roomId`'s composer. */
  typing(roomId: string): void {
    const t = (this.typingSent[roomId] ??= { at: 0 });
    const now = Date.now();
    if (now - t.at > TYPING_REPEAT_MS && this.socket.connected) {
      t.at = now;
      this.socket.emit("typing", { room_id: roomId, typing: true });
    }
    clearTimeout(t.timer);
    t.timer = setTimeout(() => this.stopTyping(roomId), TYPING_IDLE_MS);
  }

  private stopTyping(roomId: string): void {
    const t = this.typingSent[roomId];
    if (!t || t.at === 0) return;
    clearTimeout(t.timer);
    t.at = 0;
    if (this.socket.connected) this.socket.emit("typing", { room_id: roomId, typing: false });
  }

  private sweepTyping(): void {
    const now = Date.now();
    let changed = false;
    const typing: State["typing"] = {};
    for (const [room, users] of Object.entries(this.state.typing)) {
      const kept: Record<string, number> = {};
      for (const [user, until] of Object.entries(users)) {
        if (until > now) kept[user] = until;
        else changed = true;
      }
      typing[room] = kept;
    }
    if (changed) this.set({ typing });
  }

  // ---- files ------------------------------------------------------------------------------

  /** Uploads `file` to `roomId` with visible progress, then sends it as a message. */
  async upload(roomId: string, file: File): Promise<void> {
    const key = newClientId();
    const put = (patch: Partial<Transfer> | null) => {
      const list = this.state.transfers[roomId] ?? [];
      const next =
        patch === null
          ? list.filter((t) => t.key !== key)
          : list.some((t) => t.key === key)
            ? list.map((t) => (t.key === key ? { ...t, ...patch } : t))
            : [...list, { key, room_id: roomId, filename: file.name, progress: 0, ...patch }];
      this.set({ transfers: { ...this.state.transfers, [roomId]: next } });
    };
    put({ progress: 0 });
    try {
      const created = await this.api.call<{ file: FileInfo; upload: Upload }>("POST", "/api/files", {
        room_id: roomId,
        filename: file.name,
        content_type: file.type || "application/octet-stream",
        size: file.size,
      });
      await putBytes(created.upload, file, (progress) => put({ progress }));
      const { file: ready } = await this.api.call<{ file: FileInfo }>(
        "POST",
        `/api/files/${encodeURIComponent(created.file.id)}/complete`,
      );
      put(null);
      this.send(roomId, "", [
        { id: ready.id, filename: ready.filename, content_type: ready.content_type, size: ready.size },
      ]);
    } catch (e) {
      put({ error: uploadError(e) });
    }
  }

  dismissTransfer(roomId: string, key: string): void {
    const list = (this.state.transfers[roomId] ?? []).filter((t) => t.key !== key);
    this.set({ transfers: { ...this.state.transfers, [roomId]: list } });
  }

  /** A short-lived download URL for an attachment, reused while it is fresh. */
  downloadUrl(fileId: string): Promise<string> {
    const cached = this.urls.get(fileId);
    if (cached && cached.until > Date.now()) return cached.url;
    const url = this.api
      .call<{ download_url: string }>("GET", `/api/files/${encodeURIComponent(fileId)}`)
      .then((r) => r.download_url);
    this.urls.set(fileId, { url, until: Date.now() + 60_000 });
    url.catch(() => this.urls.delete(fileId));
    return url;
  }

  // ---- users ------------------------------------------------------------------------------

  private remember(users: User[]): void {
    if (users.length === 0) return;
    const all = { ...this.state.users };
    for (const u of users) all[u.id] = u;
    this.set({ users: all });
    try {
      localStorage.setItem(USERS_KEY, JSON.stringify(all));
    } catch {
      // storage full or off: names are fetched again next time
    }
  }

  /** Fetches the names of users the app has not seen yet. */
  private resolveUsers(ids: string[]): void {
    for (const id of new Set(ids)) {
      if (this.state.users[id] || this.lookups.has(id)) continue;
      const lookup = this.api
        .call<{ user: User }>("GET", `/api/users/${encodeURIComponent(id)}`)
        .then(({ user }) => this.remember([user]))
        // Unknown: shown by a placeholder, not asked again in this session.
        .catch(() => undefined);
      this.lookups.set(id, lookup);
    }
  }
}

const FORBIDDEN_HEADERS = new Set(["content-length", "host", "connection", "expect", "transfer-encoding"]);

/** PUT to the presigned URL with progress (fetch cannot report upload progress). */
function putBytes(upload: Upload, file: File, progress: (fraction: number) => void): Promise<void> {
  return new Promise((resolve, reject) => {
    const xhr = new XMLHttpRequest();
    xhr.open(upload.method, upload.url);
    for (const [name, value] of Object.entries(upload.headers ?? {})) {
      // The browser sets these itself (from the body) and refuses to be told.
      if (!FORBIDDEN_HEADERS.has(name.toLowerCase())) xhr.setRequestHeader(name, value);
    }
    xhr.upload.onprogress = (e) => {
      if (e.lengthComputable) progress(e.loaded / e.total);
    };
    xhr.onload = () => {
      if (xhr.status >= 200 && xhr.status < 300) {
        progress(1);
        resolve();
      } else {
        reject(new Error(`The upload was refused (HTTP ${xhr.status}).`));
      }
    };
    xhr.onerror = () => reject(new Error("The upload failed: the storage cannot be reached."));
    xhr.send(file);
  });
}
