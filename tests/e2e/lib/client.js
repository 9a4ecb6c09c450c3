// HTTP and Socket.IO helpers: register users, call the REST API, connect sockets that record
// every event they receive, emit with an acknowledgement and a timeout, wait for events.

import assert from "node:assert/strict";
import crypto from "node:crypto";
import { io } from "socket.io-client";

export const sleep = (ms) => new Promise((r) => setTimeout(r, ms));

/** A short random lowercase suffix. */
export function rand(n = 8) {
  return crypto.randomBytes(16).toString("hex").slice(0, n);
}

/** A unique valid username (3–32 chars of [a-z0-9_.-]) starting with `prefix`. */
export function uniqueName(prefix = "u") {
  const p = prefix.toLowerCase().replace(/[^a-z0-9_.-]/g, "").slice(0, 20) || "u";
  return `${p}_${rand(10)}`;
}

// ---------------------------------------------------------------------------------------------
// HTTP

/**
 * Calls the REST API. `token` is a user object ({token}) or a bare access token.
 * Resolves to {status, body, headers}; `body` is parsed JSON when there is any, else null.
 */
export async function api(srv, method, path, { token, body, headers = {} } = {}) {
  const h = { ...headers };
  const tok = typeof token === "object" && token ? token.token : token;
  if (tok) h.Authorization = `Bearer ${tok}`;
  let payload;
  if (body !== undefined) {
    h["Content-Type"] ??= "application/json";
    payload = typeof body === "string" ? body : JSON.stringify(body);
  }
  const res = await fetch(`${srv.url}${path}`, {
    method,
    headers: h,
    body: payload,
    signal: AbortSignal.timeout(15_000),
  });
  const text = await res.text();
  let parsed = null;
  if (text.length) {
    try {
      parsed = JSON.parse(text);
    } catch {
      parsed = text;
    }
  }
  return { status: res.status, body: parsed, headers: res.headers };
}

/** `api` that asserts the status and returns the body. */
export async function apiOk(srv, method, path, expectStatus, opts) {
  const res = await api(srv, method, path, opts);
  assert.equal(
    res.status,
    expectStatus,
    `${method} ${path}: expected ${expectStatus}, got ${res.status} ${JSON.stringify(res.body)}`,
  );
  return res.body;
}

/**
 * Registers a fresh user. Returns {id, username, user, token, refresh, session}.
 */
export async function register(srv, prefix = "u") {
  const username = uniqueName(prefix);
  const password = `pw-${rand(12)}-secret`;
  const session = await apiOk(srv, "POST", "/api/auth/register", 201, { body: { username, password } });
  assert.ok(session.access_token, "register returns an access_token");
  assert.ok(session.user?.id, "register returns the user");
  return {
    id: session.user.id,
    username,
    password,
    user: session.user,
    token: session.access_token,
    refresh: session.refresh_token,
    session,
  };
}

export async function registerMany(srv, n, prefix = "u") {
  return Promise.all(Array.from({ length: n }, (_, i) => register(srv, `${prefix}${i}`)));
}

/** POST /api/rooms: a group owned by `owner` with `members` (user objects or ids). */
export async function createGroup(srv, owner, members = [], name = `room ${rand(6)}`) {
  const ids = members.map((m) => (typeof m === "string" ? m : m.id));
  return apiOk(srv, "POST", "/api/rooms", 201, { token: owner, body: { name, members: ids } });
}

/** GET /api/rooms/{id}/messages with query params; returns {messages, has_more}. */
export async function history(srv, user, roomId, query = {}) {
  const qs = new URLSearchParams(Object.entries(query).map(([k, v]) => [k, String(v)])).toString();
  return apiOk(srv, "GET", `/api/rooms/${encodeURIComponent(roomId)}/messages${qs ? `?${qs}` : ""}`, 200, {
    token: user,
  });
}

/** All messages of a room, paging with after_seq. */
export async function fullHistory(srv, user, roomId) {
  const all = [];
  let after = 0;
  for (let i = 0; i < 1000; i++) {
    const page = await history(srv, user, roomId, { after_seq: after, limit: 100 });
    all.push(...page.messages);
    if (!page.has_more || page.messages.length === 0) break;
    after = page.messages.at(-1).seq;
  }
  return all;
}

/** The caller's view of one room in GET /api/rooms. */
export async function roomInList(srv, user, roomId) {
  const { rooms } = await apiOk(srv, "GET", "/api/rooms", 200, { token: user });
  return rooms.find((r) => r.id === roomId);
}

