import { useEffect, useId, useRef, useState, type FormEvent, type ReactNode } from "react";
import type { Message } from "./api";
import type { ChatClient, State } from "./client";
import { matchRanges, type Range } from "./matching";
import { roomTitle, userName, whenOf } from "./names";

interface Props {
  client: ChatClient;
  state: State;
  onOpen: (message: Message) => void;
  /** What the results take the place of while a search is open (the room list). */
  children: ReactNode;
}

/** Wait this long after the last key before searching what is typed. */
const TYPING_PAUSE_MS = 300;

/**
 * Message search across the user's rooms: a box (focused by Ctrl+K or ⌘K, or by / outside a
 * text field) whose query is searched as it is typed (from 2 characters) or on Enter; its
 * results replace the room list until the search is closed (Escape, or "Close search").
 */
export function MessageSearch({ client, state, onOpen, children }: Props) {
  const id = useId();
  const input = useRef<HTMLInputElement>(null);
  const [text, setText] = useState("");
  const [query, setQuery] = useState<string | null>(null);

  useEffect(() => {
    const q = text.trim();
    if (!q) setQuery(null);
    if (q.length < 2) return;
    const t = setTimeout(() => setQuery(q), TYPING_PAUSE_MS);
    return () => clearTimeout(t);
  }, [text]);

  useEffect(() => {
    const onKey = (e: KeyboardEvent) => {
      const el = e.target as HTMLElement | null;
      const editing = !!el && (el.isContentEditable || ["INPUT", "TEXTAREA", "SELECT"].includes(el.tagName));
      const plain = !e.ctrlKey && !e.metaKey && !e.altKey;
      const shortcut = e.key.toLowerCase() === "k" && (e.ctrlKey || e.metaKey) && !e.altKey && !e.shiftKey;
      if (shortcut || (e.key === "/" && plain && !editing)) {
        e.preventDefault();
        input.current?.focus();
        input.current?.select();
      }
    };
    window.addEventListener("keydown", onKey);
    return () => window.removeEventListener("keydown", onKey);
  }, []);

  function submit(e: FormEvent) {
    e.preventDefault();
    const q = text.trim();
    if (q) setQuery(q);
  }

  function close() {
    setText("");
    setQuery(null);
    input.current?.focus();
  }

  return (
    <div
      className="message-search"
      onKeyDown={(e) => {
        if (e.key === "Escape" && query !== null) {
          e.preventDefault();
          close();
        }
      }}
    >
      <form role="search" className="search" onSubmit={submit}>
        <label htmlFor={id}>Search messages</label>
        <input
          id={id}
          ref={input}
          type="search"
          placeholder="Find words in any chat"
          title="Ctrl+K or /"
          aria-keyshortcuts="Control+K Meta+K /"
          maxLength={200}
          spellCheck={false}
          value={text}
          onChange={(e) => setText(e.target.value)}
        />
      </form>
      {query === null ? (
        children
      ) : (
        <SearchResults key={query} client={client} state={state} query={query} onOpen={onOpen} onClose={close} />
      )}
    </div>
  );
}

/** A server's sentence as one: ending with a stop. */
function sentence(text: string): string {
  return /[.!?…]$/.test(text) ? text : `${text}.`;
}

function SearchResults({
  client,
  state,
  query,
  onOpen,
  onClose,
}: {
  client: ChatClient;
  state: State;
  query: string;
  onOpen: (message: Message) => void;
  onClose: () => void;
}) {
  const titleId = useId();
  const [hits, setHits] = useState<Message[]>([]);
  const [next, setNext] = useState<string | null>(null);
  /** The page asked for: the first (`before` null), or the one after an earlier page's `next`. */
  const [page, setPage] = useState<{ before: string | null }>({ before: null });
  const [busy, setBusy] = useState(true);
  const [error, setError] = useState<string | null>(null);

  useEffect(() => {
    let live = true;
    setBusy(true);
    client.searchMessages(query, page.before).then(
      (found) => {
        if (!live) return;
        setHits((held) => (page.before ? [...held, ...found.messages] : found.messages));
        setNext(found.next);
        setError(null);
        setBusy(false);
      },
      (e: Error) => {
        if (!live) return;
        setError(sentence(e.message));
        setBusy(false);
      },
    );
    return () => {
      live = false;
    };
  }, [client, query, page]);

  const status =
    busy && hits.length === 0
      ? "Searching…"
      : error
        ? ""
        : hits.length === 0
          ? `No messages found for “${query}”`
          : `${hits.length} found${next ? ", more to load" : ""}`;
  return (
    <section className="search-results" aria-labelledby={titleId}>
      <div className="search-results-head">
        <h2 id={titleId} className="rooms-title">
          Messages
        </h2>
        <button type="button" className="link" onClick={onClose}>
          Close search
        </button>
      </div>
      <p className="hint" role="status">
        {status}
      </p>
      {error && (
        <p className="error small" role="alert">
          {error}
        </p>
      )}
      {hits.length > 0 && (
        <ul className="hits" aria-label={`Messages found for “${query}”`}>
          {hits.map((m) => (
            <Hit key={m.id} state={state} message={m} query={query} onOpen={onOpen} />
          ))}
        </ul>
      )}
      {next && (
        <button type="button" className="more" disabled={busy} onClick={() => setPage({ before: next })}>
          {busy ? "Loading…" : "Load more"}
        </button>
      )}
    </section>
  );
}

/** One message found: its room, who wrote it and when, and its text with the matches marked. */
function Hit({
  state,
  message: m,
  query,
  onOpen,
}: {
  state: State;
  message: Message;
  query: string;
  onOpen: (message: Message) => void;
}) {
  const room = state.rooms[m.room_id];
  return (
    <li>
      <button type="button" className="hit" onClick={() => onOpen(m)}>
        <span className="hit-head">
          <span className="hit-room">{room ? roomTitle(state, room) : "A conversation"}</span>
          <time dateTime={m.created_at}>{whenOf(m.created_at)}</time>
        </span>
        <span className="hit-sender">
          {userName(state.users, m.sender_id)}
          {m.thread_id && <span className="hit-where"> · in a thread</span>}
        </span>
        <span className="hit-body">
          <Marked text={m.body} ranges={matchRanges(query, m.body)} />
        </span>
      </button>
    </li>
  );
}

/** How much text is kept before the first match when a long body is cut to show it. */
const LEAD = 40;

/** `text` with `ranges` in `<mark>`; a long text starts a few words before its first match. */
function Marked({ text, ranges }: { text: string; ranges: Range[] }) {
  const from = excerptStart(text, ranges[0]?.[0] ?? 0);
  const out: ReactNode[] = from > 0 ? ["…"] : [];
  let at = from;
  for (const [start, end] of ranges) {
    if (start > at) out.push(text.slice(at, start));
    out.push(<mark key={start}>{text.slice(start, end)}</mark>);
    at = end;
  }
  out.push(text.slice(at));
  return <>{out}</>;
}

/** Where to start showing `text` so that its match at `first` shows: after a space, if one is near. */
function excerptStart(text: string, first: number): number {
  if (first <= 2 * LEAD) return 0;
  const start = first - LEAD;
  const space = text.slice(start, first).search(/\s/);
  if (space >= 0) return start + space + 1;
  // Not inside a character written with two units.
  return /[\uDC00-\uDFFF]/.test(text.charAt(start)) ? start - 1 : start;
}
