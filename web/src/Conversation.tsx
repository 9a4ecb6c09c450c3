import { Fragment, useEffect, useId, useLayoutEffect, useRef, useState, type FormEvent, type KeyboardEvent } from "react";
import type { FileRef, Message, Notifications, Room, User } from "./api";
import type { ChatClient, Pending, State } from "./client";
import { renderBody } from "./markup";
import { dayKey, dayOf, directPeer, roomTitle, sizeOf, timeOf, userName } from "./names";
import { useReveal } from "./reveal";

interface Props {
  client: ChatClient;
  state: State;
  room: Room;
  onBack: () => void;
  /** A message to bring into view (a search hit); `onJumped` says it was taken. */
  jump: Message | null;
  onJumped: () => void;
}

/** One conversation: its history (older pages load on scrolling up), who is typing, and the composer. */
export function Conversation({ client, state, room, onBack, jump, onJumped }: Props) {
  const titleId = useId();
  const title = roomTitle(state, room);
  const peer = directPeer(state, room);
  const history = state.history[room.id];
  const messages = history?.messages ?? [];
  const pending = state.pending[room.id] ?? [];
  const transfers = state.transfers[room.id] ?? [];
  const list = useRef<HTMLDivElement>(null);
  const stick = useRef(true);
  const prevHeight = useRef<number | null>(null);

  // Messages that arrived below while the view was scrolled up: counted on a button that
  // brings the view down.
  const [below, setBelow] = useState(0);
  const lastSeq = useRef(messages.at(-1)?.seq ?? 0);

  // Keep the view at the bottom while it is there; keep the place when older messages load.
  useLayoutEffect(() => {
    const el = list.current;
    const newest = messages.at(-1)?.seq ?? 0;
    const arrived = messages.filter((m) => m.seq > lastSeq.current && m.sender_id !== state.me.id).length;
    lastSeq.current = Math.max(lastSeq.current, newest);
    if (!el) return;
    if (prevHeight.current !== null) {
      el.scrollTop += el.scrollHeight - prevHeight.current;
      prevHeight.current = null;
    } else if (stick.current) {
      el.scrollTop = el.scrollHeight;
    } else if (arrived > 0) {
      setBelow((n) => n + arrived);
    }
  }, [messages, pending.length, transfers.length, state.me.id]);

  function toBottom() {
    const el = list.current;
    if (!el) return;
    el.scrollTop = el.scrollHeight;
    stick.current = true;
    setBelow(0);
  }

  // Declared after the effect above: a message brought into view wins over keeping the bottom.
  // Where it is then decides, as a scroll by hand does, whether the view follows new messages.
  const [reveal, revealed] = useReveal(list, messages, { onShown: onScroll });

  /** Brings the message `id` into view, loading the history back to it first if need be. */
  function show(id: string) {
    reveal(id);
    // A page that fails leaves the view where it is; scrolling up tries again.
    client.loadUntil(room.id, id).catch(() => undefined);
  }

  function onScroll() {
    const el = list.current;
    if (!el) return;
    stick.current = el.scrollHeight - el.scrollTop - el.clientHeight < 40;
    if (stick.current) setBelow(0);
    if (el.scrollTop < 60 && history?.hasOlder && !history.loadingOlder && history.loaded) {
      prevHeight.current = el.scrollHeight;
      client.loadOlder(room.id).catch(() => {
        prevHeight.current = null;
      });
    }
  }

  // Who has read up to where: each reader's marker sits under the last message they read
  // that someone else wrote (their own messages are no news to them).
  const readers = new Map<number, string[]>();
  for (const [userId, seq] of Object.entries(state.reads[room.id] ?? {})) {
    if (userId === state.me.id) continue;
    const at = [...messages].reverse().find((m) => m.seq <= seq && m.sender_id !== userId && m.kind !== "system");
    if (at) readers.set(at.seq, [...(readers.get(at.seq) ?? []), userId]);
  }
  const typists = Object.keys(state.typing[room.id] ?? {}).filter((u) => u !== state.me.id);
  const [replyTo, setReplyTo] = useState<Message | null>(null);
  useEffect(() => setReplyTo(null), [room.id]);
  /** The open thread, and the reply in it to show. */
  const [thread, setThread] = useState<{ root: string; reply?: string } | null>(null);
  useEffect(() => setThread(null), [room.id]);
  useEffect(() => {
    if (!jump) return;
    onJumped();
    if (jump.thread_id) setThread({ root: jump.thread_id, reply: jump.id });
    else show(jump.id);
  }, [jump]);
  // Replies in threads show in their thread's panel, not in the room's timeline.
  const timeline = messages.filter((m) => !m.thread_id);
  const [editRequest, setEditRequest] = useState<{ id: string } | null>(null);
  function editLast() {
    const last = [...messages]
      .reverse()
      .find((m) => m.sender_id === state.me.id && !m.deleted && m.kind !== "system" && m.attachments.length === 0);
    // A new object each time, so asking twice for the same message opens it again.
    if (last) setEditRequest({ id: last.id });
  }

  return (
    <main className="conversation" aria-labelledby={titleId}>
      <header className="conv-header">
        <button type="button" className="back" onClick={onBack} aria-label="Back to conversations">
          ←
        </button>
        <h2 id={titleId}>{title}</h2>
        <span className="conv-sub">
          {peer
            ? state.connection !== "online"
              ? ""
              : state.online[peer]
                ? "online"
                : "offline"
            : room.members.map((m) => userName(state.users, m)).join(", ")}
        </span>
        <Bell client={client} room={room} />
      </header>
      <div className="messages" ref={list} onScroll={onScroll} role="log" aria-label={`Messages with ${title}`}>
        <ol className="message-list">
        {history?.loadingOlder && <li className="hint center">Loading earlier messages…</li>}
        {history?.loaded && !history.hasOlder && messages.length > 0 && (
          <li className="hint center">This is the beginning of the conversation.</li>
        )}
        {!history?.loaded && <li className="hint center">Loading…</li>}
        {timeline.map((m, i) => {
          const prev = timeline[i - 1];
          const newDay = !prev || dayKey(prev.created_at) !== dayKey(m.created_at);
          // A message right after another of the same sender (within 5 minutes, same day)
          // continues its group: no name repeated.
          const continues =
            !newDay &&
            prev!.kind !== "system" &&
            prev!.sender_id === m.sender_id &&
            Date.parse(m.created_at) - Date.parse(prev!.created_at) < 5 * 60_000;
          return (
            <Fragment key={m.seq}>
              {newDay && (
                <li className="day">
                  <span>{dayOf(m.created_at)}</span>
                </li>
              )}
              {m.kind === "system" ? (
                <li className="hint center system" data-seq={m.seq}>
                  {systemText(state.users, m)}
                </li>
              ) : (
                <MessageItem
                  client={client}
                  state={state}
                  room={room}
                  message={m}
                  readBy={readers.get(m.seq)}
                  onReply={() => setReplyTo(m)}
                  onShow={show}
                  editRequest={editRequest}
                  continues={continues}
                  revealed={revealed === m.id}
                  onThread={() => setThread({ root: m.id })}
                />
              )}
            </Fragment>
          );
        })}
        {pending
          .filter((p) => !p.thread_id)
          .map((p) => (
            <PendingItem key={p.client_id} client={client} pending={p} />
          ))}
        {transfers.map((t) => (
          <li key={t.key} className="msg mine transfer">
            <div className="bubble">
              <span>{t.error ? `Upload of ${t.filename} failed: ${t.error}` : `Uploading ${t.filename}`}</span>
              {!t.error && (
                <progress max={1} value={t.progress} aria-label={`Uploading ${t.filename}`}>
                  {Math.round(t.progress * 100)}%
                </progress>
              )}
              {t.error && (
                <button type="button" className="link" onClick={() => client.dismissTransfer(room.id, t.key)}>
                  Dismiss
                </button>
              )}
            </div>
          </li>
        ))}
        </ol>
      </div>
      {below > 0 && (
        <button type="button" className="new-below" onClick={toBottom}>
          {below === 1 ? "1 new message" : `${below} new messages`} ↓
        </button>
      )}
      <p className="typing" aria-live="polite">
        {typists.length === 1
          ? `${userName(state.users, typists[0]!)} is typing…`
          : typists.length > 1
            ? `${typists.length} people are typing…`
            : ""}
      </p>
      {thread && (
        <ThreadPanel
          key={`${thread.root}/${thread.reply ?? ""}`}
          client={client}
          state={state}
          room={room}
          rootId={thread.root}
          reply={thread.reply}
          onClose={() => setThread(null)}
        />
      )}
      <Composer
        client={client}
        state={state}
        room={room}
        roomId={room.id}
        replyTo={replyTo}
        onCancelReply={() => setReplyTo(null)}
        onEditLast={editLast}
      />
    </main>
  );
}