// ---------------------------------------------------------------------------------------------
// Socket.IO

const openSockets = new Set();

/** Closes every socket opened through `connect`/`openSocket` (called after each test). */
export function closeAllSockets() {
  for (const s of openSockets) {
    try {
      s.disconnect();
    } catch {
      // already gone
    }
  }
  openSockets.clear();
}

/**
 * Creates a socket that records every event it receives in `socket.events` ({event, args, at})
 * from before it connects, so nothing sent right on connect is missed. Not connected yet.
 */
export function openSocket(srv, token, opts = {}) {
  const tok = typeof token === "object" && token ? token.token : token;
  const socket = io(srv.url, {
    autoConnect: false,
    reconnection: false,
    forceNew: true,
    timeout: 10_000,
    transports: ["websocket"],
    ...(tok === undefined ? {} : { auth: { token: tok } }),
    ...opts,
  });
  socket.events = [];
  socket.waiters = new Set();
  socket.disconnects = [];
  const record = (event, args) => {
    socket.events.push({ event, args, at: Date.now() });
    for (const w of [...socket.waiters]) w();
  };
  socket.onAny((event, ...args) => record(event, args));
  socket.on("disconnect", (reason, details) => {
    socket.disconnects.push({ reason, details });
    record("$disconnect", [reason]);
  });
  socket.on("connect_error", (err) => record("$connect_error", [err]));
  openSockets.add(socket);
  return socket;
}

/**
 * Connects as `token` (a user or a token). Resolves with the connected socket, or rejects with
 * the `connect_error` Error (err.message is the server's message).
 * opts: socket.io-client options, e.g. {transports: ["polling"]}, {extraHeaders}.
 */
export function connect(srv, token, opts = {}) {
  const socket = openSocket(srv, token, opts);
  return new Promise((resolve, reject) => {
    const timer = setTimeout(() => {
      cleanup();
      socket.disconnect();
      reject(new Error("connect timed out after 10 s"));
    }, 10_000);
    const onConnect = () => {
      cleanup();
      resolve(socket);
    };
    const onError = (err) => {
      cleanup();
      socket.disconnect();
      reject(err);
    };
    const cleanup = () => {
      clearTimeout(timer);
      socket.off("connect", onConnect);
      socket.off("connect_error", onError);
    };
    socket.on("connect", onConnect);
    socket.on("connect_error", onError);
    socket.connect();
  });
}

/** Connects and expects a connect_error; resolves with it (fails if the socket connects). */
export async function connectFails(srv, token, opts = {}) {
  try {
    const s = await connect(srv, token, opts);
    s.disconnect();
  } catch (err) {
    return err;
  }
  assert.fail("the connection was accepted, expected a connect_error");
}

/** Emits with an acknowledgement; rejects if none comes within `ms`. */
export async function emitAck(socket, event, payload, ms = 20_000) {
  try {
    return await socket.timeout(ms).emitWithAck(event, payload);
  } catch (err) {
    throw new Error(
      `no ack for '${event}' within ${ms} ms (${err.message}; socket ${socket.connected ? "connected" : "disconnected"}): ` +
        JSON.stringify(payload)?.slice(0, 200),
    );
  }
}

/** `emitAck` that asserts `{ok: true}` and returns the ack. */
export async function emitOk(socket, event, payload, ms) {
  const ack = await emitAck(socket, event, payload, ms);
  assert.equal(ack?.ok, true, `${event} ack: ${JSON.stringify(ack)}`);
  return ack;
}

/** `emitAck` that asserts `{ok: false, error: {code}}` and returns the ack. */
export async function emitErr(socket, event, payload, code, ms) {
  const ack = await emitAck(socket, event, payload, ms);
  assert.equal(ack?.ok, false, `${event} ${JSON.stringify(payload)?.slice(0, 200)} should fail with ${code}, ack: ${JSON.stringify(ack)?.slice(0, 300)}`);
  assert.equal(ack?.error?.code, code, `${event} error code, ack: ${JSON.stringify(ack)?.slice(0, 300)}`);
  assert.equal(typeof ack.error.message, "string", "error.message is a string");
  return ack;
}

let clientSeq = 0;
/** A fresh client_id. */
export function cid(prefix = "c") {
  clientSeq += 1;
  return `${prefix}-${rand(8)}-${clientSeq}`;
}

/** message:send; asserts ok and returns the Message. */
export async function send(socket, roomId, body = `hello ${rand(6)}`, extra = {}) {
  const ack = await emitOk(socket, "message:send", { room_id: roomId, client_id: cid(), body, ...extra });
  assert.ok(ack.message, `message:send ack carries the message: ${JSON.stringify(ack)}`);
  return ack.message;
}

