// Durability across a restart of the standalone server, and graceful shutdown on SIGTERM.
// Acceptance items 9 and 10. Each test runs its own server, since it stops it.

import assert from "node:assert/strict";
import { assertHealthy, ChatServer, serverTest } from "../lib/server.js";
import {
  apiOk,
  cid,
  connect,
  createGroup,
  emitOk,
  fullHistory,
  registerMany,
  roomInList,
  roundTrip,
  send,
  seqs,
  waitForDisconnect,
  waitForMessages,
} from "../lib/client.js";
import { assertContiguous } from "../lib/assertions.js";

const FAST = { CHAT_SEND_RATE_BURST: "100000" };

let restartSrv;
serverTest(() => [restartSrv], "messages, edits, deletes and read pointers survive a restart; seq continues", async (t) => {
  const s = (restartSrv = new ChatServer({ name: "restart", env: FAST }));
  t.after(() => s.cleanup());
  await s.start();
  const [a, b] = await registerMany(s, 2, "keep");
  const room = await createGroup(s, a, [b], "durable");
  const dm = await apiOk(s, "POST", "/api/rooms/direct", 200, { token: a, body: { user_id: b.id } });
  const [a1, b1] = await Promise.all([connect(s, a), connect(s, b)]);
  const sent = [];
  for (let i = 0; i < 10; i++) sent.push(await send(a1, room.id, `persist ${i}`));
  await emitOk(a1, "message:edit", { room_id: room.id, message_id: sent[1].id, body: "edited before restart" });
  await emitOk(a1, "message:delete", { room_id: room.id, message_id: sent[2].id });
  await emitOk(b1, "read", { room_id: room.id, seq: 7 });
  const dmMsg = await send(b1, dm.id, "direct before restart");
  await waitForMessages(b1, room.id, 10);

  const histBefore = await fullHistory(s, b, room.id);
  assert.equal(histBefore.length, 10);
  const viewBefore = await roomInList(s, b, room.id);
  assert.equal(viewBefore.last_read_seq, 7);

  await s.stop();
  assert.equal(s.exit.forced, false, "the server stopped on SIGTERM without SIGKILL");
  await s.start(); // same data dir, same port

  // The same tokens still work (the signing keys live in the data dir).
  const histAfter = await fullHistory(s, b, room.id);
  assert.deepEqual(histAfter, histBefore, "history is intact, edits and deletes included");
  assert.equal(histAfter[1].body, "edited before restart");
  assert.equal(histAfter[2].deleted, true);
  const view = await roomInList(s, b, room.id);
  assert.equal(view.last_seq, 10, "last_seq survives");
  assert.equal(view.last_read_seq, 7, "last_read_seq survives");
  assert.equal(view.unread, 3, "unread = 10 - 7");
  const dmAgain = await apiOk(s, "POST", "/api/rooms/direct", 200, { token: b, body: { user_id: a.id } });
  assert.equal(dmAgain.id, dm.id, "the direct room is the same one");
  assert.deepEqual((await fullHistory(s, a, dm.id)).map((m) => m.id), [dmMsg.id]);

  const [a2, b2] = await Promise.all([connect(s, a), connect(s, b)]);
  // A retry of a pre-restart client_id is still recognised.
  const retry = await emitOk(a2, "message:send", { room_id: room.id, client_id: sent[0].client_id, body: sent[0].body });
  assert.equal(retry.message.id, sent[0].id, "client_id dedup survives the restart");
  assert.equal(retry.message.seq, 1);
  const next = await roundTrip(a2, b2, room.id, "after restart");
  assert.equal(next.seq, 11, "seq continues from where it was");
  const dmNext = await send(a2, dm.id, "direct after restart");
  assert.equal(dmNext.seq, 2);
  // Reading moves on from the stored pointer.
  await emitOk(b2, "read", { room_id: room.id, seq: 5 });
  assert.equal((await roomInList(s, b, room.id)).last_read_seq, 7, "still monotonic after the restart");
  await assertHealthy(s);
});