function MessageItem({
  client,
  state,
  room,
  message: m,
  readBy,
  onReply,
  onShow,
  editRequest,
  continues,
  revealed,
  onThread,
}: {
  client: ChatClient;
  state: State;
  room: Room;
  message: Message;
  readBy?: string[];
  onReply: () => void;
  onShow: (id: string) => void;
  editRequest: { id: string } | null;
  continues: boolean;
  revealed: boolean;
  onThread?: () => void;
}) {
  const mine = m.sender_id === state.me.id;
  const [editing, setEditing] = useState(false);
  const [confirming, setConfirming] = useState(false);
  const [draft, setDraft] = useState(m.body);
  // ↑ in an empty composer asks to edit the last message of ours.
  useEffect(() => {
    if (editRequest && editRequest.id === m.id) {
      setDraft(m.body);
      setEditing(true);
    }
  }, [editRequest, m.id, m.body]);
  const [error, setError] = useState<string | null>(null);

  async function save(e: FormEvent) {
    e.preventDefault();
    try {
      await client.edit(room.id, m.id, draft.trim());
      setEditing(false);
      setError(null);
    } catch (err) {
      setError(err instanceof Error ? err.message : "The edit failed.");
    }
  }

  return (
    <li
      className={`msg ${mine ? "mine" : "theirs"}${continues ? " cont" : ""}${revealed ? " revealed" : ""}`}
      data-seq={m.seq}
      tabIndex={-1}
    >
      <div className="bubble">
        {!mine && room.kind === "group" && !continues && (
          <span className="sender">{userName(state.users, m.sender_id)}</span>
        )}
        {m.reply_preview && !m.deleted && (
          <button
            type="button"
            className="quote"
            aria-label={`In reply to ${userName(state.users, m.reply_preview.sender_id)}: ${
              m.reply_preview.deleted ? "a deleted message" : m.reply_preview.body
            }`}
            onClick={() => onShow(m.reply_preview!.message_id)}
          >
            <span className="quote-sender">{userName(state.users, m.reply_preview.sender_id)}</span>
            <span className="quote-body">
              {m.reply_preview.deleted ? <em>This message was deleted.</em> : m.reply_preview.body}
            </span>
          </button>
        )}
        {m.deleted ? (
          <em className="muted">This message was deleted.</em>
        ) : editing ? (
          <form onSubmit={save} className="edit">
            <label className="visually-hidden" htmlFor={`edit-${m.id}`}>
              Edit message
            </label>
            <textarea
              id={`edit-${m.id}`}
              value={draft}
              onChange={(e) => setDraft(e.target.value)}
              autoFocus
              onKeyDown={(e) => {
                if (e.key === "Escape") setEditing(false);
                if (e.key === "Enter" && !e.shiftKey && !e.nativeEvent.isComposing) {
                  e.preventDefault();
                  if (draft.trim()) void save(e);
                }
              }}
            />
            <div className="row">
              <button type="submit" className="primary" disabled={!draft.trim()}>
                Save
              </button>
              <button type="button" onClick={() => setEditing(false)}>
                Cancel
              </button>
            </div>
          </form>
        ) : (
          <>
            {m.body && (
              <div className="body">
                <Body state={state} message={m} />
              </div>
            )}
            {m.attachments.map((a) => (
              <Attachment key={a.id} client={client} file={a} />
            ))}
          </>
        )}
        {!m.deleted && (m.reactions?.length ?? 0) > 0 && (
          <Reactions
            state={state}
            message={m}
            onToggle={(emoji, add) => client.react(room.id, m.id, emoji, add).catch((e: Error) => setError(e.message))}
          />
        )}
        <span className="meta">
          <time dateTime={m.created_at}>{timeOf(m.created_at)}</time>
          {m.edited_at && !m.deleted && <span> · edited</span>}
          {!m.deleted && !editing && (
          <span className="actions">
            <button type="button" className="link" onClick={onReply}>
              Reply
            </button>
            {onThread && !m.thread_id && (
              <button type="button" className="link" onClick={onThread}>
                Thread
              </button>
            )}
            <ReactionPicker
              onPick={(emoji) => {
                const had = m.reactions?.some((r) => r.emoji === emoji && r.user_ids.includes(state.me.id));
                if (!had) client.react(room.id, m.id, emoji, true).catch((e: Error) => setError(e.message));
              }}
            />
            {mine && m.attachments.length === 0 && (
              <button
                type="button"
                className="link"
                onClick={() => {
                  setDraft(m.body);
                  setEditing(true);
                }}
              >
                Edit
              </button>
            )}
            {mine && !confirming && (
              <button type="button" className="link" onClick={() => setConfirming(true)}>
                Delete
              </button>
            )}
            {mine && confirming && (
              <span className="confirm" role="group" aria-label="Delete this message?">
                <span>Delete for everyone?</span>
                <button
                  type="button"
                  className="link danger"
                  autoFocus
                  onClick={() => {
                    setConfirming(false);
                    client.remove(room.id, m.id).catch((e: Error) => setError(e.message));
                  }}
                >
                  Yes, delete
                </button>
                <button type="button" className="link" onClick={() => setConfirming(false)}>
                  Keep it
                </button>
              </span>
            )}
          </span>
          )}
        </span>
        {error && (
          <p className="error small" role="alert">
            {error}
          </p>
        )}
        {onThread && m.thread && m.thread.reply_count > 0 && (
          <button type="button" className="link thread-count" onClick={onThread}>
            {m.thread.reply_count === 1 ? "1 reply" : `${m.thread.reply_count} replies`}
          </button>
        )}
      </div>
      {readBy && readBy.length > 0 && (
        <p className="seen">
          {room.kind === "direct" ? "Seen" : `Seen by ${readBy.map((u) => userName(state.users, u)).join(", ")}`}
        </p>
      )}
    </li>
  );
}

