// The HTTP side of the contract (docs/protocol.md): its types, the error shape, and the session:
// access tokens are refreshed silently before they expire and once more on a 401, and the
// refresh token (single use) is rotated under a lock so that two tabs never spend the same one.

export interface User {
  id: string;
  username: string;
  display_name: string;
  created_at: string;
}

export interface Session {
  user: User;
  access_token: string;
  refresh_token: string;
  token_type: "Bearer";
  expires_in: number;
}

export interface Room {
  id: string;
  kind: "direct" | "group";
  name: string;
  created_by: string;
  created_at: string;
  members: string[];
  last_seq: number;
  last_read_seq: number;
  unread: number;
  /** The room's change counter (see `Message.rev`); absent from an older server. */
  rev?: number;
  /** Of the unread messages, those that mention us or the room. */
  unread_mentions?: number;
  /** Our notification setting for the room. */
  notifications?: Notifications;
}

export type NotifyLevel = "all" | "mentions" | "none";

export interface Notifications {
  level: NotifyLevel;
  /** While ahead, `all` pushes nothing. */
  muted_until: string | null;
}

/** A `Room` without the caller's own fields: what `room:updated` carries. */
export type RoomInfo = Omit<Room, "last_read_seq" | "unread" | "unread_mentions" | "notifications">;

/** What a system message records: a change of the room. */
export interface SystemEvent {
  event:
    | "created"
    | "member_added"
    | "member_removed"
    | "member_left"
    | "member_joined"
    | "renamed"
    | "topic_changed"
    | "role_changed"
    | "banned";
  user_id?: string;
  name?: string;
  topic?: string;
  role?: string;
}

export interface FileRef {
  id: string;
  filename: string;
  content_type: string;
  size: number;
}

export interface Message {
  id: string;
  room_id: string;
  seq: number;
  sender_id: string;
  client_id: string;
  body: string;
  attachments: FileRef[];
  reply_to: string | null;
  created_at: string;
  edited_at: string | null;
  deleted: boolean;
  /**
   * The room's `rev` when this message last changed (0 if it never did); absent from an
   * older server.
   */
  rev?: number;
  /** For a reply: the message it answers, as that one is now. */
  reply_preview?: ReplyPreview | null;
  /** On a reply in a thread: the thread's root. */
  thread_id?: string | null;
  /** On a thread's root: its replies so far. */
  thread?: ThreadSummary | null;
  /** The members the body mentions, and whether it mentions the room (`@room`). */
  mentions?: string[];
  mentions_room?: boolean;
  /** Who reacted with which emoji, in the order each emoji was first used; absent from an older server. */
  reactions?: Reaction[];
  /** "system" for a record of a room change (empty body, `system` says what); else "user". */
  kind?: "user" | "system";
  system?: SystemEvent | null;
}

/** A page of `GET /api/search/messages`: newest first; `next` is the `before` of the page after. */
export interface SearchPage {
  messages: Message[];
  next: string | null;
}

export interface ThreadSummary {
  reply_count: number;
  last_reply_at: string;
  /** Most recent first. */
  participant_ids: string[];
}

export interface ReplyPreview {
  message_id: string;
  sender_id: string;
  /** The first 120 characters of its body; empty once deleted. */
  body: string;
  deleted: boolean;
}

export interface Reaction {
  emoji: string;
  count: number;
  user_ids: string[];
}

export interface FileInfo extends FileRef {
  room_id: string;
  uploader_id: string;
  status: "pending" | "ready";
  created_at: string;
}

export interface Upload {
  method: "PUT";
  url: string;
  headers: Record<string, string>;
  expires_at: string;
}

/** `{error: {code, message}}` from the server, or a network failure (`status` 0). */
export class ApiError extends Error {
  constructor(
    readonly status: number,
    readonly code: string,
    message: string,
  ) {
    // The server's sentences start in lower case; shown to people, they start as sentences do.
    super(message.charAt(0).toUpperCase() + message.slice(1));
    this.name = "ApiError";
  }
}

interface Stored {
  user: User;
  access_token: string;
  refresh_token: string;
  /** Milliseconds since the epoch when the access token expires. */
  expires_at: number;
  /** The access token's lifetime in milliseconds. */
  lifetime: number;
}

const STORAGE_KEY = "chat.session";
/** Refresh this long before the access token expires (a third of its life when that is shorter). */
const REFRESH_MARGIN_MS = 60_000;

function margin(s: Stored): number {
  return Math.min(REFRESH_MARGIN_MS, (s.lifetime || 0) / 3);
}

function load(): Stored | null {
  try {
    const raw = localStorage.getItem(STORAGE_KEY);
    return raw ? (JSON.parse(raw) as Stored) : null;
  } catch {
    return null;
  }
}

async function parseError(res: Response): Promise<ApiError> {
  let code = "http_" + res.status;
  let message = res.statusText || "request failed";
  try {
    const body = (await res.json()) as { error?: { code?: string; message?: string } };
    if (body.error?.code) code = body.error.code;
    if (body.error?.message) message = body.error.message;
  } catch {
    // not JSON: keep the status line
  }
  return new ApiError(res.status, code, message);
}