let shutdownSrv;
serverTest(() => [shutdownSrv], "graceful shutdown: clients are disconnected and every acked message is in history after restart", async (t) => {
  const s = (shutdownSrv = new ChatServer({ name: "shutdown", env: FAST }));
  t.after(() => s.cleanup());
  await s.start();
  const [a, b] = await registerMany(s, 2, "sigterm");
  const room = await createGroup(s, a, [b], "in flight");
  const a1 = await connect(s, a, { transports: ["websocket"] });
  const b1 = await connect(s, b, { transports: ["polling"] });
  const before = await send(a1, room.id, "before the storm");

  // Keep sending (10 in flight at a time) until the server goes; SIGTERM once 30 acks are back.
  const acked = [before];
  const outcomes = { acked: 0, refused: 0, unanswered: 0 };
  let resolveSome;
  const some = new Promise((r) => (resolveSome = r));
  let n = 0;
  const sender = async () => {
    while (a1.connected) {
      const i = n++;
      try {
        const ack = await a1
          .timeout(15_000)
          .emitWithAck("message:send", { room_id: room.id, client_id: cid("flight"), body: `in flight ${i}` });
        if (ack?.ok) {
          acked.push(ack.message);
          outcomes.acked += 1;
        } else {
          outcomes.refused += 1;
        }
        if (acked.length >= 30) resolveSome();
      } catch {
        outcomes.unanswered += 1;
      }
    }
  };
  const senders = Promise.all(Array.from({ length: 10 }, sender));
  await Promise.race([some, senders]);
  const disconnectA = waitForDisconnect(a1, 15_000);
  const disconnectB = waitForDisconnect(b1, 15_000);
  const exit = await s.stop({ timeoutMs: 10_000 });
  await senders;
  const [reasonA, reasonB] = await Promise.all([disconnectA, disconnectB]);

  t.diagnostic(`sends: ${JSON.stringify(outcomes)} when the server stopped; exit ${JSON.stringify(exit)}; reasons ${reasonA} / ${reasonB}`);
  const shutdownLog = s.log();

  // Durability first: every acked message is stored, seqs contiguous, and seq continues.
  await s.start();
  const hist = await fullHistory(s, a, room.id);
  assertContiguous(seqs(hist), "history after restart");
  assert.equal(hist[0]?.seq, 1);
  const byId = new Map(hist.map((m) => [m.id, m]));
  const lost = acked.filter((m) => !byId.has(m.id) || byId.get(m.id).seq !== m.seq);
  assert.deepEqual(lost.map((m) => m.seq), [], `every acked message is in history with its seq (${acked.length} acked)`);
  const a2 = await connect(s, a);
  const b2 = await connect(s, b);
  const next = await roundTrip(a2, b2, room.id, "after restart");
  assert.equal(next.seq, hist.length + 1, "seq continues after the last stored message");

  // Then the manner of the shutdown.
  assert.equal(exit.forced, false, "the server exits by itself within 10 s of SIGTERM");
  assert.equal(exit.code, 0, `exit status 0 after SIGTERM, got code ${exit.code} signal ${exit.signal}`);
  // The server closes the transports and never sends a Socket.IO disconnect, after which the
  // official client would not reconnect by itself. A polling client between two polls finds its
  // session gone ("transport error") instead of fetching the close ("transport close"); it
  // reconnects all the same.
  for (const [name, reason, expected] of [
    ["websocket client", reasonA, ["transport close"]],
    ["polling client", reasonB, ["transport close", "transport error"]],
  ]) {
    assert.ok(expected.includes(reason), `${name} disconnect reason: ${reason}`);
  }
  const panics = shutdownLog.split("\n").filter((l) => l.includes("panicked"));
  assert.deepEqual(panics.slice(0, 3), [], `no panic while shutting down (${panics.length} panic lines)`);
  assert.ok(s.alive);
});
