// Delivery: fan-out to every socket, ordering under concurrency, idempotent retries, sync after a
// disconnect, and the membership wall. Acceptance items 1–5.

import assert from "node:assert/strict";
import { useServer } from "../lib/server.js";
import {
  cid,
  connect,
  createGroup,
  emitAck,
  emitErr,
  emitOk,
  fullHistory,
  messagesIn,
  pipelined,
  range,
  received,
  register,
  registerMany,
  send,
  sendMany,
  seqs,
  sleep,
  waitForEvent,
  waitForMessages,
} from "../lib/client.js";
import { assertContiguous, assertMessage } from "../lib/assertions.js";

// Throughput tests: a send rate that never limits.
const srv = useServer({ CHAT_SEND_RATE_BURST: "100000" }, { name: "messaging" });

for (const transport of ["websocket", "polling"]) {
  srv.test(`two users with two sockets each see every message exactly once, in seq order (${transport})`, async () => {
    const [a, b] = await registerMany(srv, 2, "fan");
    const room = await createGroup(srv, a, [b]);
    const opts = { transports: [transport] };
    const [a1, a2, b1, b2] = await Promise.all([
      connect(srv, a, opts),
      connect(srv, a, opts),
      connect(srv, b, opts),
      connect(srv, b, opts),
    ]);
    assert.equal(a1.io.engine.transport.name, transport, "the transport in use");

    const N = 15;
    const sendMany = async (socket, user, tag) => {
      const acks = [];
      for (let i = 0; i < N; i++) {
        const client_id = cid(tag);
        const body = `${tag} message ${i}`;
        const ack = await emitAck(socket, "message:send", { room_id: room.id, client_id, body });
        assert.equal(ack?.ok, true, `message:send ack: ${JSON.stringify(ack)}`);
        assertMessage(ack.message, {
          room_id: room.id,
          sender_id: user.id,
          client_id,
          body,
          deleted: false,
          edited_at: null,
          attachments: [],
          reply_to: null,
        });
        acks.push(ack);
      }
      return acks;
    };
    // Both users send at the same time, each from one of their sockets.
    const [acksA, acksB] = await Promise.all([sendMany(a1, a, "a"), sendMany(b2, b, "b")]);
    const ackMsgs = [...acksA, ...acksB].map((x) => x.message);
    assert.deepEqual(
      seqs(ackMsgs).sort((x, y) => x - y),
      range(1, 2 * N),
      "the acks' seqs are exactly 1..2N",
    );
    // Each sender's own acks come back in increasing seq order (it waited for each one).
    assert.deepEqual(seqs(acksA.map((x) => x.message)), [...seqs(acksA.map((x) => x.message))].sort((x, y) => x - y));
    const bySeq = new Map(ackMsgs.map((m) => [m.seq, m]));

    for (const [name, socket] of Object.entries({ a1, a2, b1, b2 })) {
      await waitForMessages(socket, room.id, 2 * N);
    }
    await sleep(300); // room for a duplicate to show up
    for (const [name, socket] of Object.entries({ a1, a2, b1, b2 })) {
      const got = messagesIn(socket, room.id);
      assert.deepEqual(seqs(got), range(1, 2 * N), `${name} sees seq 1..${2 * N} once each, in order`);
      for (const m of got) {
        assertMessage(m);
        assert.equal(m.id, bySeq.get(m.seq).id, `${name}: message at seq ${m.seq} is the acked one`);
        assert.equal(m.body, bySeq.get(m.seq).body, `${name}: body at seq ${m.seq}`);
      }
    }
  });
}

srv.test("5 concurrent senders × 200 messages: every receiver sees seq 1..1000, acks too", { timeout: 120_000 }, async () => {
  const SENDERS = 5;
  const PER = 200;
  const WINDOW = 20;
  const users = await registerMany(srv, SENDERS + 1, "burst");
  const [owner, ...rest] = users;
  const room = await createGroup(srv, owner, rest);
  const sockets = await Promise.all(users.map((u) => connect(srv, u)));
  const senders = sockets.slice(1);
  const listener = sockets[0]; // the owner only listens

  // Each sender keeps WINDOW sends in flight (an outbox being flushed), all five at once.
  const acks = await Promise.all(
    senders.map((socket, s) =>
      pipelined(PER, WINDOW, (i) =>
        emitAck(socket, "message:send", { room_id: room.id, client_id: cid(`s${s}`), body: `sender ${s} #${i}` }, 30_000),
      ),
    ),
  );
  const flat = acks.flat();
  const notOk = flat.filter((a) => a?.ok !== true);
  assert.deepEqual(notOk.slice(0, 3), [], `every ack is ok (${notOk.length} are not)`);
  const total = SENDERS * PER;
  assert.deepEqual(
    seqs(flat.map((a) => a.message)).sort((x, y) => x - y),
    range(1, total),
    "the acks' seqs form exactly 1..1000",
  );

  for (const [i, socket] of sockets.entries()) {
    await waitForMessages(socket, room.id, total, 30_000);
  }
  await sleep(300);
  for (const [i, socket] of sockets.entries()) {
    const got = seqs(messagesIn(socket, room.id));
    assert.equal(got.length, total, `receiver ${i} got ${got.length} messages, not ${total} (duplicates?)`);
    assert.deepEqual([...got].sort((x, y) => x - y), range(1, total), `receiver ${i}: seq 1..${total}, no gap, no repeat`);
  }
  assert.ok(listener.connected);

  // The stored history agrees.
  const hist = await fullHistory(srv, owner, room.id);
  assert.deepEqual(seqs(hist), range(1, total), "history holds seq 1..1000 in order");
});