/**
 * A body with its marks (see `markup.tsx`) and its mentions: `@name` of a member the server
 * counted as mentioned, and `@room` when it did; our own name stands out.
 */
function Body({ state, message: m }: { state: State; message: Message }) {
  const mentioned = new Map<string, string>();
  for (const id of m.mentions ?? []) {
    const user = state.users[id];
    if (user) mentioned.set(user.username.toLowerCase(), id);
  }
  return (
    <>
      {renderBody(m.body, (name, text, key) => {
        const id = mentioned.get(name);
        if (!id && !(name === "room" && m.mentions_room)) return null;
        const me = id === state.me.id || name === "room";
        return (
          <span key={key} className={`mention${me ? " to-me" : ""}`} data-mention={id ?? "room"}>
            {text}
          </span>
        );
      })}
    </>
  );
}

const MUTES: [string, number][] = [
  ["1 hour", 60],
  ["8 hours", 8 * 60],
  ["1 day", 24 * 60],
];

/** The room's notification setting: a bell that opens a menu of levels and mutes. */
function Bell({ client, room }: { client: ChatClient; room: Room }) {
  const [open, setOpen] = useState(false);
  const [error, setError] = useState<string | null>(null);
  const menuId = useId();
  const first = useRef<HTMLButtonElement>(null);
  const setting = room.notifications ?? { level: "all", muted_until: null };
  const muted = setting.level === "all" && setting.muted_until !== null && new Date(setting.muted_until) > new Date();
  const label =
    setting.level === "none" ? "Off" : setting.level === "mentions" ? "Mentions only" : muted ? "Muted" : "All messages";
  useEffect(() => {
    if (open) first.current?.focus();
  }, [open]);

  function pick(next: Notifications) {
    setOpen(false);
    client
      .setNotifications(room.id, next)
      .then(() => setError(null))
      .catch((e: Error) => setError(e.message));
  }
  const option = (text: string, next: Notifications, checked: boolean, i: number) => (
    <button
      key={text}
      ref={i === 0 ? first : undefined}
      type="button"
      role="menuitemradio"
      aria-checked={checked}
      onClick={() => pick(next)}
    >
      {text}
    </button>
  );
  return (
    <span className="bell" onKeyDown={(e) => e.key === "Escape" && setOpen(false)}>
      <button
        type="button"
        aria-haspopup="menu"
        aria-expanded={open}
        aria-controls={open ? menuId : undefined}
        title={`Notifications: ${label}`}
        onClick={() => setOpen((o) => !o)}
      >
        <span aria-hidden="true">🔔</span> {label}
      </button>
      {open && (
        <span
          id={menuId}
          role="menu"
          aria-label="Notifications for this conversation"
          className="bell-menu"
          onBlur={(e) => {
            if (!e.currentTarget.contains(e.relatedTarget as Node | null)) setOpen(false);
          }}
        >
          {option("All messages", { level: "all", muted_until: null }, setting.level === "all" && !muted, 0)}
          {option("Mentions only", { level: "mentions", muted_until: null }, setting.level === "mentions", 1)}
          {option("Off", { level: "none", muted_until: null }, setting.level === "none", 2)}
          {MUTES.map(([text, minutes], i) =>
            option(
              `Mute for ${text}`,
              { level: "all", muted_until: new Date(Date.now() + minutes * 60_000).toISOString() },
              false,
              3 + i,
            ),
          )}
        </span>
      )}
      {error && (
        <span className="error small" role="alert">
          {error}
        </span>
      )}
    </span>
  );
}

