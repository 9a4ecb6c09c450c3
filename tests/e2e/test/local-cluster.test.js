// The distributed mode as an operator runs it on one machine (scripts/local-cluster): every
// service its own process, two socket nodes behind NGINX with the Ingress's routes and cookie
// affinity, RabbitMQ and S3 from the test servers, the cluster's own Redis and MongoDB-wire
// server. Everything goes through NGINX, as a browser's traffic would.
//
//  1. register, a room, messages between a WebSocket client on each node and a long-polling
//     client (kept on its node by the affinity cookie alone); then socket-1 is killed mid-stream:
//     its clients reconnect through NGINX to the other node, resend what was not acked with the
//     same client_id, sync, and no message is lost or doubled
//  2. every process stopped and started again (Redis comes back empty): the history is served
//     from MongoDB, unchanged, and the room's seq goes on from there
//  3. a new message is pushed (VAPID, aes128gcm) to the local push endpoint of a member who is
//     offline, and not to one who is online
//  4. an attachment: presigned upload straight to S3, completed, sent in a message, downloaded
//     by another member
//
// Needs scripts/test-servers' variables and the built binaries (lib/local-cluster.js); skipped
// without them. Alone, in tests/e2e:
//   exports=$(../../scripts/test-servers start) && eval "$exports"
//   (cd ../.. && cargo build --workspace --bins) && node --test test/local-cluster.test.js
// E2E_KEEP=1 keeps the cluster's state and logs.

import assert from "node:assert/strict";
import { after, before, describe } from "node:test";
import { LocalCluster, localClusterUnavailable, onNode, polling } from "../lib/local-cluster.js";
import { PushReceiver } from "../lib/push-receiver.js";
import { serverTest } from "../lib/server.js";
import {
  apiOk,
  cid,
  connect,
  createGroup,
  emitAck,
  eventually,
  fullHistory,
  messagesIn,
  rand,
  range,
  register,
  send,
  seqs,
  sleep,
  waitForEvent,
  waitForMessages,
} from "../lib/client.js";
import { assertMessage } from "../lib/assertions.js";

const skip = localClusterUnavailable();
if (skip) console.error(`[local-cluster] skipped: ${skip}`);

/** The highest seq up to which `msgs` has every message (a client's sync cursor). */
function gapless(msgs) {
  const have = new Set(seqs(msgs));
  let n = 0;
  while (have.has(n + 1)) n += 1;
  return n;
}