srv.test("an outbox flush: 200 sends emitted at once from one socket are all acked and all delivered", async () => {
  const [a, b] = await registerMany(srv, 2, "outbox");
  const room = await createGroup(srv, a, [b]);
  const [a1, a2, b1] = await Promise.all([connect(srv, a), connect(srv, a), connect(srv, b)]);
  const N = 200;
  const results = await Promise.allSettled(
    Array.from({ length: N }, (_, i) =>
      emitAck(a1, "message:send", { room_id: room.id, client_id: cid("ob"), body: `queued ${i}` }, 20_000),
    ),
  );
  const unanswered = results.filter((r) => r.status === "rejected").length;
  const acks = results.filter((r) => r.status === "fulfilled").map((r) => r.value);
  const stored = (await fullHistory(srv, b, room.id)).length;
  assert.equal(unanswered, 0, `every send is acknowledged (${unanswered} of ${N} acks never came; ${stored} messages stored)`);
  assert.ok(acks.every((x) => x?.ok === true), "all accepted");
  assert.deepEqual(seqs(acks.map((x) => x.message)).sort((x, y) => x - y), range(1, N));
  for (const [name, socket] of Object.entries({ a1, a2, b1 })) {
    const got = await waitForMessages(socket, room.id, N, 20_000).catch(() => messagesIn(socket, room.id));
    assert.equal(got.length, N, `${name} received ${got.length} of ${N} messages`);
  }
});

srv.test("resending a client_id returns the original message and broadcasts nothing new", async () => {
  const [a, b] = await registerMany(srv, 2, "idem");
  const room = await createGroup(srv, a, [b]);
  const [a1, a2, b1] = await Promise.all([connect(srv, a), connect(srv, a), connect(srv, b)]);

  const client_id = cid("retry");
  const first = await emitOk(a1, "message:send", { room_id: room.id, client_id, body: "only once" });
  await waitForMessages(b1, room.id, 1);
  await waitForMessages(a2, room.id, 1);

  // The retry, from another socket of the same user, and again from the first.
  const again = await emitOk(a2, "message:send", { room_id: room.id, client_id, body: "only once" });
  const third = await emitOk(a1, "message:send", { room_id: room.id, client_id, body: "only once" });
  for (const ack of [again, third]) {
    assert.equal(ack.message.id, first.message.id, "the retry returns the original message id");
    assert.equal(ack.message.seq, first.message.seq, "the retry returns the original seq");
    assert.equal(ack.message.body, "only once");
  }
  await sleep(400);
  for (const [name, s] of Object.entries({ a1, a2, b1 })) {
    assert.equal(messagesIn(s, room.id).length, 1, `${name} received the message exactly once`);
  }
  // No seq was used up by the retries.
  const next = await send(a1, room.id, "next");
  assert.equal(next.seq, first.message.seq + 1, "the next message takes the next seq");
  const hist = await fullHistory(srv, a, room.id);
  assert.deepEqual(seqs(hist), [1, 2], "history has the message once");
});

srv.test("a socket that was away syncs exactly the 100 messages it missed", async () => {
  const [a, b] = await registerMany(srv, 2, "sync");
  const room = await createGroup(srv, a, [b]);
  const b1 = await connect(srv, b);
  let away = await connect(srv, a);
  for (let i = 0; i < 3; i++) await send(b1, room.id, `before ${i}`);
  await waitForMessages(away, room.id, 3);
  const cursor = Math.max(...seqs(messagesIn(away, room.id)));
  assert.equal(cursor, 3);
  away.disconnect();
  await sleep(50);

  const missed = [];
  for (let i = 0; i < 100; i++) missed.push(await send(b1, room.id, `while away ${i}`));

  away = await connect(srv, a);
  const ack = await emitOk(away, "sync", { rooms: [{ room_id: room.id, after_seq: cursor }] });
  assert.ok(Array.isArray(ack.rooms), `sync ack has rooms: ${JSON.stringify(ack).slice(0, 300)}`);
  assert.equal(ack.rooms.length, 1, "one entry per room asked");
  const [entry] = ack.rooms;
  assert.equal(entry.room_id, room.id);
  assert.equal(entry.has_more, false, "has_more is false: nothing else is missing");
  assert.deepEqual(seqs(entry.messages), range(4, 103), "exactly the missed seqs, ascending, contiguous");
  assert.deepEqual(
    entry.messages.map((m) => m.id),
    missed.map((m) => m.id),
    "exactly the messages sent meanwhile",
  );
  for (const m of entry.messages) assertMessage(m, { room_id: room.id, sender_id: b.id });
});

