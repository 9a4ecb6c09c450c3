// Rooms over HTTP and the live effects of membership changes. Acceptance item 6.

import assert from "node:assert/strict";
import { useServer } from "../lib/server.js";
import {
  api,
  apiOk,
  cid,
  connect,
  createGroup,
  emitErr,
  history,
  messagesIn,
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
import { assertContiguous, assertHttpError, assertRoom } from "../lib/assertions.js";

const srv = useServer({ CHAT_SEND_RATE_BURST: "100000" }, { name: "rooms" });

srv.test("create a group: 201, the caller is owner and member, the members see it", async () => {
  const [a, b, c] = await registerMany(srv, 3, "grp");
  const res = await api(srv, "POST", "/api/rooms", { token: a, body: { name: "Team", members: [b.id, c.id] } });
  assert.equal(res.status, 201, JSON.stringify(res.body));
  assertRoom(res.body, {
    kind: "group",
    name: "Team",
    created_by: a.id,
    members: [a.id, b.id, c.id],
    last_seq: 0,
    last_read_seq: 0,
    unread: 0,
  });
  for (const u of [a, b, c]) {
    const got = await apiOk(srv, "GET", `/api/rooms/${res.body.id}`, 200, { token: u });
    assertRoom(got, { id: res.body.id, created_by: a.id, members: [a.id, b.id, c.id] });
    const { rooms } = await apiOk(srv, "GET", "/api/rooms", 200, { token: u });
    assert.ok(rooms.some((r) => r.id === res.body.id), `${u.username} lists the room`);
  }
  // A group of one: the caller alone.
  const alone = await createGroup(srv, a, [], "just me");
  assertRoom(alone, { members: [a.id], created_by: a.id });

  // No token: 401. A malformed body: 400, never 500.
  assertHttpError(await api(srv, "POST", "/api/rooms", { body: { name: "x", members: [] } }), 401, "unauthorized", "no token");
  assertHttpError(await api(srv, "POST", "/api/rooms", { token: a, body: { name: 5, members: "nope" } }), 400, "invalid_request", "bad body");
  assertHttpError(await api(srv, "POST", "/api/rooms", { token: a, body: "{not json" }), 400, "invalid_request", "not json");
});

srv.test("a direct room is the same room for the pair, from either side", async () => {
  const [a, b, c] = await registerMany(srv, 3, "dm");
  const ab = await apiOk(srv, "POST", "/api/rooms/direct", 200, { token: a, body: { user_id: b.id } });
  assertRoom(ab, { kind: "direct", members: [a.id, b.id] });
  const again = await apiOk(srv, "POST", "/api/rooms/direct", 200, { token: a, body: { user_id: b.id } });
  assert.equal(again.id, ab.id, "asking again gives the same room");
  const ba = await apiOk(srv, "POST", "/api/rooms/direct", 200, { token: b, body: { user_id: a.id } });
  assert.equal(ba.id, ab.id, "the other side gets the same room");
  const ac = await apiOk(srv, "POST", "/api/rooms/direct", 200, { token: a, body: { user_id: c.id } });
  assert.notEqual(ac.id, ab.id, "another pair gets another room");
  assertRoom(ac, { kind: "direct", members: [a.id, c.id] });
  // c is not in a–b's room.
  assertHttpError(await api(srv, "GET", `/api/rooms/${ab.id}`, { token: c }), 404, "not_found", "c reads a–b");

  // It works as a room: a message gets through.
  const [a1, b1] = await Promise.all([connect(srv, a), connect(srv, b)]);
  const m = await send(a1, ab.id, "direct hello");
  await waitForEvent(b1, "message", (x) => x?.id === m.id);
});

srv.test("GET /api/rooms lists the caller's rooms, most recent activity first", async () => {
  const [a, b] = await registerMany(srv, 2, "order");
  const r1 = await createGroup(srv, a, [b], "first");
  const r2 = await createGroup(srv, a, [b], "second");
  const r3 = await createGroup(srv, a, [], "third");
  const other = await createGroup(srv, b, [], "b's own");
  const a1 = await connect(srv, a);

  const order = async (user) => {
    const { rooms } = await apiOk(srv, "GET", "/api/rooms", 200, { token: user });
    for (const r of rooms) assertRoom(r);
    return rooms.map((r) => r.id);
  };

  await send(a1, r1.id, "activity in r1");
  let ids = await order(a);
  assert.equal(ids[0], r1.id, "r1 just had a message: first");
  assert.ok(!ids.includes(other.id), "someone else's room is not listed");
  assert.deepEqual([...ids].sort(), [r1.id, r2.id, r3.id].sort(), "exactly the caller's rooms");

  await sleep(5);
  await send(a1, r2.id, "activity in r2");
  ids = await order(a);
  assert.equal(ids[0], r2.id, "r2 just had a message: first");
  assert.ok(ids.indexOf(r1.id) < ids.indexOf(r3.id), "r1 (a message) before r3 (none)");
  ids = await order(b);
  assert.deepEqual(ids.slice(0, 2), [r2.id, r1.id], "b's list: r2, then r1");

  await sleep(5);
  await send(a1, r1.id, "r1 again");
  assert.deepEqual((await order(b)).slice(0, 2), [r1.id, r2.id], "r1 is back on top");
  const listed = await apiOk(srv, "GET", "/api/rooms", 200, { token: b });
  assert.equal(listed.rooms.find((r) => r.id === r1.id).last_seq, 2, "last_seq in the list");
});

srv.test("GET /api/rooms/{id}: 200 for a member, 404 for a non-member or an unknown room", async () => {
  const [a, b, stranger] = await registerMany(srv, 3, "get");
  const room = await createGroup(srv, a, [b], "visible");
  const got = await apiOk(srv, "GET", `/api/rooms/${room.id}`, 200, { token: b });
  assertRoom(got, { id: room.id, name: "visible", kind: "group", created_by: a.id, members: [a.id, b.id] });
  assertHttpError(await api(srv, "GET", `/api/rooms/${room.id}`, { token: stranger }), 404, "not_found", "non-member");
  assertHttpError(await api(srv, "GET", `/api/rooms/no-such-room-${cid()}`, { token: a }), 404, "not_found", "unknown room");
  assertHttpError(await api(srv, "GET", `/api/rooms/${room.id}/messages`, { token: stranger }), 404, "not_found", "non-member history");
  assertHttpError(await api(srv, "GET", `/api/rooms/${room.id}`), 401, "unauthorized", "no token");
});

srv.test("adding a member (owner only): the live socket gets room:added and then the room's messages", async () => {
  const [owner, member, newcomer, other] = await registerMany(srv, 4, "add");
  const room = await createGroup(srv, owner, [member], "growing");
  const [o1, m1, n1, x1] = await Promise.all([
    connect(srv, owner),
    connect(srv, member),
    connect(srv, newcomer),
    connect(srv, other),
  ]);
  await send(o1, room.id, "before the newcomer");

  // A member who is not the owner may not add.
  assertHttpError(
    await api(srv, "POST", `/api/rooms/${room.id}/members`, { token: member, body: { user_id: other.id } }),
    403,
    "forbidden",
    "non-owner adds",
  );
  // A non-member does not even learn the room exists.
  assertHttpError(
    await api(srv, "POST", `/api/rooms/${room.id}/members`, { token: other, body: { user_id: other.id } }),
    404,
    "not_found",
    "non-member adds self",
  );

  const res = await api(srv, "POST", `/api/rooms/${room.id}/members`, { token: owner, body: { user_id: newcomer.id } });
  assert.equal(res.status, 204, JSON.stringify(res.body));
  const added = await waitForEvent(n1, "room:added", (r) => r?.id === room.id);
  assertRoom(added, { id: room.id, name: "growing", members: [owner.id, member.id, newcomer.id] });
  const after = await apiOk(srv, "GET", `/api/rooms/${room.id}`, 200, { token: newcomer });
  assertRoom(after, { members: [owner.id, member.id, newcomer.id] });

  // Without reconnecting, the newcomer now gets the room's messages and may send.
  const m = await send(o1, room.id, "welcome");
  await waitForEvent(n1, "message", (x) => x?.id === m.id);
  const reply = await send(n1, room.id, "thanks");
  await waitForEvent(m1, "message", (x) => x?.id === reply.id);
  await waitForEvent(o1, "message", (x) => x?.id === reply.id);
  assert.equal(received(x1, "room:added").length, 0, "nobody else got room:added");
  assert.equal(received(m1, "room:added").length, 0, "existing members did not get room:added");
  assert.equal(messagesIn(x1, room.id).length, 0, "a non-member got nothing");
});

srv.test("removing a member and leaving: room:removed, and no more of the room's messages", async () => {
  const [owner, stay, kicked, leaver] = await registerMany(srv, 4, "rm");
  const room = await createGroup(srv, owner, [stay, kicked, leaver], "shrinking");
  const [o1, s1, k1, l1] = await Promise.all([
    connect(srv, owner),
    connect(srv, stay),
    connect(srv, kicked),
    connect(srv, leaver),
  ]);
  const m0 = await send(o1, room.id, "all here");
  await waitForEvent(k1, "message", (x) => x?.id === m0.id);

  // Only the owner removes others.
  assertHttpError(
    await api(srv, "DELETE", `/api/rooms/${room.id}/members/${kicked.id}`, { token: stay }),
    403,
    "forbidden",
    "non-owner removes another",
  );

  let res = await api(srv, "DELETE", `/api/rooms/${room.id}/members/${kicked.id}`, { token: owner });
  assert.equal(res.status, 204, JSON.stringify(res.body));
  const removed = await waitForEvent(k1, "room:removed", (r) => r?.room_id === room.id);
  assert.deepEqual(removed, { room_id: room.id }, "room:removed carries {room_id}");

  const m1 = await send(o1, room.id, "after the kick");
  await waitForEvent(s1, "message", (x) => x?.id === m1.id);
  o1.emit("typing", { room_id: room.id, typing: true });
  await waitForEvent(s1, "typing", (x) => x?.room_id === room.id);
  await sleep(250);
  assert.deepEqual(seqs(messagesIn(k1, room.id)), [m0.seq], "the removed socket gets no more messages");
  assert.equal(received(k1, "typing").length, 0, "nor typing");
  await emitErr(k1, "message:send", { room_id: room.id, client_id: cid(), body: "still here?" }, "not_found");
  assertHttpError(await api(srv, "GET", `/api/rooms/${room.id}`, { token: kicked }), 404, "not_found", "removed member reads");
  const kickedRooms = await apiOk(srv, "GET", "/api/rooms", 200, { token: kicked });
  assert.ok(!kickedRooms.rooms.some((r) => r.id === room.id), "the room left the removed user's list");

  // Leaving: DELETE self.
  res = await api(srv, "DELETE", `/api/rooms/${room.id}/members/${leaver.id}`, { token: leaver });
  assert.equal(res.status, 204, JSON.stringify(res.body));
  await waitForEvent(l1, "room:removed", (r) => r?.room_id === room.id);
  const m2 = await send(o1, room.id, "after the leave");
  await waitForEvent(s1, "message", (x) => x?.id === m2.id);
  await sleep(250);
  assert.deepEqual(seqs(messagesIn(l1, room.id)), [m0.seq, m1.seq], "the leaver gets no more messages");
  const r = await apiOk(srv, "GET", `/api/rooms/${room.id}`, 200, { token: owner });
  assertRoom(r, { members: [owner.id, stay.id] });
  assert.equal(received(s1, "room:removed").length, 0, "the one who stayed got no room:removed");
});

srv.test("history paging: ascending, before_seq / after_seq / limit, has_more", async () => {
  const [a, b, stranger] = await registerMany(srv, 3, "hist");
  const room = await createGroup(srv, a, [b], "long");
  const a1 = await connect(srv, a);
  await sendMany(a1, room.id, 120);

  // Default limit 50, ascending, contiguous, more to come.
  let page = await history(srv, b, room.id);
  assert.equal(page.messages.length, 50, "default limit is 50");
  assertContiguous(seqs(page.messages), "default page");
  assert.equal(page.has_more, true);

  page = await history(srv, b, room.id, { after_seq: 0, limit: 100 });
  assert.deepEqual(seqs(page.messages), range(1, 100), "after_seq=0&limit=100");
  assert.equal(page.has_more, true);
  page = await history(srv, b, room.id, { after_seq: 100, limit: 100 });
  assert.deepEqual(seqs(page.messages), range(101, 120), "after_seq=100");
  assert.equal(page.has_more, false);

  page = await history(srv, b, room.id, { before_seq: 21, limit: 10 });
  assert.deepEqual(seqs(page.messages), range(11, 20), "before_seq=21&limit=10: the 10 just before, ascending");
  assert.equal(page.has_more, true, "older ones remain");
  page = await history(srv, b, room.id, { before_seq: 11, limit: 10 });
  assert.deepEqual(seqs(page.messages), range(1, 10));
  assert.equal(page.has_more, false, "nothing older than seq 1");

  page = await history(srv, b, room.id, { before_seq: 121, limit: 5 });
  assert.deepEqual(seqs(page.messages), range(116, 120), "before_seq past the end: the latest");

  // limit is capped at 100: either refused or clamped.
  const big = await api(srv, "GET", `/api/rooms/${room.id}/messages?after_seq=0&limit=1000`, { token: b });
  if (big.status === 200) {
    assert.ok(big.body.messages.length <= 100, `limit=1000 returned ${big.body.messages.length} messages`);
    assert.equal(big.body.has_more, true);
  } else {
    assertHttpError(big, 400, "invalid_request", "limit=1000");
  }
  assertHttpError(
    await api(srv, "GET", `/api/rooms/${room.id}/messages?after_seq=abc`, { token: b }),
    400,
    "invalid_request",
    "after_seq=abc",
  );
  assertHttpError(await api(srv, "GET", `/api/rooms/${room.id}/messages`, { token: stranger }), 404, "not_found", "stranger");
});

srv.test("history with both after_seq and before_seq returns the messages between them", async () => {
  const [a] = await registerMany(srv, 1, "between");
  const room = await createGroup(srv, a, [], "between");
  const a1 = await connect(srv, a);
  for (let i = 0; i < 12; i++) await send(a1, room.id, `m${i}`);
  const page = await history(srv, a, room.id, { after_seq: 5, before_seq: 10 });
  assert.deepEqual(seqs(page.messages), range(6, 9), "after_seq=5&before_seq=10: seqs 6..9");
  assert.equal(page.has_more, false, "nothing more between the two cursors");
});