/** A thread beside the conversation: its root, its replies (live ones too), and a composer. */
function ThreadPanel({
  client,
  state,
  room,
  rootId,
  reply,
  onClose,
}: {
  client: ChatClient;
  state: State;
  room: Room;
  rootId: string;
  /** A reply to bring into view (a search hit); the focus goes to it rather than the composer. */
  reply?: string;
  onClose: () => void;
}) {
  const titleId = useId();
  const [fetched, setFetched] = useState<Message | null>(null);
  const [error, setError] = useState<string | null>(null);
  const [text, setText] = useState("");
  const input = useRef<HTMLTextAreaElement>(null);
  const list = useRef<HTMLOListElement>(null);
  useEffect(() => {
    client
      .loadThread(room.id, rootId)
      .then(setFetched)
      .catch((e: Error) => setError(e.message));
    if (!reply) input.current?.focus();
  }, [client, room.id, rootId, reply]);
  const held = state.history[room.id]?.messages ?? [];
  const root = held.find((m) => m.id === rootId) ?? fetched;
  const bySeq = new Map<number, Message>();
  for (const m of state.threads[rootId] ?? []) bySeq.set(m.seq, m);
  for (const m of held) if (m.thread_id === rootId) bySeq.set(m.seq, m);
  const replies = [...bySeq.values()].sort((a, b) => a.seq - b.seq);
  const pending = (state.pending[room.id] ?? []).filter((p) => p.thread_id === rootId);
  const [, revealed] = useReveal(list, replies, { first: reply });

  function submit(e?: FormEvent) {
    e?.preventDefault();
    const body = text.trim();
    if (!body) return;
    client.send(room.id, body, [], null, rootId);
    setText("");
  }

  return (
    <aside className="thread-panel" aria-labelledby={titleId} onKeyDown={(e) => e.key === "Escape" && onClose()}>
      <header className="thread-header">
        <h3 id={titleId}>Thread</h3>
        <button type="button" className="link" onClick={onClose}>
          Close thread
        </button>
      </header>
      <ol className="thread-list" ref={list} aria-label="Replies in the thread">
        {root && (
          <li className="thread-root">
            <span className="sender">{userName(state.users, root.sender_id)}</span>
            <div className="body">{root.deleted ? <em>This message was deleted.</em> : <Body state={state} message={root} />}</div>
          </li>
        )}
        {replies.map((m) => (
          <li key={m.seq} className={`thread-reply${revealed === m.id ? " revealed" : ""}`} data-seq={m.seq} tabIndex={-1}>
            <span className="sender">{userName(state.users, m.sender_id)}</span>{" "}
            <time dateTime={m.created_at}>{timeOf(m.created_at)}</time>
            <div className="body">{m.deleted ? <em>This message was deleted.</em> : <Body state={state} message={m} />}</div>
          </li>
        ))}
        {pending.map((p) => (
          <li key={p.client_id} className="thread-reply pending">
            <div className="body">{p.body}</div>
            <span className="meta">{p.status === "sending" ? "Sending…" : `Not sent: ${p.error ?? ""}`}</span>
          </li>
        ))}
      </ol>
      {error && (
        <p className="error small" role="alert">
          {error}
        </p>
      )}
      <form className="thread-composer" onSubmit={submit}>
        <label htmlFor={`${titleId}-text`} className="visually-hidden">
          Reply in thread
        </label>
        <textarea
          id={`${titleId}-text`}
          ref={input}
          rows={1}
          placeholder="Reply in thread"
          maxLength={MAX_BODY}
          value={text}
          onChange={(e) => setText(e.target.value)}
          onKeyDown={(e) => {
            if (e.key === "Enter" && !e.shiftKey && !e.nativeEvent.isComposing) {
              e.preventDefault();
              submit();
            }
          }}
        />
        <button type="submit" className="primary" disabled={!text.trim()}>
          Send
        </button>
      </form>
    </aside>
  );
}

