import { useEffect, useId, useState, type FormEvent } from "react";
import type { Message, Room, User } from "./api";
import type { ChatClient, State } from "./client";
import { directPeer, roomTitle, userName, whenOf } from "./names";
import { MessageSearch } from "./Search";

interface Props {
  client: ChatClient;
  state: State;
  onOpen: (roomId: string) => void;
  onOpenMessage: (message: Message) => void;
}

/** Searching messages, finding people, creating groups, and the list of conversations. */
export function Sidebar({ client, state, onOpen, onOpenMessage }: Props) {
  const [grouping, setGrouping] = useState(false);
  return (
    <nav className="sidebar" aria-label="Conversations">
      <MessageSearch client={client} state={state} onOpen={onOpenMessage}>
        <PeopleSearch
          client={client}
          label="Find people"
          placeholder="Search by username"
          action="Chat with"
          onPick={async (user) => onOpen((await client.startDirect(user.id)).id)}
        />
        {grouping ? (
          <NewGroup
            client={client}
            onDone={(roomId) => {
              setGrouping(false);
              if (roomId) onOpen(roomId);
            }}
          />
        ) : (
          <button type="button" className="new-group" onClick={() => setGrouping(true)}>
            New group
          </button>
        )}
        <h2 className="rooms-title">Chats</h2>
        {state.order.length === 0 ? (
          <p className="hint">No conversations yet.</p>
        ) : (
          <ul className="rooms">
            {state.order.map((id) => {
              const room = state.rooms[id];
              if (!room) return null;
              const title = roomTitle(state, room);
              const peer = directPeer(state, room);
              const online = peer ? !!state.online[peer] : false;
              // While we are offline ourselves, nobody's presence is known.
              const known = state.connection === "online";
              const typing = Object.keys(state.typing[id] ?? {}).length > 0;
              // The latest message of the timeline: from the held history, else the list's own.
              const held = state.history[id];
              const last =
                (held?.loaded ? held.messages.filter((m) => !m.thread_id && m.kind !== "system").at(-1) : undefined) ??
                state.latest[id];
              return (
                <li key={id}>
                  <button
                    type="button"
                    className="room"
                    aria-current={state.active === id ? "true" : undefined}
                    onClick={() => onOpen(id)}
                    data-room={id}
                  >
                    <span className={`avatar ${room.kind}`} aria-hidden="true">
                      {title.slice(0, 1).toUpperCase()}
                      {peer && known && <span className={`dot ${online ? "on" : "off"}`} />}
                    </span>
                    <span className="room-text">
                      <span className="room-name">
                        {title}
                        {last && (
                          <time className="room-time" dateTime={last.created_at}>
                            {whenOf(last.created_at)}
                          </time>
                        )}
                      </span>
                      {last && <span className="room-last">{lastLine(state, room, last)}</span>}
                      <span className="room-sub">
                        {typing
                          ? "typing…"
                          : room.kind === "group"
                            ? `${room.members.length} members`
                            : !known
                              ? ""
                              : online
                                ? "online"
                                : "offline"}
                      </span>
                    </span>
                    {peer && known && <span className="visually-hidden">{online ? ", online" : ", offline"}</span>}
                    {(room.unread_mentions ?? 0) > 0 && (
                      <span
                        className="badge mentions-badge"
                        aria-label={`${room.unread_mentions} unread ${room.unread_mentions === 1 ? "mention" : "mentions"}`}
                        data-mentions={room.unread_mentions}
                      >
                        @
                      </span>
                    )}
                    {room.unread > 0 && (
                      <span className="badge" aria-label={`${room.unread} unread`} data-unread={room.unread}>
                        {room.unread > 99 ? "99+" : room.unread}
                      </span>
                    )}
                  </button>
                </li>
              );
            })}
          </ul>
        )}
      </MessageSearch>
    </nav>
  );
}

interface SearchProps {
  client: ChatClient;
  label: string;
  placeholder: string;
  action: string;
  onPick: (user: User) => Promise<void> | void;
  exclude?: string[];
}

