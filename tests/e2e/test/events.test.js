// Edits, deletes, typing, read pointers and presence. Acceptance item 7.

import assert from "node:assert/strict";
import { useServer } from "../lib/server.js";
import {
  apiOk,
  cid,
  connect,
  createGroup,
  emitErr,
  emitOk,
  fullHistory,
  received,
  registerMany,
  roomInList,
  roundTrip,
  send,
  sleep,
  waitForEvent,
  waitForEvents,
} from "../lib/client.js";
import { assertMessage, assertTime } from "../lib/assertions.js";

// Default typing rate (burst 5 per 3000 ms); a send rate that never limits.
const TYPING_BURST = 5;
const TYPING_WINDOW_MS = 3000;
const srv = useServer({ CHAT_SEND_RATE_BURST: "100000" }, { name: "events" });

srv.test("edit: only the sender, members get message:updated with edited_at, history shows the new body", async () => {
  const [a, b] = await registerMany(srv, 2, "edit");
  const room = await createGroup(srv, a, [b]);
  const [a1, a2, b1] = await Promise.all([connect(srv, a), connect(srv, a), connect(srv, b)]);
  const original = "original wording 7f3a";
  const m = await send(a1, room.id, original);
  const mb = await send(b1, room.id, "b's own words");
  assert.equal(m.edited_at, null, "a new message is not edited");

  const ack = await emitOk(a1, "message:edit", { room_id: room.id, message_id: m.id, body: "corrected wording" });
  assertMessage(ack.message, { id: m.id, seq: m.seq, room_id: room.id, sender_id: a.id, body: "corrected wording" });
  assertTime(ack.message.edited_at, "edited_at after an edit");

  for (const [name, s] of Object.entries({ a2, b1 })) {
    const up = await waitForEvent(s, "message:updated", (x) => x?.id === m.id);
    assertMessage(up, { id: m.id, seq: m.seq, room_id: room.id, body: "corrected wording" });
    assertTime(up.edited_at, `${name}: message:updated has edited_at`);
  }

  // Not the sender: forbidden, even for the room's owner.
  await emitErr(b1, "message:edit", { room_id: room.id, message_id: m.id, body: "b rewrites a" }, "forbidden");
  await emitErr(a1, "message:edit", { room_id: room.id, message_id: mb.id, body: "owner rewrites b" }, "forbidden");
  // Invalid edits.
  await emitErr(a1, "message:edit", { room_id: room.id, message_id: m.id, body: "   " }, "invalid_request");
  await emitErr(a1, "message:edit", { room_id: room.id, message_id: `nope-${cid()}`, body: "x" }, "not_found");

  const hist = await fullHistory(srv, b, room.id);
  const stored = hist.find((x) => x.id === m.id);
  assert.equal(stored.body, "corrected wording", "history has the new body");
  assertTime(stored.edited_at, "history's edited_at");
  assert.ok(!JSON.stringify(hist).includes(original), "the older body is gone from history");
  assert.equal(hist.find((x) => x.id === mb.id).body, "b's own words", "the refused edits changed nothing");
  assert.equal(hist.find((x) => x.id === mb.id).edited_at, null);
});

srv.test("delete: sender or room owner only; message:deleted; history keeps the seq with deleted:true", async () => {
  const [owner, b, c] = await registerMany(srv, 3, "del");
  const room = await createGroup(srv, owner, [b, c]);
  const [o1, b1, c1] = await Promise.all([connect(srv, owner), connect(srv, b), connect(srv, c)]);
  const mb = await send(b1, room.id, "b says something regrettable");
  const mc = await send(c1, room.id, "c says something the owner removes");
  const keep = await send(b1, room.id, "this one stays");

  // Another plain member may not delete.
  await emitErr(c1, "message:delete", { room_id: room.id, message_id: mb.id }, "forbidden");
  await emitErr(b1, "message:delete", { room_id: room.id, message_id: mc.id }, "forbidden");

  // The sender deletes their own.
  const ack = await emitOk(b1, "message:delete", { room_id: room.id, message_id: mb.id });
  assert.equal(ack.ok, true);
  for (const s of [o1, c1]) {
    const ev = await waitForEvent(s, "message:deleted", (x) => x?.message_id === mb.id);
    assert.deepEqual(ev, { room_id: room.id, message_id: mb.id, seq: mb.seq });
  }
  // The owner deletes someone else's.
  await emitOk(o1, "message:delete", { room_id: room.id, message_id: mc.id });
  const ev = await waitForEvent(b1, "message:deleted", (x) => x?.message_id === mc.id);
  assert.deepEqual(ev, { room_id: room.id, message_id: mc.id, seq: mc.seq });

  const hist = await fullHistory(srv, c, room.id);
  assert.deepEqual(hist.map((m) => m.seq), [1, 2, 3], "deleted messages keep their seq");
  for (const m of [mb, mc]) {
    const stored = hist.find((x) => x.id === m.id);
    assertMessage(stored, { seq: m.seq, deleted: true, body: "", attachments: [] });
  }
  assertMessage(hist.find((x) => x.id === keep.id), { deleted: false, body: "this one stays" });
  assert.ok(!JSON.stringify(hist).includes("regrettable"), "the deleted body is gone");
  await emitErr(c1, "message:delete", { room_id: room.id, message_id: `nope-${cid()}` }, "not_found");
});