/** The emoji the picker offers. */
const QUICK_REACTIONS = ["👍", "❤️", "😂", "🎉", "😮", "😢"];

/** A message's reactions as chips: each shows its emoji and count, names who reacted on hover, and toggles the user's own. */
function Reactions({
  state,
  message: m,
  onToggle,
}: {
  state: State;
  message: Message;
  onToggle: (emoji: string, add: boolean) => void;
}) {
  return (
    <div className="reactions" role="group" aria-label="Reactions">
      {m.reactions!.map((r) => {
        const mine = r.user_ids.includes(state.me.id);
        const who = r.user_ids.map((u) => (u === state.me.id ? "you" : userName(state.users, u))).join(", ");
        return (
          <button
            key={r.emoji}
            type="button"
            className={`chip${mine ? " mine" : ""}`}
            aria-pressed={mine}
            title={who}
            aria-label={`${r.emoji} ${r.count}, from ${who}`}
            onClick={() => onToggle(r.emoji, !mine)}
          >
            <span aria-hidden="true">{r.emoji}</span> <span aria-hidden="true">{r.count}</span>
          </button>
        );
      })}
    </div>
  );
}

/** "React": a small menu of emoji; picking one adds it, Escape or a click elsewhere closes it. */
function ReactionPicker({ onPick }: { onPick: (emoji: string) => void }) {
  const [open, setOpen] = useState(false);
  const menuId = useId();
  const first = useRef<HTMLButtonElement>(null);
  useEffect(() => {
    if (open) first.current?.focus();
  }, [open]);
  return (
    <span className="picker" onKeyDown={(e) => e.key === "Escape" && setOpen(false)}>
      <button
        type="button"
        className="link"
        aria-haspopup="menu"
        aria-expanded={open}
        aria-controls={open ? menuId : undefined}
        onClick={() => setOpen((o) => !o)}
      >
        React
      </button>
      {open && (
        <span
          id={menuId}
          role="menu"
          aria-label="Pick a reaction"
          className="picker-menu"
          onBlur={(e) => {
            if (!e.currentTarget.contains(e.relatedTarget as Node | null)) setOpen(false);
          }}
        >
          {QUICK_REACTIONS.map((emoji, i) => (
            <button
              key={emoji}
              ref={i === 0 ? first : undefined}
              type="button"
              role="menuitem"
              aria-label={`React with ${emoji}`}
              onClick={() => {
                setOpen(false);
                onPick(emoji);
              }}
            >
              {emoji}
            </button>
          ))}
        </span>
      )}
    </span>
  );
}