async function send(method: string, path: string, body?: unknown, token?: string): Promise<Response> {
  const headers: Record<string, string> = {};
  if (body !== undefined) headers["content-type"] = "application/json";
  if (token) headers.authorization = `Bearer ${token}`;
  try {
    return await fetch(path, {
      method,
      headers,
      body: body === undefined ? undefined : JSON.stringify(body),
    });
  } catch {
    throw new ApiError(0, "network", "The server cannot be reached. Check your connection.");
  }
}

type Listener = (user: User | null) => void;

export class Api {
  private stored: Stored | null = load();
  private refreshing: Promise<void> | null = null;
  private timer: ReturnType<typeof setTimeout> | undefined;
  private listeners = new Set<Listener>();

  constructor() {
    this.schedule();
  }

  get user(): User | null {
    return this.stored?.user ?? null;
  }

  onUser(listener: Listener): () => void {
    this.listeners.add(listener);
    return () => this.listeners.delete(listener);
  }

  async register(username: string, password: string, displayName?: string): Promise<void> {
    const body: Record<string, string> = { username, password };
    if (displayName) body.display_name = displayName;
    this.adopt(await this.post<Session>("/api/auth/register", body));
  }

  async login(username: string, password: string): Promise<void> {
    this.adopt(await this.post<Session>("/api/auth/login", { username, password }));
  }

  async logout(): Promise<void> {
    const refresh = this.stored?.refresh_token;
    this.signOut();
    // The names of the people this user talked with are theirs too.
    localStorage.removeItem("chat.users");
    if (refresh) {
      await send("POST", "/api/auth/logout", { refresh_token: refresh }).catch(() => undefined);
    }
  }

  /** A valid access token, refreshed first when it is about to expire. */
  async token(): Promise<string> {
    if (!this.stored) throw new ApiError(401, "unauthorized", "You are signed out.");
    if (this.stored.expires_at - Date.now() < margin(this.stored) / 2) await this.refresh();
    if (!this.stored) throw new ApiError(401, "unauthorized", "You are signed out.");
    return this.stored.access_token;
  }

  /** Rotates the token pair; signs out when the refresh token is refused. */
  refresh(): Promise<void> {
    this.refreshing ??= this.rotate().finally(() => {
      this.refreshing = null;
    });
    return this.refreshing;
  }

  /** An authenticated call; a 401 triggers one refresh and one retry. */
  async call<T>(method: string, path: string, body?: unknown): Promise<T> {
    let res = await send(method, path, body, await this.token());
    if (res.status === 401) {
      await this.refresh();
      res = await send(method, path, body, await this.token());
    }
    if (!res.ok) throw await parseError(res);
    const text = await res.text();
    return (text ? JSON.parse(text) : undefined) as T;
  }

  private async post<T>(path: string, body: unknown): Promise<T> {
    const res = await send("POST", path, body);
    if (!res.ok) throw await parseError(res);
    return (await res.json()) as T;
  }

  private async rotate(): Promise<void> {
    const run = async () => {
      // Another tab may have rotated the pair meanwhile: its tokens are ours too.
      const latest = load();
      if (latest && this.stored && latest.refresh_token !== this.stored.refresh_token) {
        this.stored = latest;
        if (latest.expires_at - Date.now() > margin(latest) / 2) return this.schedule();
      }
      const refresh = this.stored?.refresh_token;
      if (!refresh) return;
      const res = await send("POST", "/api/auth/refresh", { refresh_token: refresh });
      if (res.status === 401) {
        this.signOut();
        throw await parseError(res);
      }
      if (!res.ok) throw await parseError(res);
      this.adopt((await res.json()) as Session);
    };
    if (typeof navigator !== "undefined" && navigator.locks) {
      await navigator.locks.request("chat.refresh", run);
    } else {
      await run();
    }
  }

  private adopt(session: Session): void {
    const changed = this.stored?.user.id !== session.user.id;
    this.stored = {
      user: session.user,
      access_token: session.access_token,
      refresh_token: session.refresh_token,
      expires_at: Date.now() + session.expires_in * 1000,
      lifetime: session.expires_in * 1000,
    };
    localStorage.setItem(STORAGE_KEY, JSON.stringify(this.stored));
    this.schedule();
    if (changed) this.emit();
  }

  private signOut(): void {
    const had = this.stored !== null;
    this.stored = null;
    localStorage.removeItem(STORAGE_KEY);
    clearTimeout(this.timer);
    if (had) this.emit();
  }

  private schedule(): void {
    clearTimeout(this.timer);
    if (!this.stored) return;
    const wait = Math.max(1000, this.stored.expires_at - Date.now() - margin(this.stored));
    this.timer = setTimeout(() => {
      if (navigator.onLine) {
        this.refresh().catch(() => undefined);
      } else {
        // Nothing to ask while offline; back online, the next call refreshes on demand.
        window.addEventListener("online", () => this.schedule(), { once: true });
      }
    }, wait);
  }

  private emit(): void {
    for (const listener of this.listeners) listener(this.user);
  }
}