srv.test("typing reaches the other members but not the typist's own sockets; a flood gets at most the burst through", async () => {
  const [a, b, flooder] = await registerMany(srv, 3, "typ");
  const room = await createGroup(srv, a, [b, flooder]);
  const [a1, a2, b1, b2, f1] = await Promise.all([
    connect(srv, a),
    connect(srv, a),
    connect(srv, b),
    connect(srv, b),
    connect(srv, flooder),
  ]);

  a1.emit("typing", { room_id: room.id, typing: true });
  for (const s of [b1, b2, f1]) {
    const ev = await waitForEvent(s, "typing", (x) => x?.user_id === a.id && x?.typing === true);
    assert.deepEqual(ev, { room_id: room.id, user_id: a.id, typing: true });
  }
  a1.emit("typing", { room_id: room.id, typing: false });
  const off = await waitForEvent(b1, "typing", (x) => x?.user_id === a.id && x?.typing === false);
  assert.deepEqual(off, { room_id: room.id, user_id: a.id, typing: false });
  await sleep(300);
  assert.equal(received(a1, "typing").length, 0, "the typing socket does not get its own typing");
  assert.equal(received(a2, "typing").length, 0, "the typist's other socket does not get it either");

  // The flood: 60 typing events at once from one user.
  const started = Date.now();
  for (let i = 0; i < 60; i++) f1.emit("typing", { room_id: room.id, typing: i % 2 === 0 });
  const elapsed = Date.now() - started;
  await waitForEvent(b1, "typing", (x) => x?.user_id === flooder.id);
  await sleep(800);
  const got = received(b1, "typing", (x) => x?.user_id === flooder.id).length;
  // GCRA: the burst at once, then one more every window/burst ms.
  const allowed = TYPING_BURST + Math.ceil((elapsed + 100) / (TYPING_WINDOW_MS / TYPING_BURST));
  assert.ok(got >= 1, "some typing gets through");
  assert.ok(got <= allowed, `a flood of 60 typing events: ${got} reached a member, at most ${allowed} may`);
  // Dropped silently: the flooder is still connected and can chat.
  assert.ok(f1.connected, "the flooder is not disconnected");
  await roundTrip(f1, b1, room.id, "after the typing flood");
});