describe("local cluster: the services as processes behind NGINX", { skip: skip ?? false }, () => {
  const cluster = new LocalCluster();
  const srv = {
    get url() {
      return cluster.url;
    },
  };
  /** What test 1 leaves for test 2. */
  const state = {};

  before(async () => {
    await cluster.up();
  });

  after(async () => {
    try {
      for (const p of cluster.procs) {
        const panics = cluster.log(p.name).split("\n").filter((l) => l.includes("panicked"));
        if (panics.length) console.error(`[local-cluster] ${p.name} log has panics:\n${panics.slice(0, 5).join("\n")}`);
      }
    } finally {
      await cluster.destroy();
    }
  });

  const ltest = (name, fn) => serverTest(() => cluster.procs, name, { timeout: 120_000 }, fn);

  /**
   * Sends `bodies` in order like a client with an outbox: a send that gets no ack (its node died)
   * is sent again with the same client_id once `ref.socket` is reconnected (by `reconnect`).
   * Calls `onAcked(i)` after each ack; resolves with the acked messages.
   */
  async function sendWithOutbox(ref, reconnect, roomId, bodies, onAcked = () => {}) {
    const acked = [];
    for (const [i, body] of bodies.entries()) {
      const clientId = cid("outbox");
      for (let attempt = 1; ; attempt++) {
        if (!ref.socket.connected) ref.socket = await reconnect();
        let ack;
        try {
          ack = await emitAck(ref.socket, "message:send", { room_id: roomId, client_id: clientId, body }, 5_000);
        } catch (err) {
          if (attempt >= 10) throw err;
          await sleep(100);
          continue;
        }
        if (ack?.ok) {
          acked.push(ack.message);
          break;
        }
        // `unavailable` while the cluster heals is a reason to retry; anything else is a bug.
        assert.equal(ack?.error?.code, "unavailable", `message:send: ${JSON.stringify(ack)}`);
        if (attempt >= 10) assert.fail(`still unavailable after ${attempt} attempts`);
        await sleep(200);
      }
      onAcked(i);
    }
    return acked;
  }

  /** The messages `socket` missed after `afterSeq`, by `sync`. */
  async function syncAfter(socket, roomId, afterSeq) {
    const out = [];
    for (let after = afterSeq; ; ) {
      const ack = await emitAck(socket, "sync", { rooms: [{ room_id: roomId, after_seq: after }] });
      assert.equal(ack?.ok, true, `sync: ${JSON.stringify(ack)}`);
      const r = ack.rooms.find((x) => x.room_id === roomId);
      out.push(...r.messages);
      if (!r.has_more || r.messages.length === 0) return out;
      after = r.messages.at(-1).seq;
    }
  }

  ltest("a chat session through NGINX on two nodes goes on when one node is killed, losing nothing", async () => {
    const [alice, bob, carol] = await Promise.all([register(srv, "alice"), register(srv, "bob"), register(srv, "carol")]);
    const found = await apiOk(srv, "GET", `/api/users?q=${encodeURIComponent(bob.username)}`, 200, { token: alice });
    assert.ok(JSON.stringify(found).includes(bob.id), `/api/users through NGINX finds bob: ${JSON.stringify(found)}`);
    const room = await createGroup(srv, alice, [bob, carol]);

    // WebSocket clients pinned to each node by the affinity cookie; carol long-polls, so each
    // of her requests is a new HTTP request that only the cookie NGINX set keeps on her node.
    const a = { socket: await connect(srv, alice, onNode(1)) };
    const b = await connect(srv, bob, onNode(2));
    const c = { socket: await connect(srv, carol, polling) };

    for (let i = 0; i < 5; i++) {
      await send(a.socket, room.id, `alice ${i}`);
      await send(b, room.id, `bob ${i}`);
      await send(c.socket, room.id, `carol ${i}`);
    }
    for (const s of [a.socket, b, c.socket]) {
      const got = await waitForMessages(s, room.id, 15);
      assert.deepEqual(seqs(got), range(1, 15), "every member sees 1..15 in order");
      for (const m of got) assertMessage(m);
    }

    // Alice and Bob keep talking; after Alice's 5th ack, socket-1 (Alice's node) is killed.
    const aliceBodies = range(1, 20).map((i) => `alice stream ${i}`);
    const bobBodies = range(1, 20).map((i) => `bob stream ${i}`);
    const firstAliceSocket = a.socket;
    const aliceSeen = [];
    let killed = null;
    const reconnectAlice = async () => {
      aliceSeen.push(...messagesIn(a.socket, room.id));
      await killed;
      return connect(srv, alice, onNode(1)); // node 1 is down: NGINX takes node 2, sets a new cookie
    };
    const [aliceAcked, bobAcked] = await Promise.all([
      sendWithOutbox(a, reconnectAlice, room.id, aliceBodies, (i) => {
        if (i === 4) killed = cluster.kill("socket-1");
      }),
      (async () => {
        const acked = [];
        for (const body of bobBodies) {
          acked.push(await send(b, room.id, body));
          await sleep(20);
        }
        return acked;
      })(),
    ]);
    await killed;
    assert.ok(firstAliceSocket.disconnects.length > 0, "alice's node was killed under her");
    assert.equal(b.disconnects.length, 0, "bob, on the other node, was never disconnected");
    const total = 15 + aliceBodies.length + bobBodies.length;

    // Bob never left: he got every message live exactly once, except what socket-1 had sequenced
    // but not broadcast when it died (Alice's send in flight: her retry on node 2 returns the
    // stored message and broadcasts nothing new). Like any client, he sees the gap in seq and
    // fills it with sync. (Two messages sequenced on different nodes at the same moment may
    // arrive in either order; a client orders by seq.)
    await waitForEvent(b, "message", (m) => m?.body === aliceBodies.at(-1), 15_000);
    await waitForEvent(b, "message", (m) => m?.body === bobBodies.at(-1), 15_000);
    await sleep(300); // a repeat would arrive now
    const bobLive = messagesIn(b, room.id);
    assert.equal(new Set(seqs(bobLive)).size, bobLive.length, "bob got no message twice");
    const bobMissed = await syncAfter(b, room.id, gapless(bobLive));
    const bobAll = new Map([...bobLive, ...bobMissed].map((m) => [m.seq, m]));
    assert.deepEqual([...bobAll.keys()].sort((x, y) => x - y), range(1, total), "bob has 1..N after sync");
    const notLive = [...bobAll.values()].filter((m) => !bobLive.some((l) => l.seq === m.seq));
    assert.ok(notLive.length <= 1, `at most the one message in flight on the killed node was not broadcast: ${JSON.stringify(notLive)}`);
    for (const m of notLive) assert.equal(m.sender_id, alice.id, "only alice's send was in flight on the killed node");

    // Alice and Carol (on whichever node NGINX gave her) catch up like a client does: sync after
    // the last seq they hold without a gap, then merge.
    const carolSeen = [];
    for (const [who, user, ref, seen, opts] of [
      ["alice", alice, a, aliceSeen, onNode(1)],
      ["carol", carol, c, carolSeen, polling],
    ]) {
      seen.push(...messagesIn(ref.socket, room.id));
      if (!ref.socket.connected) ref.socket = await connect(srv, user, opts);
      const missed = await syncAfter(ref.socket, room.id, gapless(seen));
      const all = new Set(seqs([...seen, ...messagesIn(ref.socket, room.id), ...missed]));
      assert.deepEqual([...all].sort((x, y) => x - y), range(1, total), `${who} has 1..N after sync`);
    }

    // The room's history (any node, through NGINX): every body exactly once, seq 1..N.
    const hist = await eventually(async () => {
      const h = await fullHistory(srv, bob, room.id);
      return h.length === total ? h : null;
    }, 15_000, `${total} messages in the history`);
    assert.deepEqual(seqs(hist), range(1, total));
    const bodies = hist.map((m) => m.body);
    for (const body of [...aliceBodies, ...bobBodies]) {
      assert.equal(bodies.filter((x) => x === body).length, 1, `"${body}" is in the history exactly once`);
    }
    for (const m of [...aliceAcked, ...bobAcked]) assert.equal(hist[m.seq - 1].id, m.id, "acked messages keep their seq");

    Object.assign(state, { alice, bob, carol, room, hist });
  });

  ltest("after every process restarts, the history comes from MongoDB and the room goes on", async () => {
    assert.ok(state.hist, "needs the session of the previous test");
    const { alice, bob, room, hist } = state;

    // db-writer has taken everything off its queue; stopping it gracefully acks only what it wrote.
    const queueDepth = () => cluster.queueDepth("db-writer");
    await eventually(async () => (await queueDepth()) === 0, 20_000, "db-writer's queue to drain");
    await cluster.down();
    assert.equal(await queueDepth(), 0, "db-writer acked only what it had written");

    // Everything starts again; Redis is empty, so the history can only come from MongoDB.
    await cluster.up();
    const after = await fullHistory(srv, alice, room.id);
    assert.deepEqual(
      after.map((m) => [m.seq, m.id, m.body, m.sender_id]),
      hist.map((m) => [m.seq, m.id, m.body, m.sender_id]),
      "the history after the restart is the history before it",
    );

    const a = await connect(srv, alice, onNode(2));
    const b = await connect(srv, bob, polling);
    const synced = await syncAfter(b, room.id, 0);
    assert.deepEqual(seqs(synced), range(1, hist.length), "sync from 0 returns the whole room");
    const next = await send(a, room.id, "after the restart");
    assert.equal(next.seq, hist.length + 1, "the room's seq continues from MongoDB's last_seq");
    await waitForEvent(b, "message", (m) => m?.id === next.id, 10_000);
  });

  ltest("push-service pushes a new message to an offline member's push endpoint", async () => {
    assert.ok(state.hist, "needs the session of the previous tests");
    const { alice, bob, carol, room } = state;
    const rx = await new PushReceiver().start();
    try {
      const { public_key: vapidKey } = await apiOk(srv, "GET", "/api/push/vapid-public-key", 200, { token: carol });
      // Carol and Bob subscribe; Bob stays connected (online members get no push), Carol is gone.
      await apiOk(srv, "POST", "/api/push/subscriptions", 201, { token: carol, body: rx.subscription("carol") });
      await apiOk(srv, "POST", "/api/push/subscriptions", 201, { token: bob, body: rx.subscription("bob") });
      const b = await connect(srv, bob, onNode(1));
      const a = await connect(srv, alice, onNode(2));
      const msg = await send(a, room.id, "are you there, carol?");
      await waitForEvent(b, "message", (m) => m?.id === msg.id, 10_000);

      const push = await rx.waitFor((p) => p.name === "carol", 20_000);
      assert.equal(push.error, undefined, `the push verifies and decrypts: ${push.error}`);
      assert.equal(push.vapid.key, vapidKey, "signed with the key the API publishes");
      assert.ok(Number(push.headers.ttl) > 0, "TTL is set");
      assert.ok(push.headers.topic, "Topic is set");
      assert.deepEqual(
        { type: push.payload.type, room_id: push.payload.room_id, message_id: push.payload.message_id, seq: push.payload.seq },
        { type: "message", room_id: room.id, message_id: msg.id, seq: msg.seq },
      );
      assert.equal(push.payload.sender_name, alice.user.display_name ?? alice.username);
      assert.equal(push.payload.preview, "are you there, carol?");
      await sleep(500);
      assert.equal(rx.received.filter((p) => p.name === "bob").length, 0, "bob is online: no push for him");
    } finally {
      await rx.stop();
    }
  });

  ltest("an attachment goes straight to S3 and back, its message through NGINX to both nodes", async () => {
    assert.ok(state.hist, "needs the session of the previous tests");
    const { alice, bob, room } = state;
    const a = await connect(srv, alice, onNode(1));
    const b = await connect(srv, bob, onNode(2));
    const bytes = Buffer.from(`notes ${rand(12)}\n`.repeat(200));

    const created = await apiOk(srv, "POST", "/api/files", 201, {
      token: alice,
      body: { room_id: room.id, filename: "notes.txt", content_type: "text/plain", size: bytes.length },
    });
    assert.equal(created.file.status, "pending");
    assert.equal(created.upload.method, "PUT");
    assert.ok(created.upload.url.startsWith(process.env.CHAT_TEST_S3_ENDPOINT), `the upload goes to S3: ${created.upload.url}`);
    const put = await fetch(created.upload.url, { method: "PUT", headers: created.upload.headers, body: bytes });
    assert.equal(put.status, 200, `PUT to S3: ${put.status} ${await put.text()}`);
    const done = await apiOk(srv, "POST", `/api/files/${created.file.id}/complete`, 200, { token: alice });
    assert.equal(done.file.status, "ready");

    const ack = await emitAck(a, "message:send", {
      room_id: room.id,
      client_id: cid("file"),
      body: "the notes",
      attachments: [created.file.id],
    });
    assert.equal(ack?.ok, true, `message:send with an attachment: ${JSON.stringify(ack)}`);
    const got = await waitForEvent(b, "message", (m) => m?.id === ack.message.id, 10_000);
    assert.deepEqual(got.attachments, [
      { id: created.file.id, filename: "notes.txt", content_type: "text/plain", size: bytes.length },
    ]);

    // Bob, a member, downloads the bytes from S3 with a short-lived URL.
    const { download_url: url } = await apiOk(srv, "GET", `/api/files/${created.file.id}`, 200, { token: bob });
    const res = await fetch(url);
    assert.equal(res.status, 200);
    assert.ok(Buffer.from(await res.arrayBuffer()).equals(bytes), "the downloaded bytes are the uploaded ones");
  });
});