/** What a system message records, in words. */
function systemText(users: Record<string, User>, m: Message): string {
  const who = userName(users, m.sender_id);
  const whom = m.system?.user_id ? userName(users, m.system.user_id) : "someone";
  switch (m.system?.event) {
    case "created":
      return `${who} created the conversation`;
    case "member_added":
      return `${who} added ${whom}`;
    case "member_removed":
      return `${who} removed ${whom}`;
    case "member_left":
      return `${who} left`;
    case "member_joined":
      return `${who} joined`;
    case "renamed":
      return `${who} renamed the group to “${m.system.name ?? ""}”`;
    case "topic_changed":
      return m.system.topic ? `${who} set the topic to “${m.system.topic}”` : `${who} cleared the topic`;
    case "role_changed": {
      const role = m.system.role === "owner" ? "the owner" : m.system.role === "admin" ? "an admin" : "a member";
      return `${who} made ${whom} ${role}`;
    }
    case "banned":
      return `${who} banned ${whom}`;
    default:
      return `${who} changed the conversation`;
  }
}

function PendingItem({ client, pending: p }: { client: ChatClient; pending: Pending }) {
  return (
    <li className={`msg mine pending ${p.status}`} data-client-id={p.client_id}>
      <div className="bubble">
        {p.body && <p className="body">{p.body}</p>}
        {p.attachments.map((a) => (
          <p key={a.id} className="file">
            {a.filename}
          </p>
        ))}
        {p.status === "sending" ? (
          <span className="meta">Sending…</span>
        ) : (
          <span className="meta failed" role="alert">
            Not sent: {p.error}{" "}
            <button type="button" className="link" onClick={() => client.retry(p.room_id, p.client_id)}>
              Retry
            </button>{" "}
            <button type="button" className="link" onClick={() => client.discard(p.room_id, p.client_id)}>
              Discard
            </button>
          </span>
        )}
      </div>
    </li>
  );
}