/** Runs task(0..n-1) with at most `window` pending at once; resolves with the results in order. */
export async function pipelined(n, window, task) {
  const results = new Array(n);
  let next = 0;
  const worker = async () => {
    while (next < n) {
      const i = next++;
      results[i] = await task(i);
    }
  };
  await Promise.all(Array.from({ length: Math.min(window, n) }, worker));
  return results;
}

/** Sends `n` messages into `roomId` with `window` in flight; asserts each ack ok; returns the Messages in order sent. */
export async function sendMany(socket, roomId, n, { window = 10, prefix = "msg" } = {}) {
  const acks = await pipelined(n, window, (i) =>
    emitOk(socket, "message:send", { room_id: roomId, client_id: cid(prefix), body: `${prefix} ${i}` }, 30_000),
  );
  return acks.map((a) => a.message);
}

/** The payloads of recorded events named `event` matching `pred` (on the first argument). */
export function received(socket, event, pred = () => true) {
  return socket.events.filter((e) => e.event === event && pred(e.args[0])).map((e) => e.args[0]);
}

/** Messages (`message` events) received for `roomId`. */
export function messagesIn(socket, roomId) {
  return received(socket, "message", (m) => m?.room_id === roomId);
}

/**
 * Waits until `socket` has recorded at least `n` events named `event` whose first argument
 * matches `pred`; resolves with their payloads. Rejects after `ms` with what it saw.
 */
export function waitForEvents(socket, event, n = 1, pred = () => true, ms = 10_000) {
  return new Promise((resolve, reject) => {
    const check = () => {
      const got = received(socket, event, pred);
      if (got.length >= n) {
        done();
        resolve(got);
        return true;
      }
      return false;
    };
    const done = () => {
      clearTimeout(timer);
      socket.waiters.delete(check);
    };
    const timer = setTimeout(() => {
      done();
      const got = received(socket, event, pred);
      reject(
        new Error(
          `timed out after ${ms} ms waiting for ${n} '${event}' event(s); got ${got.length}` +
            (got.length ? `; last: ${JSON.stringify(got.at(-1)).slice(0, 300)}` : "") +
            `; all events seen: ${summarize(socket)}`,
        ),
      );
    }, ms);
    if (!check()) socket.waiters.add(check);
  });
}

/** Waits for one event; resolves with its payload. */
export async function waitForEvent(socket, event, pred = () => true, ms = 10_000) {
  const got = await waitForEvents(socket, event, 1, pred, ms);
  return got[0];
}

/** Waits until `roomId` has at least `n` messages on `socket`; resolves with them. */
export function waitForMessages(socket, roomId, n, ms = 15_000) {
  return waitForEvents(socket, "message", n, (m) => m?.room_id === roomId, ms);
}

/** Resolves when the socket is disconnected (with the reason). */
export function waitForDisconnect(socket, ms = 10_000) {
  return waitForEvent(socket, "$disconnect", () => true, ms);
}

function summarize(socket) {
  const counts = {};
  for (const e of socket.events) counts[e.event] = (counts[e.event] ?? 0) + 1;
  return JSON.stringify(counts);
}

/** Polls `fn` until it returns a truthy value (returned) or `ms` passes (then throws). */
export async function eventually(fn, ms = 10_000, what = "condition") {
  const deadline = Date.now() + ms;
  let last;
  for (;;) {
    try {
      last = await fn();
      if (last) return last;
    } catch (err) {
      last = err;
    }
    if (Date.now() > deadline) {
      throw new Error(`timed out after ${ms} ms waiting for ${what}; last: ${last instanceof Error ? last.message : JSON.stringify(last)}`);
    }
    await sleep(50);
  }
}

/** Seqs of a list of messages. */
export const seqs = (msgs) => msgs.map((m) => m.seq);

/** [from, from+1, …, to]. */
export function range(from, to) {
  const out = [];
  for (let i = from; i <= to; i++) out.push(i);
  return out;
}

/**
 * One well-behaved round trip: `a` sends into `roomId`, `b` receives that very message.
 * Proves the server still serves ordinary traffic.
 */
export async function roundTrip(a, b, roomId, label = "round trip") {
  const body = `${label} ${rand(6)}`;
  const msg = await send(a, roomId, body);
  await waitForEvent(b, "message", (m) => m?.id === msg.id, 10_000);
  return msg;
}
