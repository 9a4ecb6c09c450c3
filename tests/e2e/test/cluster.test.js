// The distributed mode with the official client: one auth-service and three socket-service
// nodes on one Redis (private to this file, so it can be stopped), one RabbitMQ and one MongoDB
// (the shared test servers, kept apart by unique names). No db-writer runs: history is served
// from Redis's recent log, and the RabbitMQ queues keep every event for us to count.
//
//  1. members on different nodes see each message exactly once, in order
//  2. 3 nodes × 10 senders × 200 messages: every member gets seq 1..6000, acks too
//  3. a client_id retried on another node (and sent to all nodes at once) returns the original
//  4. kill -9 a node: its clients move to another node and sync; who stayed away goes offline
//  5. every acked message is in the db-writer (and push-service) queue exactly once
//  6. RabbitMQ, then Redis, down under steady sending: fast `unavailable`, nothing acked lost,
//     recovery without restarting a node
//
// Needs scripts/test-servers' variables and the built binaries (see lib/cluster.js); skipped
// without them. Run alone, in tests/e2e, with the servers' variables set:
//   exports=$(../../scripts/test-servers start) && eval "$exports"
//   (cd ../.. && cargo build -p socket-service -p auth-service)
//   node --test test/cluster.test.js
// CHAT_SERVICE_BIN_DIR points at other binaries; E2E_KEEP=1 keeps the services' logs.

import assert from "node:assert/strict";
import { after, before, describe } from "node:test";
import { Cluster, clusterUnavailable, drainQueue, rabbitmqctl } from "../lib/cluster.js";
import { serverTest } from "../lib/server.js";
import {
  cid,
  connect,
  createGroup,
  emitAck,
  eventually,
  messagesIn,
  pipelined,
  range,
  received,
  register,
  seqs,
  sleep,
  waitForEvent,
  waitForMessages,
} from "../lib/client.js";
import { assertMessage } from "../lib/assertions.js";

const NODE_TTL_MS = 3000;
/** A dead node's users are offline within 4/3 of the heartbeat TTL, plus slack for a busy CI box. */
const OFFLINE_BOUND_MS = Math.round((4 / 3) * NODE_TTL_MS) + 1500;
/** The server promises to fail fast when a dependency is down. */
const FAIL_FAST_MS = 5000;

const skip = clusterUnavailable();
if (skip) console.error(`[cluster] skipped: ${skip}`);