function Attachment({ client, file }: { client: ChatClient; file: FileRef }) {
  const image = file.content_type.startsWith("image/");
  const [url, setUrl] = useState<string | null>(null);
  const [failed, setFailed] = useState(false);

  useEffect(() => {
    if (!image) return;
    let live = true;
    client.downloadUrl(file.id).then(
      (u) => live && setUrl(u),
      () => live && setFailed(true),
    );
    return () => {
      live = false;
    };
  }, [client, file.id, image]);

  if (image && url && !failed) {
    return (
      <a href={url} target="_blank" rel="noreferrer" className="preview">
        <img src={url} alt={file.filename} onError={() => setFailed(true)} />
      </a>
    );
  }
  return (
    <p className="file">
      <button
        type="button"
        className="link"
        onClick={() => client.downloadUrl(file.id).then((u) => window.open(u, "_blank", "noopener"))}
      >
        {file.filename}
      </button>{" "}
      <span className="muted">
        ({sizeOf(file.size)}
        {image && !url && !failed ? ", loading preview…" : ""})
      </span>
    </p>
  );
}

/**
 * The files the picker offers: the server's default types (an operator may allow others with
 * CHAT_FILE_ALLOWED_TYPES; a file of another type is still refused with a clear message).
 */
const ACCEPTED_FILES =
  "image/png,image/jpeg,image/gif,image/webp,application/pdf,text/plain,audio/*,video/*,application/zip,.zip,.pdf,.txt";

/** The longest body the server takes. */
const MAX_BODY = 4000;

/** The `@name` being typed just before the caret, if any: where it starts and its prefix. */
function mentionAt(text: string, caret: number): { start: number; prefix: string } | null {
  const match = /(^|[^A-Za-z0-9._@-])@([A-Za-z0-9._-]{0,32})$/.exec(text.slice(0, caret));
  if (!match) return null;
  return { start: caret - match[2]!.length - 1, prefix: match[2]!.toLowerCase() };
}