/** A username search whose results are buttons. */
export function PeopleSearch({ client, label, placeholder, action, onPick, exclude = [] }: SearchProps) {
  const id = useId();
  const [q, setQ] = useState("");
  const [results, setResults] = useState<User[]>([]);
  const [error, setError] = useState<string | null>(null);

  useEffect(() => {
    const query = q.trim();
    if (query.length === 0) {
      setResults([]);
      return;
    }
    let live = true;
    const t = setTimeout(() => {
      client.searchUsers(query).then(
        (users) => {
          if (!live) return;
          setResults(users);
          setError(null);
        },
        (e: Error) => live && setError(e.message),
      );
    }, 200);
    return () => {
      live = false;
      clearTimeout(t);
    };
  }, [q, client]);

  const shown = results.filter((u) => !exclude.includes(u.id));
  return (
    <div className="search">
      <label htmlFor={id}>{label}</label>
      <input
        id={id}
        type="search"
        placeholder={placeholder}
        autoCapitalize="none"
        spellCheck={false}
        value={q}
        onChange={(e) => setQ(e.target.value)}
      />
      {error && (
        <p className="error small" role="alert">
          {error}
        </p>
      )}
      {q.trim() && (
        <ul className="results" aria-label="People found">
          {shown.length === 0 && <li className="hint">Nobody found.</li>}
          {shown.map((u) => (
            <li key={u.id}>
              <button
                type="button"
                aria-label={`${action} ${u.display_name} (@${u.username})`}
                onClick={async () => {
                  try {
                    await onPick(u);
                    setQ("");
                  } catch (e) {
                    setError(e instanceof Error ? e.message : "That did not work.");
                  }
                }}
              >
                <span>{u.display_name}</span> <span className="muted">@{u.username}</span>
              </button>
            </li>
          ))}
        </ul>
      )}
    </div>
  );
}

function NewGroup({ client, onDone }: { client: ChatClient; onDone: (roomId?: string) => void }) {
  const id = useId();
  const [name, setName] = useState("");
  const [members, setMembers] = useState<User[]>([]);
  const [error, setError] = useState<string | null>(null);

  async function submit(e: FormEvent) {
    e.preventDefault();
    try {
      const room = await client.createGroup(
        name.trim(),
        members.map((m) => m.id),
      );
      onDone(room.id);
    } catch (err) {
      setError(err instanceof Error ? err.message : "The group could not be created.");
    }
  }

  return (
    <form className="group-form" onSubmit={submit} aria-labelledby={`${id}-t`}>
      <h2 id={`${id}-t`}>New group</h2>
      <label htmlFor={`${id}-name`}>Group name</label>
      <input id={`${id}-name`} required maxLength={64} value={name} onChange={(e) => setName(e.target.value)} autoFocus />
      <PeopleSearch
        client={client}
        label="Add members"
        placeholder="Search by username"
        action="Add"
        exclude={members.map((m) => m.id)}
        onPick={(u) => setMembers((ms) => [...ms, u])}
      />
      {members.length > 0 && (
        <ul className="chips" aria-label="Members">
          {members.map((m) => (
            <li key={m.id}>
              {m.display_name}
              <button
                type="button"
                aria-label={`Remove ${m.display_name}`}
                onClick={() => setMembers((ms) => ms.filter((x) => x.id !== m.id))}
              >
                ×
              </button>
            </li>
          ))}
        </ul>
      )}
      {error && (
        <p className="error small" role="alert">
          {error}
        </p>
      )}
      <div className="row">
        <button type="submit" className="primary">
          Create group
        </button>
        <button type="button" onClick={() => onDone()}>
          Cancel
        </button>
      </div>
    </form>
  );
}

/** A room's latest message in one line: who wrote it (in groups, or "You"), and its text. */
function lastLine(state: State, room: Room, m: Message): string {
  const text = m.deleted
    ? "Message deleted"
    : m.body
      ? m.body.replace(/\s+/g, " ")
      : m.attachments.length > 0
        ? `📎 ${m.attachments[0]!.filename}`
        : "";
  const who = m.sender_id === state.me.id ? "You" : room.kind === "group" ? userName(state.users, m.sender_id) : null;
  return who ? `${who}: ${text}` : text;
}