describe("cluster: 3 socket nodes on one Redis and one RabbitMQ", { skip: skip ?? false }, () => {
  const cluster = new Cluster({ nodes: 3 });
  let rabbitStopped = false;

  before(async () => {
    await cluster.start();
  });

  after(async () => {
    try {
      if (rabbitStopped) await rabbitmqctl("start_app").catch(() => {});
      for (const n of cluster.nodes) {
        const panics = n.log().split("\n").filter((l) => l.includes("panicked"));
        if (panics.length) console.error(`[cluster] ${n.name} log has panics:\n${panics.slice(0, 5).join("\n")}`);
      }
    } finally {
      await cluster.cleanup();
    }
  });

  // Each test starts with every node up (a test that failed half-way may have left one down).
  const ctest = (name, opts, fn) =>
    serverTest(() => cluster.procs, name, opts, async (t) => {
      for (const n of cluster.nodes) if (!n.alive) await n.start();
      return fn(t);
    });
  const N = () => cluster.nodes;

  // ---- every message:send ack of the file, for the queue check (5) --------------------------

  /** id → {seq, room_id, okAcks}; `${room}|${sender}|${client_id}` → attempts. */
  const acked = new Map();
  const attempts = new Map();
  /** Keys with an attempt that was answered not ok, or not answered at all. */
  const failedKeys = new Set();

  /** message:send through `socket`, remembered; resolves with {ack, ms} or {timeout, ms}. */
  async function tracked(socket, user, payload, ms = 10_000) {
    const key = `${payload.room_id}|${user.id}|${payload.client_id}`;
    attempts.set(key, (attempts.get(key) ?? 0) + 1);
    const t = Date.now();
    try {
      const ack = await emitAck(socket, "message:send", payload, ms);
      if (ack?.ok) {
        const m = ack.message;
        const prev = acked.get(m.id);
        acked.set(m.id, { seq: m.seq, room_id: m.room_id, key, okAcks: (prev?.okAcks ?? 0) + 1 });
      } else {
        failedKeys.add(key);
      }
      return { ack, ms: Date.now() - t };
    } catch (err) {
      failedKeys.add(key);
      return { timeout: true, error: err, ms: Date.now() - t };
    }
  }

  /** A send that must succeed; returns the Message. */
  async function sendOk(socket, user, roomId, body = `hello ${cid("b")}`, client_id = cid("c")) {
    const r = await tracked(socket, user, { room_id: roomId, client_id, body }, 30_000);
    assert.ok(!r.timeout, `message:send got no ack within 30 s (${body})`);
    assert.equal(r.ack?.ok, true, `message:send ack: ${JSON.stringify(r.ack)}`);
    return r.ack.message;
  }

  /** Every message of a room after `after` through `sync` (paging on has_more). */
  async function syncAll(socket, roomId, afterSeq = 0) {
    const all = [];
    let cursor = afterSeq;
    for (let page = 0; page < 1000; page++) {
      const ack = await emitAck(socket, "sync", { rooms: [{ room_id: roomId, after_seq: cursor }] }, 15_000);
      assert.equal(ack?.ok, true, `sync ack: ${JSON.stringify(ack)?.slice(0, 300)}`);
      const r = ack.rooms.find((x) => x.room_id === roomId);
      assert.ok(r && !r.error, `sync answers the room: ${JSON.stringify(r)?.slice(0, 300)}`);
      all.push(...r.messages);
      if (!r.has_more || r.messages.length === 0) break;
      cursor = r.messages.at(-1).seq;
    }
    return all;
  }

  /**
   * Proves nothing more is on its way: one sentinel message from each of `senders` (sockets
   * on different nodes), then waits until every receiver got all of them. A node publishes to
   * the Redis adapter in order, so anything a node broadcast before its sentinel has arrived.
   */
  async function flush(senders, roomId, receivers) {
    const sentinels = [];
    for (const { socket, user } of senders) sentinels.push(await sendOk(socket, user, roomId, `sentinel ${cid("s")}`));
    const ids = new Set(sentinels.map((m) => m.id));
    await Promise.all(
      receivers.map((s) => waitForEvents2(s, (e) => e.event === "message" && ids.has(e.args[0]?.id), ids.size, 20_000, "sentinels")),
    );
    return sentinels;
  }

  /** Polls `socket.events` (cheap with thousands of events, unlike a waiter per event). */
  async function waitForEvents2(socket, pred, n, ms, what) {
    return eventually(() => socket.events.filter(pred).length >= n, ms, `${n} ${what} on a socket (${socket.id})`);
  }

  /** Connects `user` to the first node of `nodes` that takes the connection (a client's node list). */
  async function connectAny(nodes, user, opts) {
    let last;
    for (const node of nodes) {
      try {
        return { socket: await connect(node, user, opts), node };
      } catch (err) {
        last = err;
      }
    }
    throw new Error(`no node took the connection: ${last?.message}`);
  }

  // ---- 1 -------------------------------------------------------------------------------------

  ctest("1. members on different nodes see every message exactly once, in order", { timeout: 60_000 }, async () => {
    const [a, b, c] = await Promise.all([register(cluster.auth, "one"), register(cluster.auth, "one"), register(cluster.auth, "one")]);
    const room = await createGroup(N()[0], a, [b, c]);
    // a on node0 and node2 (another socket of the sender), b on node1, c on node2.
    const [a0, a2, b1, c2] = await Promise.all([
      connect(N()[0], a),
      connect(N()[2], a),
      connect(N()[1], b),
      connect(N()[2], c),
    ]);
    const senders = [
      { socket: a0, user: a },
      { socket: b1, user: b },
      { socket: c2, user: c },
    ];
    const acks = [];
    for (let i = 0; i < 9; i++) {
      const { socket, user } = senders[i % 3];
      const body = `round ${i} from ${user.username}`;
      const m = await sendOk(socket, user, room.id, body);
      assertMessage(m, { room_id: room.id, sender_id: user.id, body, seq: i + 1 });
      acks.push(m);
    }
    const receivers = { a0, a2, b1, c2 };
    await Promise.all(Object.values(receivers).map((s) => waitForMessages(s, room.id, 9)));
    await flush(senders, room.id, Object.values(receivers));
    for (const [name, s] of Object.entries(receivers)) {
      const got = messagesIn(s, room.id).filter((m) => m.seq <= 9);
      assert.deepEqual(seqs(got), range(1, 9), `${name} (on ${s.io.uri}) sees seq 1..9 once each, in order`);
      got.forEach((m, i) => {
        assertMessage(m);
        assert.equal(m.id, acks[i].id, `${name}: the message at seq ${m.seq} is the acked one`);
        assert.equal(m.body, acks[i].body, `${name}: body at seq ${m.seq}`);
      });
    }
  });

  ctest("1b. a room created on one node reaches the members' live sockets on the other nodes", { timeout: 30_000 }, async () => {
    const [a, b, c] = await Promise.all([register(cluster.auth, "live"), register(cluster.auth, "live"), register(cluster.auth, "live")]);
    const [b1, c2] = await Promise.all([connect(N()[1], b), connect(N()[2], c)]);
    const room = await createGroup(N()[0], a, [b, c]);
    await Promise.all([
      waitForEvent(b1, "room:added", (r) => r?.id === room.id),
      waitForEvent(c2, "room:added", (r) => r?.id === room.id),
    ]);
    const a0 = await connect(N()[0], a);
    const m = await sendOk(a0, a, room.id, "to sockets that were there before the room");
    await Promise.all([b1, c2].map((s) => waitForEvent(s, "message", (x) => x?.id === m.id)));
  });

  // ---- 3 -------------------------------------------------------------------------------------

  ctest("3. a client_id retried on another node returns the original and broadcasts nothing new", { timeout: 60_000 }, async () => {
    const [a, b, c] = await Promise.all([register(cluster.auth, "retry"), register(cluster.auth, "retry"), register(cluster.auth, "retry")]);
    const room = await createGroup(N()[0], a, [b, c]);
    const [a0, a1, a2, b2, c0] = await Promise.all([
      connect(N()[0], a),
      connect(N()[1], a),
      connect(N()[2], a),
      connect(N()[2], b),
      connect(N()[0], c),
    ]);
    const everyone = [a0, a1, a2, b2, c0];
    const first = await sendOk(a0, a, room.id, "say it once", "retry-1");
    const again = await sendOk(a1, a, room.id, "say it once (retried)", "retry-1");
    assert.equal(again.id, first.id, "the retry on node1 returns the original id");
    assert.equal(again.seq, first.seq, "and the original seq");
    assert.equal(again.body, first.body, "and the original body");
    assert.equal(again.created_at, first.created_at, "and the original created_at");
    // The same client_id sent to all three nodes at once: one message, the same for all.
    const racers = await Promise.all(
      [a0, a1, a2].map((s) => tracked(s, a, { room_id: room.id, client_id: "retry-2", body: "raced" }, 15_000)),
    );
    for (const r of racers) assert.equal(r.ack?.ok, true, `racing send ack: ${JSON.stringify(r.ack ?? r.error?.message)}`);
    const raced = racers.map((r) => r.ack.message);
    assert.equal(new Set(raced.map((m) => m.id)).size, 1, `one message for three racing sends: ${JSON.stringify(raced.map((m) => [m.id, m.seq]))}`);
    assert.equal(raced[0].seq, first.seq + 1, "the racing sends took one seq");

    // Sentinels from every node: whatever a node broadcast before them has arrived.
    const [s0] = await flush([{ socket: a0, user: a }, { socket: a1, user: a }, { socket: a2, user: a }], room.id, everyone);
    assert.equal(s0.seq, first.seq + 2, "no seq was spent on the retries (no gap for clients to sync)");
    for (const [i, s] of everyone.entries()) {
      const got = messagesIn(s, room.id);
      assert.equal(got.filter((m) => m.id === first.id).length, 1, `socket ${i} got the retried message once`);
      assert.equal(got.filter((m) => m.id === raced[0].id).length, 1, `socket ${i} got the raced message once`);
    }
  });

  // ---- 2 -------------------------------------------------------------------------------------

  ctest("2. 3 nodes × 10 senders × 200 messages: every member gets seq 1..6000 once, acks are 1..6000", { timeout: 150_000 }, async (t) => {
    const NODES = 3;
    const PER_NODE = 10;
    const PER_SENDER = 200;
    const WINDOW = 5;
    const TOTAL = NODES * PER_NODE * PER_SENDER;
    const senders = await pipelined(NODES * PER_NODE, 4, () => register(cluster.auth, "load"));
    const listeners = await Promise.all(range(1, NODES).map(() => register(cluster.auth, "listen")));
    const room = await createGroup(N()[0], listeners[0], [...listeners.slice(1), ...senders]);
    const senderSockets = await Promise.all(senders.map((u, i) => connect(N()[i % NODES], u)));
    const listenerSockets = await Promise.all(listeners.map((u, i) => connect(N()[i], u)));

    const t0 = Date.now();
    const results = await Promise.all(
      senders.map((user, i) =>
        pipelined(PER_SENDER, WINDOW, (j) =>
          tracked(senderSockets[i], user, { room_id: room.id, client_id: cid(`l${i}`), body: `sender ${i} message ${j}` }, 60_000),
        ),
      ),
    );
    const sendMs = Date.now() - t0;
    const flat = results.flat();
    const failed = flat.filter((r) => r.timeout || !r.ack?.ok);
    assert.deepEqual(
      failed.slice(0, 5).map((r) => (r.timeout ? `no ack after ${r.ms} ms` : r.ack)),
      [],
      `every send is acked ok (${failed.length} of ${TOTAL} failed)`,
    );
    const ackSeqs = flat.map((r) => r.ack.message.seq).sort((x, y) => x - y);
    assert.deepEqual(ackSeqs, range(1, TOTAL), "the acks' seqs are exactly 1..6000");
    const bySeq = new Map(flat.map((r) => [r.ack.message.seq, r.ack.message.id]));

    const all = [...listenerSockets, ...senderSockets];
    const countIn = (s) => s.events.reduce((n, e) => n + (e.event === "message" && e.args[0]?.room_id === room.id ? 1 : 0), 0);
    // Wait until every socket has them all, or until deliveries stop coming (nothing new for 5 s).
    let counts = all.map(countIn);
    for (let lastChange = Date.now(); counts.some((n) => n < TOTAL) && Date.now() - lastChange < 5000 && Date.now() - t0 < 120_000; ) {
      await sleep(100);
      const now = all.map(countIn);
      if (now.some((n, i) => n !== counts[i])) lastChange = Date.now();
      counts = now;
    }
    const perNode = range(0, NODES - 1).map((k) => counts.filter((_, i) => (i < NODES ? i : i - NODES) % NODES === k));
    if (counts.some((n) => n < TOTAL)) {
      // Where the missing ones were sent from, as seen by the listener on each node.
      const originOf = new Map(flat.map((r, k) => [r.ack.message.seq, Math.floor(k / PER_SENDER) % NODES]));
      const where = listenerSockets.map((s, k) => {
        const got = new Set(messagesIn(s, room.id).map((m) => m.seq));
        const lost = range(1, TOTAL).filter((q) => !got.has(q));
        return `listener on node${k} misses ${lost.length}, sent from ${JSON.stringify(countBy(lost, (q) => `node${originOf.get(q)}`))}`;
      });
      assert.fail(
        `every member socket gets all ${TOTAL} messages; got, per node of the socket: ` +
          `${perNode.map((c, k) => `node${k}: ${[...new Set(c)].join("/")}`).join(", ")}; ${where.join("; ")}`,
      );
    }
    const recvMs = Date.now() - t0;
    await flush(listeners.map((u, i) => ({ socket: listenerSockets[i], user: u })), room.id, all);
    let outOfOrder = 0;
    for (const [i, s] of all.entries()) {
      const name = i < NODES ? `listener on node${i}` : `sender ${i - NODES} on node${(i - NODES) % NODES}`;
      const got = messagesIn(s, room.id).filter((m) => m.seq <= TOTAL);
      const sorted = seqs(got).sort((x, y) => x - y);
      const dupes = sorted.filter((x, k) => k > 0 && x === sorted[k - 1]);
      assert.deepEqual(dupes.slice(0, 10), [], `${name}: no seq twice (${dupes.length} repeats)`);
      assert.equal(sorted.length, TOTAL, `${name}: ${TOTAL} messages`);
      assert.deepEqual(sorted, range(1, TOTAL), `${name}: seq 1..${TOTAL}, no gap`);
      for (const m of got) {
        if (bySeq.get(m.seq) !== m.id) assert.fail(`${name}: the message at seq ${m.seq} is ${m.id}, the ack said ${bySeq.get(m.seq)}`);
      }
      for (let k = 1; k < got.length; k++) if (got[k].seq < got[k - 1].seq) outOfOrder++;
    }
    t.diagnostic(`6000 sends acked in ${sendMs} ms (${Math.round((TOTAL * 1000) / sendMs)}/s), all delivered to ${all.length} sockets after ${recvMs} ms; deliveries that arrived after a higher seq: ${outOfOrder} (of ${TOTAL * all.length})`);
  });

  // ---- 4 -------------------------------------------------------------------------------------

  ctest("4. kill -9 a node: its clients resume on another node with sync; who stayed away goes offline in time", { timeout: 60_000 }, async (t) => {
    const [o, s, r, z] = await Promise.all(["obs", "snd", "back", "gone"].map((p) => register(cluster.auth, p)));
    const room = await createGroup(N()[0], o, [s, r, z]);
    const o0 = await connect(N()[0], o);
    const s1 = await connect(N()[1], s);
    const r2 = await connect(N()[2], r);
    const z2 = await connect(N()[2], z);
    // The observer sees r and z come online (their presence is recorded on node2).
    for (const u of [r, z]) await waitForEvent(o0, "presence", (p) => p?.user_id === u.id && p.online === true, 10_000);

    const before = [];
    for (let i = 0; i < 3; i++) before.push(await sendOk(s1, s, room.id, `before the crash ${i}`));
    await Promise.all([r2, z2].map((x) => waitForMessages(x, room.id, 3)));
    const cursor = Math.max(...seqs(messagesIn(r2, room.id)));
    assert.equal(cursor, before.at(-1).seq, "r's cursor is the last message it saw");

    const killedAt = Date.now();
    N()[2].signal("SIGKILL");
    await Promise.all([r2, z2].map((x) => waitForEvent(x, "$disconnect", () => true, 10_000)));

    // While r is away, s sends.
    const missed = [];
    for (let i = 0; i < 5; i++) missed.push(await sendOk(s1, s, room.id, `while r was away ${i}`));

    // r's client tries its node list (node2 first: it is dead) and resumes elsewhere.
    const { socket: rb, node } = await connectAny([N()[2], N()[0], N()[1]], r);
    assert.notEqual(node, N()[2], "r reconnected to a surviving node");
    const synced = await syncAll(rb, room.id, cursor);
    assert.deepEqual(
      synced.map((m) => [m.seq, m.id]),
      missed.map((m) => [m.seq, m.id]),
      "sync with r's cursor returns exactly the messages sent while it was away",
    );
    synced.forEach((m, i) => assertMessage(m, { body: missed[i].body, sender_id: s.id }));
    // and live delivery goes on on the new node
    const live = await sendOk(s1, s, room.id, "after r came back");
    await waitForEvent(rb, "message", (m) => m?.id === live.id);
    assert.equal(live.seq, missed.at(-1).seq + 1, "seqs stay contiguous across the crash");

    // z did not come back: both surviving nodes' members see z go offline within the bound.
    const offlineZ = (x) => x.events.find((e) => e.event === "presence" && e.args[0]?.user_id === z.id && e.args[0]?.online === false);
    await eventually(() => offlineZ(o0) && offlineZ(s1), OFFLINE_BOUND_MS + 3000, "presence {z, online:false} on node0 and node1");
    for (const [name, x] of [["observer on node0", o0], ["sender on node1", s1]]) {
      const ms = offlineZ(x).at - killedAt;
      t.diagnostic(`${name} saw z offline ${ms} ms after the kill`);
      assert.ok(ms <= OFFLINE_BOUND_MS, `${name} saw z offline ${ms} ms after the kill; bound ${OFFLINE_BOUND_MS} ms (4/3 × ${NODE_TTL_MS} + slack)`);
    }
    // A client loading the page now sees r online and z offline.
    const o0b = await connect(N()[1], o);
    await waitForEvent(o0b, "presence", (p) => p?.user_id === r.id && p.online === true, 5000);
    await waitForEvent(o0b, "presence", (p) => p?.user_id === s.id && p.online === true, 5000);
    // (the snapshot is sent on connect, so a round trip proves it is complete)
    await flush([{ socket: s1, user: s }], room.id, [o0b]);
    assert.equal(received(o0b, "presence", (p) => p?.user_id === z.id && p.online).length, 0, "a new client does not see z online");
    // r, who came back at once, never showed offline; z's offline came once per socket.
    for (const [name, x] of [["observer on node0", o0], ["sender on node1", s1]]) {
      const rEvents = received(x, "presence", (p) => p?.user_id === r.id);
      const lastR = rEvents.at(-1);
      assert.ok(!lastR || lastR.online === true, `${name}: r shows online, presence events for r: ${JSON.stringify(rEvents)}`);
      assert.equal(received(x, "presence", (p) => p?.user_id === z.id && p.online === false).length, 1, `${name}: z's offline is announced once`);
    }

    // The killed node comes back (a new process on the same port) and serves again.
    await N()[2].start();
    const z2b = await connect(N()[2], z);
    const hello = await sendOk(s1, s, room.id, "node2 is back");
    await waitForEvent(z2b, "message", (m) => m?.id === hello.id);
    // ...and z, back on it, shows online again to the observer.
    await eventually(() => {
      const ev = received(o0, "presence", (p) => p?.user_id === z.id);
      return ev.length >= 3 && ev.at(-1).online === true;
    }, 5000, "presence {z, online:true} again on node0");
  });

  // ---- 6 -------------------------------------------------------------------------------------

  /**
   * Sends every `everyMs` from `socket` until stopped; each result {client_id, started, ms,
   * ack | timeout}. Acks wait up to `ackMs` (longer than the fail-fast promise, to measure it).
   */
  function steadySender(socket, user, roomId, tag, { everyMs = 50, ackMs = 15_000 } = {}) {
    const results = [];
    const inflight = new Set();
    let stopped = false;
    const loop = (async () => {
      for (let i = 0; !stopped; i++) {
        const client_id = cid(tag);
        const started = Date.now();
        const p = tracked(socket, user, { room_id: roomId, client_id, body: `${tag} ${i}` }, ackMs).then((r) => {
          results.push({ i, client_id, started, ...r });
        });
        inflight.add(p);
        p.finally(() => inflight.delete(p));
        await sleep(everyMs);
      }
    })();
    return {
      results,
      okAfter: (t) => results.filter((r) => r.started >= t && r.ack?.ok).length,
      doneAfter: (t) => results.filter((r) => r.started >= t).length,
      async stop() {
        stopped = true;
        await loop;
        await Promise.all([...inflight]);
        return results.sort((x, y) => x.i - y.i);
      },
    };
  }

  /** The outage scenario; `down()` / `up()` take the dependency away and back. */
  async function outage(t, label, { down, up, minDownMs }) {
    const [snd, obs, idle] = await Promise.all(["snd", "obs", "idle"].map((p) => register(cluster.auth, `${label}${p}`)));
    const room = await createGroup(N()[0], obs, [snd, idle]);
    const s0 = await connect(N()[0], snd);
    const o1 = await connect(N()[1], obs);
    const i2 = await connect(N()[2], idle);
    for (const u of [snd, idle]) await waitForEvent(o1, "presence", (p) => p?.user_id === u.id && p.online, 10_000);

    const sender = steadySender(s0, snd, room.id, label);
    let downAt;
    let upAt;
    let isDown = false;
    try {
      await eventually(() => sender.okAfter(0) >= 10, 20_000, "10 sends acked before the outage");
      downAt = Date.now();
      isDown = true;
      await down();
      const downDone = Date.now();
      await eventually(() => sender.doneAfter(downDone) >= 5 && Date.now() - downAt >= minDownMs, 30_000, `sends answered while ${label} is down`);
      upAt = Date.now();
      await up();
      isDown = false;
      const upDone = Date.now();
      // Sending recovers by itself, and keeps going for a while (presence rounds run meanwhile).
      await eventually(
        () => sender.okAfter(upDone) >= 10 && Date.now() - upDone >= (4 / 3) * NODE_TTL_MS,
        30_000,
        `sending to succeed again after ${label} came back (no node restarted)`,
      ).catch((err) => {
        const last = sender.results.slice(-3).map((r) => r.ack ?? `timeout ${r.ms} ms`);
        throw new Error(`${err.message}; last results: ${JSON.stringify(last)}`);
      });
    } finally {
      const results = await sender.stop();
      if (isDown) await up().catch(() => {});
      sender.final = results;
    }
    const results = sender.final;
    const ok = results.filter((r) => r.ack?.ok);
    const failed = results.filter((r) => !r.ack?.ok);
    const inWindow = results.filter((r) => r.started >= downAt && r.started < upAt);
    const slowest = Math.max(...results.map((r) => r.ms));
    const firstOkAfterUp = results.find((r) => r.started >= upAt && r.ack?.ok);
    t.diagnostic(
      `${label}: ${results.length} sends, ${ok.length} ok, ${failed.length} failed ` +
        `(${inWindow.length} started during the ${upAt - downAt} ms outage, ${inWindow.filter((r) => !r.ack?.ok).length} of them failed); ` +
        `slowest answer ${slowest} ms; first ok send started ${firstOkAfterUp ? firstOkAfterUp.started - upAt : "?"} ms after bringing ${label} back began; failures: ${JSON.stringify(countBy(failed, (r) => (r.timeout ? "no ack" : r.ack?.error?.code)))}`,
    );

    // Every check below is collected, so that one run shows everything that went wrong.
    const problems = [];
    const check = (cond, msg) => {
      if (!cond) problems.push(msg);
    };

    // Fail fast, with the contract's code.
    const timeouts = results.filter((r) => r.timeout);
    check(!timeouts.length, `${timeouts.length} send(s) got no answer within 15 s (e.g. one started ${timeouts[0]?.started - downAt} ms after the outage began)`);
    const slow = results.filter((r) => !r.timeout && r.ms > FAIL_FAST_MS);
    check(!slow.length, `${slow.length} answer(s) took over ${FAIL_FAST_MS} ms (slowest ${slowest} ms)`);
    const badCodes = failed.filter((r) => !r.timeout && r.ack?.error?.code !== "unavailable");
    check(!badCodes.length, `failures other than {ok:false, error:{code:'unavailable'}}: ${JSON.stringify(badCodes.slice(0, 3).map((r) => r.ack))}`);
    check(inWindow.some((r) => r.ack?.ok === false), `no send during the outage failed (${inWindow.length} were answered ok)`);
    check(results.filter((r) => r.started + r.ms < downAt).every((r) => r.ack?.ok), "a send answered before the outage failed");

    // Live delivery across nodes works again: the observer on node1 got the last acked ones.
    const lastOk = ok.slice(-5).map((r) => r.ack.message.id);
    const liveAgain = await eventually(() => lastOk.every((id) => messagesIn(o1, room.id).some((m) => m.id === id)), 10_000, "").then(() => true, () => false);
    const lastSeen = messagesIn(o1, room.id).at(-1);
    check(liveAgain, `after recovery the observer on node1 no longer receives what the sender on node0 sends (last live message it got: seq ${lastSeen?.seq}, ${lastSeen ? new Date(lastSeen.created_at).getTime() - upAt : "?"} ms after ${label} came back; last acked seq ${ok.at(-1)?.ack.message.seq})`);
    // ...and within node0 (no Redis round trip needed for the sender's own socket).
    const ownLive = lastOk.every((id) => messagesIn(s0, room.id).some((m) => m.id === id));
    check(ownLive, "the sender's own socket on node0 does not get its messages after recovery");

    // Nothing that was acked is missing, and seqs are contiguous.
    let history = await syncAll(o1, room.id, 0);
    const gap = (xs) => xs.findIndex((x, i) => i > 0 && x !== xs[i - 1] + 1);
    check(gap(seqs(history)) < 0, `history seqs after recovery not contiguous at ${seqs(history)[gap(seqs(history)) - 1]} → ${seqs(history)[gap(seqs(history))]}`);
    check(history[0]?.seq === 1, `history starts at seq ${history[0]?.seq}, not 1`);
    const byId = new Map(history.map((m) => [m.id, m]));
    const missing = ok.filter((r) => byId.get(r.ack.message.id)?.seq !== r.ack.message.seq);
    check(!missing.length, `${missing.length} acked message(s) missing from history: ${JSON.stringify(missing.slice(0, 3).map((r) => r.ack.message.seq))}`);

    // Which failed sends were nevertheless sequenced (in history before any retry)?
    const failedIds = new Set(failed.map((r) => r.client_id));
    const halfWritten = history.filter((m) => failedIds.has(m.client_id));
    if (halfWritten.length) {
      t.diagnostic(`${label}: ${halfWritten.length} send(s) answered 'unavailable' are in history anyway (seqs ${seqs(halfWritten).join(",")}): the sender was told it failed, the others can read it`);
    }

    // The client's outbox retries the failed ones with their client_id: each lands exactly once.
    const retried = [];
    for (const r of failed) {
      const again = await tracked(s0, snd, { room_id: room.id, client_id: r.client_id, body: `${label} retry` }, 15_000);
      if (!again.ack?.ok) {
        check(false, `the outbox retry of ${r.client_id} failed: ${JSON.stringify(again.ack ?? "no ack")}`);
        break;
      }
      retried.push(again.ack.message);
    }
    // ...and, with the broker down, reach the others live also when the first attempt was
    // sequenced but its publish failed (recorded as failed, so never broadcast): the retry
    // that hands it off broadcasts it. (With Redis down, a first attempt's outcome may go
    // unrecorded; its retry does not broadcast, as the original may have been, and the others
    // fill the gap with sync.)
    if (label === "rabbit") {
      const unseen = () => retried.filter((m) => !messagesIn(o1, room.id).some((x) => x.id === m.id));
      const allSeen = await eventually(() => unseen().length === 0, 10_000, "").then(() => true, () => false);
      check(allSeen, `${unseen().length} retried message(s) never reached the observer live (seqs ${unseen().slice(0, 5).map((m) => m.seq).join(",")}; half-written ones: ${seqs(halfWritten).join(",")})`);
    }
    history = await syncAll(o1, room.id, 0);
    check(gap(seqs(history)) < 0, `history seqs after the outbox flush not contiguous at ${seqs(history)[gap(seqs(history)) - 1]} → ${seqs(history)[gap(seqs(history))]}`);
    const byClient = countBy(history, (m) => m.client_id);
    const notOnce = results.filter((r) => byClient[r.client_id] !== 1);
    check(!notOnce.length, `${notOnce.length} client_id(s) not in history exactly once after the outbox flush: ${JSON.stringify(notOnce.slice(0, 3).map((r) => [r.client_id, byClient[r.client_id] ?? 0]))}`);

    // Nobody who stayed connected went offline, on any node, and no socket was dropped.
    for (const [name, x] of [["sender on node0", s0], ["observer on node1", o1], ["idle user on node2", i2]]) {
      for (const u of [snd, obs, idle]) {
        const ev = received(x, "presence", (p) => p?.user_id === u.id);
        const offline = ev.filter((p) => !p.online).length;
        check(!offline, `the ${name} saw ${u.username} (connected throughout) go offline ${offline} time(s); presence events for them: ${JSON.stringify(ev.map((p) => p.online))}`);
      }
    }
    for (const [name, x] of [["sender on node0", s0], ["observer on node1", o1], ["idle user on node2", i2]]) {
      check(!x.disconnects.length, `the ${name} was disconnected: ${JSON.stringify(x.disconnects.map((d) => d.reason))}`);
    }
    assert.deepEqual(problems, [], `${label} outage`);
    return { results, halfWritten };
  }

  ctest(
    "6b. RabbitMQ down under steady sending: fast 'unavailable', nothing acked lost, recovery",
    { timeout: 120_000, skip: process.env.CHAT_TEST_RABBITMQCTL ? false : "CHAT_TEST_RABBITMQCTL is not set" },
    async (t) => {
      await outage(t, "rabbit", {
        down: async () => {
          rabbitStopped = true;
          await rabbitmqctl("stop_app");
        },
        up: async () => {
          await rabbitmqctl("start_app");
          rabbitStopped = false;
        },
        minDownMs: 2000,
      });
    },
  );

  ctest("6a. Redis down for a few seconds under steady sending: fast 'unavailable', nothing acked lost, recovery", { timeout: 90_000 }, async (t) => {
    await outage(t, "redis", {
      down: () => cluster.redis.stop({ save: true }),
      up: () => cluster.redis.start(),
      minDownMs: 3000,
    });
  });

  // ---- 5 -------------------------------------------------------------------------------------

  ctest("5. every acked message is in the db-writer queue once, and in the push-service queue once", { timeout: 60_000 }, async (t) => {
    assert.ok(acked.size >= 6000, `the tests above acked messages (${acked.size})`);
    const retriedKeys = new Set([...attempts].filter(([, n]) => n > 1).map(([k]) => k));
    for (const [queue, kinds] of [["db-writer", null], ["push-service", ["message.created"]]]) {
      const { messages } = await drainQueue(cluster.amqpUrl, cluster.queue(queue));
      const types = countBy(messages, (m) => m.body?.type);
      if (kinds) assert.deepEqual(Object.keys(types), kinds, `${queue} holds only ${kinds}`);
      const created = messages.filter((m) => m.body?.type === "message.created");
      assert.ok(created.every((m) => m.persistent), `${queue}: messages are persistent`);
      const counts = countBy(created, (m) => m.body.message?.id);
      const notAcked = Object.keys(counts).filter((id) => !acked.has(id));
      const missing = [...acked.keys()].filter((id) => !counts[id]);
      const wrongSeq = created.filter((m) => acked.get(m.body.message.id) && acked.get(m.body.message.id).seq !== m.body.message.seq);
      // Every message exactly once, a client_id retried after a success on another node (3)
      // included: a retry hands off again only when the original's hand-off failed or never
      // finished. A send answered 'unavailable' because its publish was not confirmed (the
      // broker stopped under it) may have reached the queue anyway; its retry must publish
      // again (nothing says the broker has it), so such a message may be in the queue twice.
      // The writer stores it once and push-service sends it once per device.
      const dupes = Object.entries(counts).filter(([, n]) => n > 1);
      const afterFailure = (id) => failedKeys.has(acked.get(id)?.key);
      const unexplained = dupes.filter(([id]) => !afterFailure(id));
      const retriedDupes = dupes.filter(([id]) => retriedKeys.has(acked.get(id)?.key));
      t.diagnostic(
        `${queue}: ${messages.length} events ${JSON.stringify(types)}, ${acked.size} acked messages; ` +
          `in the queue more than once: ${dupes.length}, of them retried by client_id: ${retriedDupes.length}, ` +
          `after a failed attempt: ${dupes.length - unexplained.length}`,
      );
      assert.deepEqual(missing.slice(0, 5), [], `${queue}: every acked message is in the queue (${missing.length} missing)`);
      assert.deepEqual(
        unexplained.slice(0, 5).map(([id, n]) => [id, n, attempts.get(acked.get(id)?.key)]),
        [],
        `${queue}: no message whose every send attempt was answered ok is in it twice (${unexplained.length} are)`,
      );
      assert.deepEqual(wrongSeq.slice(0, 3).map((m) => m.body.message), [], `${queue}: each event carries the acked seq`);
      assert.deepEqual(notAcked.slice(0, 5), [], `${queue}: no event for a message that was never acked (${notAcked.length})`);
      for (const m of created.slice(0, 20)) assertMessage(m.body.message);
    }
  });

  ctest("no service panicked", { timeout: 10_000 }, async () => {
    for (const p of [cluster.auth, ...cluster.nodes]) {
      const panics = p.log().split("\n").filter((l) => l.includes("panicked"));
      assert.deepEqual(panics.slice(0, 5), [], `${p.name}'s log has ${panics.length} panic line(s)`);
    }
  });
});

function countBy(xs, f) {
  const out = {};
  for (const x of xs) {
    const k = f(x);
    out[k] = (out[k] ?? 0) + 1;
  }
  return out;
}