function Composer({
  client,
  state,
  room,
  roomId,
  replyTo,
  onCancelReply,
  onEditLast,
}: {
  client: ChatClient;
  state: State;
  room: Room;
  roomId: string;
  replyTo: Message | null;
  onCancelReply: () => void;
  onEditLast: () => void;
}) {
  const id = useId();
  const [text, setText] = useState("");
  const input = useRef<HTMLTextAreaElement>(null);
  const fileInput = useRef<HTMLInputElement>(null);
  const [typed, setTyped] = useState<{ start: number; prefix: string } | null>(null);
  const [choice, setChoice] = useState(0);

  useEffect(() => {
    if (window.matchMedia("(min-width: 700px)").matches) input.current?.focus();
  }, [roomId]);
  useEffect(() => {
    if (replyTo) input.current?.focus();
  }, [replyTo]);

  // Members to mention for the `@` being typed: by username or display name.
  const candidates: { username: string; label: string }[] = [];
  if (typed) {
    for (const id of room.members) {
      const user = state.users[id];
      if (!user || id === state.me.id) continue;
      const names = [user.username, user.display_name].map((n) => n.toLowerCase());
      if (names.some((n) => n.startsWith(typed.prefix))) {
        candidates.push({ username: user.username, label: `${user.display_name} @${user.username}` });
      }
    }
    if (room.kind === "group" && room.created_by === state.me.id && "room".startsWith(typed.prefix)) {
      candidates.push({ username: "room", label: "Everyone in the room @room" });
    }
    candidates.splice(6);
  }
  const suggesting = candidates.length > 0;
  const optionId = (i: number) => `${id}-mention-${i}`;

  // Where the caret goes once the text a completion wrote is rendered: set before the browser
  // takes the next key, so nothing typed right after lands elsewhere.
  const caretAfter = useRef<number | null>(null);
  useLayoutEffect(() => {
    const el = input.current;
    if (el && caretAfter.current !== null) {
      el.setSelectionRange(caretAfter.current, caretAfter.current);
      caretAfter.current = null;
    }
  }, [text]);

  function complete(username: string) {
    const el = input.current;
    if (!typed || !el) return;
    const caret = el.selectionStart ?? text.length;
    const before = `${text.slice(0, typed.start)}@${username} `;
    caretAfter.current = before.length;
    setText(before + text.slice(caret));
    setTyped(null);
    el.focus();
  }

  function submit(e?: FormEvent) {
    e?.preventDefault();
    const body = text.trim();
    if (!body) return;
    client.send(roomId, body, [], replyTo?.id ?? null);
    setText("");
    onCancelReply();
    input.current?.focus();
  }

  function onKey(e: KeyboardEvent<HTMLTextAreaElement>) {
    if (suggesting) {
      if (e.key === "ArrowDown" || e.key === "ArrowUp") {
        e.preventDefault();
        const step = e.key === "ArrowDown" ? 1 : candidates.length - 1;
        setChoice((c) => (c + step) % candidates.length);
        return;
      }
      if ((e.key === "Enter" || e.key === "Tab") && !e.shiftKey) {
        e.preventDefault();
        complete(candidates[Math.min(choice, candidates.length - 1)]!.username);
        return;
      }
      if (e.key === "Escape") {
        e.preventDefault();
        setTyped(null);
        return;
      }
    }
    if (e.key === "ArrowUp" && text === "") {
      e.preventDefault();
      onEditLast();
      return;
    }
    if (e.key === "Enter" && !e.shiftKey && !e.nativeEvent.isComposing) {
      e.preventDefault();
      submit();
    }
  }

  return (
    <form className="composer" onSubmit={submit}>
      {replyTo && (
        <div className="replying" role="status">
          <span>
            Replying to <strong>{userName(state.users, replyTo.sender_id)}</strong>:{" "}
            <span className="quote-body">{replyTo.body.slice(0, 120)}</span>
          </span>
          <button type="button" className="link" onClick={onCancelReply}>
            Cancel reply
          </button>
        </div>
      )}
      <input
        ref={fileInput}
        id={`${id}-file`}
        type="file"
        className="visually-hidden"
        tabIndex={-1}
        aria-hidden="true"
        accept={ACCEPTED_FILES}
        multiple
        onChange={(e) => {
          for (const f of Array.from(e.target.files ?? [])) void client.upload(roomId, f);
          e.target.value = "";
        }}
      />
      <button
        type="button"
        className="attach"
        title="Attach a file"
        aria-label="Attach a file"
        onClick={() => fileInput.current?.click()}
      >
        <svg aria-hidden="true" viewBox="0 0 24 24" width="20" height="20" fill="none" stroke="currentColor" strokeWidth="2" strokeLinecap="round" strokeLinejoin="round">
          <path d="M21 11.5l-8.6 8.6a5.5 5.5 0 0 1-7.8-7.8l8.6-8.6a3.7 3.7 0 0 1 5.2 5.2l-8.6 8.6a1.8 1.8 0 0 1-2.6-2.6l7.9-7.9" />
        </svg>
      </button>
      <label htmlFor={`${id}-text`} className="visually-hidden">
        Message
      </label>
      <textarea
        id={`${id}-text`}
        ref={input}
        rows={1}
        placeholder="Write a message"
        maxLength={MAX_BODY}
        value={text}
        onChange={(e) => {
          setText(e.target.value);
          setTyped(mentionAt(e.target.value, e.target.selectionStart ?? e.target.value.length));
          setChoice(0);
          if (e.target.value) client.typing(roomId);
        }}
        onKeyDown={onKey}
        role="combobox"
        aria-autocomplete="list"
        aria-expanded={suggesting}
        aria-controls={suggesting ? `${id}-mentions` : undefined}
        aria-activedescendant={suggesting ? optionId(Math.min(choice, candidates.length - 1)) : undefined}
      />
      {suggesting && (
        <ul id={`${id}-mentions`} role="listbox" aria-label="Mention someone" className="mentions-list">
          {candidates.map((c, i) => (
            <li
              key={c.username}
              id={optionId(i)}
              role="option"
              aria-selected={i === Math.min(choice, candidates.length - 1)}
              onMouseDown={(e) => {
                e.preventDefault();
                complete(c.username);
              }}
            >
              {c.label}
            </li>
          ))}
        </ul>
      )}
      {text.length >= MAX_BODY - 500 && (
        <span className="counter" aria-live="polite" data-left={MAX_BODY - text.length}>
          {MAX_BODY - text.length} characters left
        </span>
      )}
      <button type="submit" className="primary" disabled={!text.trim()}>
        Send
      </button>
    </form>
  );
}