srv.test("sync pages at 100 messages per room with has_more", async () => {
  const [a, b] = await registerMany(srv, 2, "syncpage");
  const room = await createGroup(srv, a, [b]);
  const a1 = await connect(srv, a);
  const sent = await sendMany(a1, room.id, 130);
  assert.equal(sent.length, 130);
  const b1 = await connect(srv, b);
  const first = await emitOk(b1, "sync", { rooms: [{ room_id: room.id, after_seq: 0 }] });
  assert.deepEqual(seqs(first.rooms[0].messages), range(1, 100), "first page: seq 1..100");
  assert.equal(first.rooms[0].has_more, true, "has_more while messages remain");
  const second = await emitOk(b1, "sync", { rooms: [{ room_id: room.id, after_seq: 100 }] });
  assert.deepEqual(seqs(second.rooms[0].messages), range(101, 130), "second page: seq 101..130");
  assert.equal(second.rooms[0].has_more, false);
  const none = await emitOk(b1, "sync", { rooms: [{ room_id: room.id, after_seq: 130 }] });
  assert.deepEqual(none.rooms[0].messages, [], "nothing after the last seq");
  assert.equal(none.rooms[0].has_more, false);
});

srv.test("a non-member cannot send to a room and receives nothing from it", async () => {
  const [a, b, outsider] = await registerMany(srv, 3, "wall");
  const room = await createGroup(srv, a, [b]);
  const [a1, b1, o1] = await Promise.all([connect(srv, a), connect(srv, b), connect(srv, outsider)]);

  await emitErr(o1, "message:send", { room_id: room.id, client_id: cid(), body: "let me in" }, "not_found");
  await emitErr(o1, "read", { room_id: room.id, seq: 1 }, "not_found");

  // Members' traffic: messages, typing, edits, deletes, reads.
  const m1 = await send(a1, room.id, "members only");
  const m2 = await send(b1, room.id, "members only too");
  a1.emit("typing", { room_id: room.id, typing: true });
  await emitOk(a1, "message:edit", { room_id: room.id, message_id: m1.id, body: "edited" });
  await emitOk(a1, "message:delete", { room_id: room.id, message_id: m1.id });
  await emitOk(b1, "read", { room_id: room.id, seq: m2.seq });
  await waitForEvent(b1, "typing", (e) => e?.room_id === room.id);
  await waitForEvent(b1, "message:deleted", (e) => e?.room_id === room.id);
  await waitForEvent(a1, "read", (e) => e?.room_id === room.id);
  await sleep(300);

  const leaked = o1.events.filter((e) => JSON.stringify(e.args).includes(room.id));
  assert.deepEqual(leaked.map((e) => e.event), [], "the outsider received no event of the room");
  for (const ev of ["message", "typing", "message:updated", "message:deleted", "read"]) {
    assert.equal(received(o1, ev).length, 0, `outsider received no '${ev}'`);
  }

  // sync of a room one is not a member of: an error entry, not the messages.
  const ack = await emitOk(o1, "sync", { rooms: [{ room_id: room.id, after_seq: 0 }] });
  assert.equal(ack.rooms.length, 1);
  assert.equal(ack.rooms[0].room_id, room.id);
  assert.deepEqual(ack.rooms[0].messages, [], "no messages for a non-member");
  assert.equal(ack.rooms[0].has_more, false);
  assert.equal(ack.rooms[0].error?.code, "not_found", `error entry: ${JSON.stringify(ack.rooms[0])}`);

  // Mixed: one room of one's own and one that is not.
  const own = await createGroup(srv, outsider, []);
  await send(o1, own.id, "mine");
  const mixed = await emitOk(o1, "sync", {
    rooms: [
      { room_id: own.id, after_seq: 0 },
      { room_id: room.id, after_seq: 0 },
    ],
  });
  const byId = Object.fromEntries(mixed.rooms.map((r) => [r.room_id, r]));
  assert.deepEqual(seqs(byId[own.id].messages), [1], "one's own room syncs");
  assert.ok(!byId[own.id].error, `no error for one's own room: ${JSON.stringify(byId[own.id].error)}`);
  assert.equal(byId[room.id].error?.code, "not_found");
  assert.deepEqual(byId[room.id].messages, []);
});