srv.test("read pointers: monotonic, broadcast when they move, unread counts rise and clear", async () => {
  const [a, b] = await registerMany(srv, 2, "read");
  const room = await createGroup(srv, a, [b]);
  const [a1, b1] = await Promise.all([connect(srv, a), connect(srv, b)]);
  for (let i = 1; i <= 5; i++) await send(a1, room.id, `unread ${i}`);

  let view = await roomInList(srv, b, room.id);
  assert.equal(view.last_seq, 5);
  assert.equal(view.last_read_seq, 0);
  assert.equal(view.unread, 5, "five unread for b");

  await emitOk(b1, "read", { room_id: room.id, seq: 3 });
  const ev = await waitForEvent(a1, "read", (x) => x?.room_id === room.id);
  assert.deepEqual(ev, { room_id: room.id, user_id: b.id, seq: 3 });
  view = await roomInList(srv, b, room.id);
  assert.equal(view.last_read_seq, 3);
  assert.equal(view.unread, 2);
  const single = await apiOk(srv, "GET", `/api/rooms/${room.id}`, 200, { token: b });
  assert.equal(single.last_read_seq, 3, "GET /api/rooms/{id} agrees");
  assert.equal(single.unread, 2);

  // Lower or equal: acknowledged, ignored, not broadcast.
  await emitOk(b1, "read", { room_id: room.id, seq: 2 });
  await emitOk(b1, "read", { room_id: room.id, seq: 3 });
  await sleep(300);
  assert.equal(received(a1, "read", (x) => x?.room_id === room.id).length, 1, "no broadcast when the pointer did not move");
  view = await roomInList(srv, b, room.id);
  assert.equal(view.last_read_seq, 3, "a lower seq does not move the pointer back");
  assert.equal(view.unread, 2);

  // New messages raise the count.
  await send(a1, room.id, "unread 6");
  await send(a1, room.id, "unread 7");
  view = await roomInList(srv, b, room.id);
  assert.equal(view.last_seq, 7);
  assert.equal(view.unread, 4, "unread rises with new messages");

  await emitOk(b1, "read", { room_id: room.id, seq: 7 });
  const ev2 = await waitForEvents(a1, "read", 2, (x) => x?.room_id === room.id);
  assert.deepEqual(ev2[1], { room_id: room.id, user_id: b.id, seq: 7 });
  view = await roomInList(srv, b, room.id);
  assert.equal(view.last_read_seq, 7);
  assert.equal(view.unread, 0, "read clears the unread count");
});

srv.test("presence: online on the first socket, still online with a second, offline after the last closes", async () => {
  const [a, b, loner] = await registerMany(srv, 3, "pres");
  await createGroup(srv, a, [b]);
  await createGroup(srv, loner, []);
  const [b1, l1] = await Promise.all([connect(srv, b), connect(srv, loner)]);
  const isA = (online) => (x) => x?.user_id === a.id && x?.online === online;

  const a1 = await connect(srv, a);
  const on = await waitForEvent(b1, "presence", isA(true));
  assert.deepEqual(on, { user_id: a.id, online: true });
  // On connect, a is told who of its room-mates is online.
  const snap = await waitForEvent(a1, "presence", (x) => x?.user_id === b.id);
  assert.deepEqual(snap, { user_id: b.id, online: true }, "a new socket learns that b is online");

  const a2 = await connect(srv, a);
  await waitForEvent(a2, "presence", (x) => x?.user_id === b.id);
  a1.disconnect();
  await sleep(500);
  assert.equal(received(b1, "presence", isA(true)).length, 1, "a second socket is not a new 'online'");
  assert.equal(received(b1, "presence", isA(false)).length, 0, "still online while a socket remains");

  a2.disconnect();
  const offline = await waitForEvent(b1, "presence", isA(false));
  assert.deepEqual(offline, { user_id: a.id, online: false });

  await sleep(200);
  assert.equal(received(l1, "presence", (x) => x?.user_id === a.id).length, 0, "no presence to users who share no room");
  assert.equal(received(l1, "presence", (x) => x?.user_id === b.id).length, 0);
});

srv.test("presence: the members of a new room learn at once who of the others is online", async () => {
  const [a, b, c] = await registerMany(srv, 3, "newpres");
  // Online, but sharing no room yet: no presence either way.
  const [a1, b1, c1] = await Promise.all([connect(srv, a), connect(srv, b), connect(srv, c)]);
  const about = (user) => (x) => x?.user_id === user.id && x?.online === true;

  await apiOk(srv, "POST", "/api/rooms/direct", 200, { token: a, body: { user_id: b.id } });
  assert.deepEqual(await waitForEvent(a1, "presence", about(b)), { user_id: b.id, online: true });
  assert.deepEqual(await waitForEvent(b1, "presence", about(a)), { user_id: a.id, online: true });

  // A group with a and b; then c is added: c learns about both, and both about c.
  const room = await createGroup(srv, a, [b]);
  await apiOk(srv, "POST", `/api/rooms/${room.id}/members`, 204, { token: a, body: { user_id: c.id } });
  await waitForEvent(c1, "presence", about(a));
  await waitForEvent(c1, "presence", about(b));
  await waitForEvent(a1, "presence", about(c));
  await waitForEvent(b1, "presence", about(c));
});
