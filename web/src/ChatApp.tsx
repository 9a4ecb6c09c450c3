import { useEffect, useState, useSyncExternalStore } from "react";
import type { Api, Message, User } from "./api";
import { ChatClient, type State } from "./client";
import { Conversation } from "./Conversation";
import { Notifications } from "./Notifications";
import { Sidebar } from "./Sidebar";

function roomFromUrl(): string | null {
  return new URLSearchParams(location.search).get("room");
}

/** The signed-in app: one live client for as long as this user is signed in. */
export function ChatApp({ api, me }: { api: Api; me: User }) {
  const [client, setClient] = useState<ChatClient | null>(null);
  useEffect(() => {
    const c = new ChatClient(api, me);
    setClient(c);
    return () => c.close();
  }, [api, me]);
  return client ? <Signed api={api} me={me} client={client} /> : null;
}

/** The header, the room list and the open conversation. */
function Signed({ api, me, client }: { api: Api; me: User; client: ChatClient }) {
  const state = useSyncExternalStore(client.subscribe, client.getState);

  // The open room lives in the URL, so Back returns to the list on a phone.
  useEffect(() => {
    client.open(roomFromUrl());
    const onPop = () => client.open(roomFromUrl());
    const onWorker = (e: MessageEvent<{ type?: string; room_id?: string }>) => {
      if (e.data?.type === "open-room" && e.data.room_id) openRoom(e.data.room_id);
    };
    window.addEventListener("popstate", onPop);
    navigator.serviceWorker?.addEventListener("message", onWorker);
    return () => {
      window.removeEventListener("popstate", onPop);
      navigator.serviceWorker?.removeEventListener("message", onWorker);
    };
  }, [client]);

  function openRoom(id: string | null) {
    if (id === state.active) return;
    history.pushState(null, "", id ? `?room=${encodeURIComponent(id)}` : location.pathname);
    client.open(id);
  }

  // A search hit to show in its room, until its conversation takes it.
  const [jump, setJump] = useState<Message | null>(null);
  function openMessage(m: Message) {
    openRoom(m.room_id);
    setJump(m);
  }

  // The tab says how much is unread, so it shows from another tab.
  const unread = Object.values(state.rooms).reduce((n, r) => n + r.unread, 0);
  useEffect(() => {
    document.title = unread > 0 ? `(${unread > 99 ? "99+" : unread}) Chat` : "Chat";
  }, [unread]);

  function signOut() {
    // Nothing of this user stays behind: not the open room in the URL.
    history.replaceState(null, "", location.pathname);
    void api.logout();
  }

  const room = state.active ? state.rooms[state.active] : undefined;
  return (
    <div className="app" data-view={room ? "room" : "list"}>
      <header className="topbar">
        <h1 className="brand">Chat</h1>
        <ConnectionStatus state={state} />
        <Notifications api={api} />
        <span className="me" title={`@${me.username}`}>
          {me.display_name}
        </span>
        <button type="button" onClick={signOut}>
          Sign out
        </button>
      </header>
      <div className="layout">
        <Sidebar client={client} state={state} onOpen={openRoom} onOpenMessage={openMessage} />
        {room ? (
          <Conversation
            key={room.id}
            client={client}
            state={state}
            room={room}
            onBack={() => history.back()}
            jump={jump?.room_id === room.id ? jump : null}
            onJumped={() => setJump(null)}
          />
        ) : (
          <main className="empty" aria-label="Conversation">
            <p>Pick a conversation, or find someone to talk to.</p>
          </main>
        )}
      </div>
    </div>
  );
}

function ConnectionStatus({ state }: { state: State }) {
  const [text, cls] =
    state.connection === "online"
      ? ["Connected", "ok"]
      : state.connection === "offline"
        ? ["Offline: new messages will be sent when the connection is back", "bad"]
        : ["Connecting…", "warn"];
  return (
    <p className={`connection ${cls}`} role="status" aria-live="polite" data-connection={state.connection}>
      {text}
    </p>
  );
}
