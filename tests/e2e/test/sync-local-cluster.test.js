// Sync with changes, send order, a stopping node and a crash before the writer stored an
// edit, on the distributed mode as scripts/local-cluster runs it: two socket nodes behind NGINX
// (cookie affinity), db-writer, MongoDB (nx-27017), Redis, RabbitMQ. Every client goes through
// NGINX, pinned to a node by the affinity cookie (lib/local-cluster.js `onNode`).
//
//  1. (lib/sync.js) a member away while 120 messages are sent and 136 older ones are changed
//     comes back on the other node and catches up with sync: exactly the history
//  2. (lib/sync.js) 1000 pipelined message:send on one socket: seqs in emit order
//  3. a node stopped with SIGTERM under the official client with its own reconnection (over
//     WebSocket, then long-polling): never "io server disconnect"; the client reconnects by
//     itself to the other node and syncs what it missed
//  4. db-writer stopped, an edit acked on socket-1, socket-1 killed: a client on socket-2 gets the
//     edit in `changed`; after the writer and the node are back, and after every process
//     restarted (Redis empty: MongoDB only), still there, and in the history
//  5. (lib/sync.js) GET /api/rooms/{id}/reads, room:updated, typing across the two nodes;
//     (lib/conversations.js) reactions from both nodes at once, a retried reaction, reply
//     previews, mentions and notification settings, a thread replied to from both nodes, search
//  6. Redis loses its data (FLUSHALL) while db-writer hangs with a backlog, senders retrying on
//     both nodes: no acked message lost, no seq given twice, the history contiguous
//  7. a message the writer has not stored yet (db-writer stopped) can be edited and deleted at
//     once, on either node
//
// Needs scripts/test-servers' variables and the built binaries (lib/local-cluster.js); skipped
// without them. Alone, in tests/e2e:
//   exports=$(../../scripts/test-servers start) && eval "$exports"
//   (cd ../.. && cargo build --workspace --bins) && node --test test/sync-local-cluster.test.js
// E2E_KEEP=1 keeps the cluster's state and logs.

import assert from "node:assert/strict";
import { execFile } from "node:child_process";
import { after, before, describe } from "node:test";
import { promisify } from "node:util";
import { LocalCluster, localClusterUnavailable, onNode, polling } from "../lib/local-cluster.js";
import { serverTest } from "../lib/server.js";
import {
  apiOk,
  connect,
  createGroup,
  emitAck,
  emitOk,
  eventually,
  fullHistory,
  rand,
  register,
  roundTrip,
  send,
  waitForDisconnect,
  waitForEvent,
} from "../lib/client.js";
import { assertRev } from "../lib/assertions.js";
import {
  Replica,
  assertSameAsHistory,
  catchUpAfterAbsence,
  pipelinedSendOrder,
  readsOfEveryMember,
  roomUpdatedToMembers,
  syncOnce,
  typingFalseAfterFlood,
  typingStopsOnSend,
} from "../lib/sync.js";
import { mentionsAndNotifications, reactionsFromBothNodes, replyPreviews, retriedReaction, searchAcrossNodes, threadFromBothNodes } from "../lib/conversations.js";

const execFileP = promisify(execFile);

const skip = localClusterUnavailable();
if (skip) console.error(`[sync-local-cluster] skipped: ${skip}`);

describe("sync and failover on the local cluster (two socket nodes behind NGINX)", { skip: skip ?? false }, () => {
  // A send rate that never limits (hundreds of sends and edits per user); the default typing rate.
  const cluster = new LocalCluster({ env: { CHAT_SEND_RATE_BURST: "1000000" } });
  const srv = {
    get url() {
      return cluster.url;
    },
  };

  before(async () => {
    await cluster.up();
  });

  after(async () => {
    try {
      for (const p of cluster.procs) {
        const panics = cluster.log(p.name).split("\n").filter((l) => l.includes("panicked"));
        if (panics.length) console.error(`[sync-local-cluster] ${p.name} log has panics:\n${panics.slice(0, 5).join("\n")}`);
      }
    } finally {
      await cluster.destroy();
    }
  });

  // Each test starts with every process up (a test that failed half-way may have left one down),
  // and with NGINX sending each node's cookie to that node (`onNode` must mean what it says).
  const ltest = (name, opts, fn) =>
    serverTest(() => cluster.procs, name, opts, async (t) => {
      await cluster.up();
      await cluster.waitRouted();
      return fn(t);
    });

  /**
   * Waits until the writer has stored everything acked so far: a probe message sent now is
   * stored once an edit finds it (an edit looks the message up where the writer stores it), and
   * the writer takes its queue in order.
   */
  let probe = null;
  async function settleWriter() {
    // A fresh probe user now and then: access tokens live 15 minutes.
    if (!probe || Date.now() - probe.since > 5 * 60_000) {
      const user = await register(srv, "probe");
      probe = { user, room: await createGroup(srv, user, []), since: Date.now() };
    }
    const s = await connect(srv, probe.user);
    try {
      const m = await send(s, probe.room.id, `probe ${rand(6)}`);
      await eventually(
        async () => (await emitAck(s, "message:edit", { room_id: probe.room.id, message_id: m.id, body: `probed ${rand(6)}` }, 5000))?.ok,
        30_000,
        "the writer to store a probe message (an edit of it succeeds)",
      );
    } finally {
      s.disconnect();
    }
  }

  /** Node 0 and 1 of lib/sync.js are socket-1 and socket-2, chosen by the affinity cookie. */
  const mode = { api: srv, at: (user, node) => connect(srv, user, onNode(node + 1)), settle: settleWriter };

  // ---- 1, 2 ----------------------------------------------------------------------------------

  ltest("1. back on the other node after 120 new messages and 137 changes, sync gives exactly the history", { timeout: 240_000 }, (t) =>
    catchUpAfterAbsence(t, mode),
  );

  ltest("2. 1000 message:send emitted back to back on one socket: every ack ok, seqs in emit order", { timeout: 180_000 }, (t) =>
    pipelinedSendOrder(t, mode, 1000),
  );

  // ---- 3 -------------------------------------------------------------------------------------

  for (const [sub, label, transport, node] of [
    ["3a", "WebSocket", {}, 1],
    ["3b", "long-polling", polling, 2],
  ]) {
    ltest(
      `${sub}. socket-${node} stopped (SIGTERM) under a ${label} client: it reconnects by itself to the other node and syncs`,
      { timeout: 120_000 },
      async (t) => {
        const other = 3 - node;
        const [a, b] = await Promise.all([register(srv, "stopa"), register(srv, "stopb")]);
        const room = await createGroup(srv, a, [b]);
        const b1 = await connect(srv, b, onNode(other));
        // The official client with no reconnect code of ours: its own reconnection (the default),
        // first sent to socket-N by the cookie; a polling client then keeps the cookie NGINX sets.
        const s = await connect(srv, a, { ...transport, ...onNode(node), reconnection: true });
        const reconnects = [];
        s.on("connect", () => reconnects.push(Date.now()));
        const before = await send(b1, room.id, "before the stop");
        await waitForEvent(s, "message", (m) => m?.id === before.id);
        const replica = new Replica(room.id);
        await replica.catchUp(s);

        let missed;
        try {
          const stopping = cluster.stop(`socket-${node}`);
          const reason = await waitForDisconnect(s, 20_000).catch((err) => {
            throw new Error(`the ${label} client was not disconnected when socket-${node} stopped (was it on that node?): ${err.message}`);
          });
          t.diagnostic(`disconnect reason: ${reason}`);
          assert.notEqual(reason, "io server disconnect", `the stopping node told the ${label} client not to reconnect ("io server disconnect")`);
          await stopping;
          missed = await send(b1, room.id, `while socket-${node} was stopping`);
          await eventually(() => s.connected && reconnects.length > 0, 30_000, `the ${label} client to reconnect by itself ('connect' again)`);
          const told = s.disconnects.filter((d) => d.reason === "io server disconnect");
          assert.deepEqual(told, [], `no disconnect told the client not to reconnect; reasons: ${JSON.stringify(s.disconnects.map((d) => d.reason))}`);
          const downAt = s.events.find((e) => e.event === "$disconnect").at;
          t.diagnostic(`reconnected ${reconnects[0] - downAt} ms after the disconnect (${s.disconnects.length} disconnect(s) in all)`);

          // It is on the other node now, syncs what it missed, and chats both ways.
          await replica.catchUp(s);
          assert.equal(replica.bySeq.get(missed.seq)?.id, missed.id, "sync after reconnecting has the message sent while the client was away");
          await roundTrip(s, b1, room.id, "after reconnecting");
          await roundTrip(b1, s, room.id, "to the reconnected client");
        } finally {
          await cluster.up(); // socket-N again, for the tests after this one
        }
        assert.equal(s.connected, true, "the client is still connected after the node came back");
      },
    );
  }

  // ---- 4 -------------------------------------------------------------------------------------

  ltest("4. an edit acked just before its node is killed, with the writer stopped, is in every later sync and in history", { timeout: 240_000 }, async (t) => {
    const [a, b] = await Promise.all([register(srv, "crasha"), register(srv, "crashb")]);
    const room = await createGroup(srv, a, [b]);
    const a1 = await connect(srv, a, onNode(1));
    const b2 = await connect(srv, b, onNode(2));
    const msgs = [];
    for (let i = 0; i < 5; i++) msgs.push(await send(a1, room.id, `kept ${i}`));
    await settleWriter();
    const replica = new Replica(room.id);
    await replica.catchUp(b2);
    const cursor = replica.cursor;

    const body = `edited just before the crash ${rand(6)}`;
    let edited;
    try {
      await cluster.stop("db-writer");
      const ack = await emitOk(a1, "message:edit", { room_id: room.id, message_id: msgs[1].id, body });
      edited = ack.message;
      assertRev(edited, "the edit ack's message");
      assert.ok(edited.rev > cursor.after_rev, `the edit raised the room's rev above ${cursor.after_rev}: ${edited.rev}`);
      await emitOk(a1, "message:delete", { room_id: room.id, message_id: msgs[3].id });
      await cluster.kill("socket-1");

      // On socket-2, with the writer still down: both changes are in `changed`.
      const r = await syncOnce(b2, cursor);
      checkChanges(r, "sync on socket-2 after socket-1 was killed, the writer down");
    } finally {
      await cluster.up(); // db-writer and socket-1 again
    }

    // The writer and the node are back: a sync on the restarted node, and the history.
    await cluster.waitRouted();
    const b1 = await connect(srv, b, onNode(1));
    checkChanges(await syncOnce(b1, cursor), "sync on the restarted socket-1");
    await checkHistory("the history after the restart of socket-1 and db-writer");

    // Every process restarted (Redis comes back empty): the changes come from MongoDB.
    await eventually(async () => (await cluster.queueDepth("db-writer")) === 0, 30_000, "db-writer's queue to drain");
    await settleWriter();
    await cluster.down();
    await cluster.up();
    await cluster.waitRouted();
    const b2b = await connect(srv, b, onNode(2));
    checkChanges(await syncOnce(b2b, cursor), "sync after every process restarted");
    await checkHistory("the history after every process restarted");
    const full = new Replica(room.id);
    full.afterSeq = replica.afterSeq;
    full.afterRev = replica.afterRev;
    full.bySeq = new Map(replica.bySeq);
    await full.catchUp(b2b);
    assertSameAsHistory(full, await fullHistory(srv, b, room.id), "b after sync");

    /** The answer to a sync at `cursor` has the edit and the delete in `changed`, nothing new. */
    function checkChanges(r, what) {
      const e = r.changed.find((m) => m.id === msgs[1].id);
      const d = r.changed.find((m) => m.id === msgs[3].id);
      assert.ok(e, `${what}: the acked edit (seq ${msgs[1].seq}) is in changed; changed: ${JSON.stringify(r.changed.map((m) => [m.seq, m.rev]))}`);
      assert.equal(e.body, body, `${what}: changed has the edited body`);
      assert.equal(e.rev, edited.rev, `${what}: with the rev of the edit's ack`);
      assert.ok(d, `${what}: the acked delete (seq ${msgs[3].seq}) is in changed`);
      assert.equal(d.deleted, true, `${what}: deleted: true`);
      assert.equal(d.body, "", `${what}: a deleted message has an empty body`);
      assert.ok(d.rev > e.rev, `${what}: the delete came after the edit (rev ${d.rev} > ${e.rev})`);
      assert.equal(r.changed.length, 2, `${what}: only those two changed`);
      assert.deepEqual(r.messages, [], `${what}: no new messages`);
      assert.equal(r.rev, d.rev, `${what}: the room's rev is the delete's`);
    }

    async function checkHistory(what) {
      const hist = await fullHistory(srv, a, room.id);
      const e = hist.find((m) => m.id === msgs[1].id);
      const d = hist.find((m) => m.id === msgs[3].id);
      assert.equal(e?.body, body, `${what}: the edited body`);
      assert.equal(e?.rev, edited.rev, `${what}: the edit's rev`);
      assert.equal(d?.deleted, true, `${what}: the deleted message`);
      for (const i of [0, 2, 4]) assert.equal(hist.find((m) => m.id === msgs[i].id)?.body, `kept ${i}`, `${what}: the untouched message ${i}`);
      const view = await apiOk(srv, "GET", `/api/rooms/${room.id}`, 200, { token: a });
      assert.equal(view.rev, d?.rev, `${what}: GET /api/rooms/{id} has the room's rev (the delete's)`);
    }
  });

  // ---- 5 -------------------------------------------------------------------------------------

  ltest("5a. GET /api/rooms/{id}/reads has every member's read pointer (readers on both nodes), and is 404 for a non-member", { timeout: 60_000 }, (t) =>
    readsOfEveryMember(t, mode),
  );

  ltest("5b. room:updated (a RoomInfo) reaches every member's sockets on both nodes when a member is added, leaves, is removed", { timeout: 60_000 }, (t) =>
    roomUpdatedToMembers(t, mode),
  );

  ltest("5c. typing: the typist's message ends their typing at once for a member on the other node", { timeout: 60_000 }, (t) =>
    typingStopsOnSend(t, mode),
  );

  ltest("5d. typing: a typing:false right after more typing:true than the typing rate allows reaches the other node", { timeout: 60_000 }, (t) =>
    typingFalseAfterFlood(t, mode),
  );

  ltest("5e. twelve members on both nodes react to one message at the same moment: every reaction counts once, sync agrees", { timeout: 60_000 }, (t) =>
    reactionsFromBothNodes(t, mode),
  );

  ltest("5f. a reaction:add retried on the other node is answered with the same message and changes nothing", { timeout: 60_000 }, (t) =>
    retriedReaction(t, mode),
  );

  ltest("5g. a reply sent at once on the other node shows the message it answers, also after an edit and a delete", { timeout: 60_000 }, (t) =>
    replyPreviews(t, mode),
  );

  ltest("5h. mentions computed by the server on both nodes, unread_mentions from MongoDB, notification settings", { timeout: 60_000 }, (t) =>
    mentionsAndNotifications(t, mode),
  );

  ltest("5i. six members on both nodes reply in one thread at once: the root counts all twelve, the thread API lists them", { timeout: 60_000 }, (t) =>
    threadFromBothNodes(t, mode),
  );

  ltest("5j. search fed by db-writer's search-index queue: messages from both nodes found by their members, edits, deletes and leaving", { timeout: 60_000 }, (t) =>
    searchAcrossNodes(t, mode),
  );

  // ---- 6 -------------------------------------------------------------------------------------

  ltest("6. Redis loses its data while the writer lags: no acked message lost, no seq given twice", { timeout: 240_000 }, async (t) => {
    const [a, b] = await Promise.all([register(srv, "lossa"), register(srv, "lossb")]);
    const room = await createGroup(srv, a, [b]);
    const a1 = await connect(srv, a, onNode(1));
    const b2 = await connect(srv, b, onNode(2));
    const acked = [];
    for (let i = 0; i < 3; i++) acked.push(await send(a1, room.id, `before ${i}`));
    await settleWriter();

    /** Sends `n` messages, each retried with its client_id until acked; resolves with them. */
    const sendWithRetries = async (socket, prefix, n) => {
      const out = [];
      for (let i = 0; i < n; i++) {
        const payload = { room_id: room.id, client_id: `${prefix}-${rand(8)}-${i}`, body: `${prefix} ${i}` };
        const message = await eventually(async () => {
          const ack = await emitAck(socket, "message:send", payload, 20_000).catch(() => null);
          return ack?.ok ? ack.message : null;
        }, 120_000, `an ack of ${payload.client_id}`);
        out.push(message);
      }
      return out;
    };

    let writerStopped = false;
    try {
      // The writer hangs: a backlog builds in RabbitMQ while sends are acked.
      cluster.signal("db-writer", "SIGSTOP");
      writerStopped = true;
      acked.push(...(await sendWithRetries(a1, "backlog", 20)));

      // Redis loses everything (as a restart without persistence would); both nodes keep
      // sending.
      await execFileP("redis-cli", ["-h", "127.0.0.1", "-p", cluster.env.PORT_REDIS, "FLUSHALL"]);
      const senders = Promise.all([sendWithRetries(a1, "after-a", 10), sendWithRetries(b2, "after-b", 10)]);
      await new Promise((r) => setTimeout(r, 3000));
      cluster.signal("db-writer", "SIGCONT");
      writerStopped = false;
      for (const batch of await senders) acked.push(...batch);
    } finally {
      if (writerStopped) cluster.signal("db-writer", "SIGCONT");
    }

    await eventually(async () => (await cluster.queueDepth("db-writer")) === 0, 60_000, "db-writer's queue to drain");
    await settleWriter();
    const hist = await fullHistory(srv, a, room.id);
    const byId = new Map(hist.map((m) => [m.id, m]));
    const lost = acked.filter((m) => byId.get(m.id)?.seq !== m.seq);
    assert.deepEqual(lost.map((m) => [m.seq, m.body]), [], `every acked message is in history with its acked seq (${acked.length} acked)`);
    const seqs = acked.map((m) => m.seq);
    assert.equal(new Set(seqs).size, seqs.length, `no seq acked twice: ${seqs.join(",")}`);
    assert.deepEqual(hist.map((m) => m.seq), hist.map((_, i) => i + 1), "the history is contiguous");
    assert.equal(hist.length, acked.length, "nothing in history that was not acked once");
    t.diagnostic(`${acked.length} acked, seqs 1..${hist.length}`);
  });

  // ---- 7 -------------------------------------------------------------------------------------

  ltest("7. a message the writer has not stored yet can be edited and deleted at once", { timeout: 120_000 }, async () => {
    const [a, b] = await Promise.all([register(srv, "freshedita"), register(srv, "fresheditb")]);
    const room = await createGroup(srv, a, [b]);
    const a1 = await connect(srv, a, onNode(1));
    const a2 = await connect(srv, a, onNode(2));
    // With the writer up: a Redis that has never sequenced anything waits for the writer first.
    await send(a1, room.id, "hello");
    let first;
    let second;
    try {
      await cluster.stop("db-writer");
      first = await send(a1, room.id, "typo here");
      second = await send(a1, room.id, "sent by mistake");
      const edited = await emitOk(a2, "message:edit", { room_id: room.id, message_id: first.id, body: "no typo here" });
      assert.equal(edited.message.body, "no typo here", "edited on the other node before the writer stored it");
      assert.equal(edited.message.seq, first.seq);
      await emitOk(a1, "message:delete", { room_id: room.id, message_id: second.id });
    } finally {
      await cluster.up();
    }
    await settleWriter();
    const hist = await fullHistory(srv, b, room.id);
    assert.equal(hist.find((m) => m.id === first.id)?.body, "no typo here", "the edit is in the history once the writer ran");
    assert.equal(hist.find((m) => m.id === second.id)?.deleted, true, "and the delete");
  });
});
