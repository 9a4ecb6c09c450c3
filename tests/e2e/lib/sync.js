// The client's side of `sync` with changes (docs/protocol.md, "Sync: nothing missed, changes
// included") and the scenarios that test/sync.test.js (standalone) and
// test/sync-local-cluster.test.js (two socket nodes behind NGINX) both run:
//
//  - catchUpAfterAbsence: a member away while > 100 messages are sent and > 100 older ones are
//    edited or deleted catches up with `sync` (messages paged by after_seq, changes paged by
//    after_rev) and then holds exactly the room's history, field by field
//  - pipelinedSendOrder: 1000 `message:send` emitted back to back get their seqs in emit order
//  - readsOfEveryMember, roomUpdatedToMembers, typingStopsOnSend, typingFalseAfterFlood
//
// A scenario gets a `mode`: {api, at(user, node), settle?()}. `api` is what lib/client.js's REST
// helpers take ({url}); `at(user, node)` connects a socket of `user` to node 0 or 1 (the
// standalone server has one); `settle()` waits until everything acked so far is stored where an
// edit looks for it (the distributed mode's writer), a no-op by default.

import assert from "node:assert/strict";
import {
  api as call,
  apiOk,
  cid,
  createGroup,
  emitAck,
  emitOk,
  eventually,
  fullHistory,
  pipelined,
  received,
  register,
  send,
  sendMany,
  sleep,
  waitForEvent,
  waitForEvents,
} from "./client.js";
import { assertContiguous, assertHttpError, assertMessage, assertRev, assertRoomInfo } from "./assertions.js";

/** At most this many `messages`, and as many `changed`, per room and answer. */
export const SYNC_PAGE = 100;

const brief = (x, n = 300) => JSON.stringify(x)?.slice(0, n);

/**
 * One `sync` for one room at `cursor` ({room_id, after_seq, after_rev?}); asserts the shape
 * of the room's answer against the cursor and returns it:
 * {room_id, messages, has_more, changed, changed_more, rev}.
 */
export async function syncOnce(socket, cursor, ms = 15_000) {
  const ack = await emitAck(socket, "sync", { rooms: [cursor] }, ms);
  assert.equal(ack?.ok, true, `sync ${brief(cursor)}: ${brief(ack)}`);
  assert.ok(Array.isArray(ack.rooms), `sync ack has rooms: ${brief(ack)}`);
  const r = ack.rooms.find((x) => x?.room_id === cursor.room_id);
  assert.ok(r, `sync answers the room asked: ${brief(ack)}`);
  assert.equal(r.error, undefined, `sync of a room one is a member of has no error: ${brief(r)}`);
  const afterSeq = cursor.after_seq;
  const afterRev = cursor.after_rev ?? 0;
  const what = `sync answer to ${brief(cursor)}`;

  assert.ok(Array.isArray(r.messages), `${what}: messages is an array`);
  assert.equal(typeof r.has_more, "boolean", `${what}: has_more is a boolean, got ${brief(r.has_more)}`);
  assert.ok(Array.isArray(r.changed), `${what}: changed is an array, got ${brief(r.changed)}; keys: ${Object.keys(r)}`);
  assert.equal(typeof r.changed_more, "boolean", `${what}: changed_more is a boolean, got ${brief(r.changed_more)}`);
  assertRev(r, what);

  assert.ok(r.messages.length <= SYNC_PAGE, `${what}: at most ${SYNC_PAGE} messages, got ${r.messages.length}`);
  r.messages.forEach((m, i) => {
    assertMessage(m, { room_id: cursor.room_id });
    assertRev(m, `${what}: messages[${i}] (seq ${m.seq})`);
    assert.ok(m.seq > afterSeq, `${what}: messages[${i}] has seq ${m.seq}, not above after_seq`);
    if (i > 0) assert.ok(m.seq > r.messages[i - 1].seq, `${what}: messages ascend by seq (${r.messages[i - 1].seq} then ${m.seq})`);
    assert.ok(m.rev <= r.rev, `${what}: messages[${i}] (seq ${m.seq}) has rev ${m.rev} above the room's rev ${r.rev}`);
  });
  if (r.has_more) assert.ok(r.messages.length > 0, `${what}: has_more with no messages`);

  assert.ok(r.changed.length <= SYNC_PAGE, `${what}: at most ${SYNC_PAGE} changed, got ${r.changed.length}`);
  r.changed.forEach((m, i) => {
    assertMessage(m, { room_id: cursor.room_id });
    assertRev(m, `${what}: changed[${i}] (seq ${m.seq})`);
    assert.ok(m.seq <= afterSeq, `${what}: changed[${i}] has seq ${m.seq}, above after_seq (belongs in messages)`);
    assert.ok(m.rev > afterRev, `${what}: changed[${i}] (seq ${m.seq}) has rev ${m.rev}, not above after_rev`);
    assert.ok(m.rev <= r.rev, `${what}: changed[${i}] (seq ${m.seq}) has rev ${m.rev} above the room's rev ${r.rev}`);
    if (i > 0) assert.ok(m.rev > r.changed[i - 1].rev, `${what}: changed ascend by rev (${r.changed[i - 1].rev} then ${m.rev})`);
  });
  if (r.changed_more) assert.ok(r.changed.length > 0, `${what}: changed_more with nothing changed`);
  return r;
}

/**
 * What a client holds of one room: its messages by seq, the highest seq it has (`afterSeq`)
 * and the highest rev it has seen (`afterRev`), kept up to date with `sync` like docs/protocol.md says.
 */
export class Replica {
  constructor(roomId) {
    this.roomId = roomId;
    this.bySeq = new Map();
    this.afterSeq = 0;
    this.afterRev = 0;
    /** The calls of the last `catchUp`: [{sent, answer}]. */
    this.calls = [];
  }

  get messages() {
    return [...this.bySeq.values()].sort((x, y) => x.seq - y.seq);
  }

  get cursor() {
    return { room_id: this.roomId, after_seq: this.afterSeq, after_rev: this.afterRev };
  }

  /**
   * Calls `sync` until neither `has_more` nor `changed_more`, applying each answer: `messages`
   * move after_seq on, `changed` move after_rev to the rev of the last changed one. Once
   * complete, after_rev is the highest rev held. Resolves with the last answer.
   */
  async catchUp(socket, { maxCalls = 50 } = {}) {
    this.calls = [];
    for (;;) {
      assert.ok(
        this.calls.length < maxCalls,
        `sync did not finish within ${maxCalls} calls; cursor ${brief(this.cursor)}, answers (messages/has_more, changed/changed_more): ` +
          brief(this.calls.slice(-5).map(({ answer: a }) => [a.messages.length, a.has_more, a.changed.length, a.changed_more]), 500),
      );
      const sent = this.cursor;
      const answer = await syncOnce(socket, sent);
      this.calls.push({ sent, answer });
      for (const m of answer.messages) this.bySeq.set(m.seq, m);
      for (const m of answer.changed) this.bySeq.set(m.seq, m);
      if (answer.messages.length) this.afterSeq = Math.max(this.afterSeq, answer.messages.at(-1).seq);
      if (answer.changed.length) this.afterRev = Math.max(this.afterRev, answer.changed.at(-1).rev);
      if (!answer.has_more && !answer.changed_more) {
        for (const m of this.bySeq.values()) this.afterRev = Math.max(this.afterRev, m.rev ?? 0);
        return answer;
      }
    }
  }
}

/** The fields in which two messages differ (as JSON). */
function differingFields(x, y) {
  const keys = new Set([...Object.keys(x ?? {}), ...Object.keys(y ?? {})]);
  return [...keys].filter((k) => JSON.stringify(x?.[k]) !== JSON.stringify(y?.[k]));
}

/** The replica holds exactly `history` (every message, every field), and nothing else. */
export function assertSameAsHistory(replica, history, who = "the client") {
  const held = replica.messages;
  const heldSeqs = new Set(held.map((m) => m.seq));
  const histSeqs = new Set(history.map((m) => m.seq));
  const missing = history.filter((m) => !heldSeqs.has(m.seq)).map((m) => m.seq);
  const extra = held.filter((m) => !histSeqs.has(m.seq)).map((m) => m.seq);
  assert.deepEqual({ missing: missing.slice(0, 20), extra: extra.slice(0, 20) }, { missing: [], extra: [] }, `${who} holds every seq of the history and no other (${missing.length} missing, ${extra.length} extra)`);
  const wrong = [];
  for (const h of history) {
    const mine = replica.bySeq.get(h.seq);
    const fields = differingFields(mine, h);
    if (fields.length) wrong.push({ seq: h.seq, fields, held: Object.fromEntries(fields.map((f) => [f, mine?.[f]])), history: Object.fromEntries(fields.map((f) => [f, h[f]])) });
  }
  assert.deepEqual(wrong.slice(0, 5), [], `${who}'s copy differs from the history in ${wrong.length} message(s)`);
}

// ---------------------------------------------------------------------------------------------
// The scenarios

/**
 * B, away, misses 120 new messages and 137 changes to messages it had (130 edits, a second edit,
 * 6 deletes, one of them of an edited message), plus changes to new ones; back on the other
 * node, `sync` pages both and B's copy is then exactly the history.
 */
export async function catchUpAfterAbsence(t, { api, at, settle = async () => {} }) {
  const [a, b] = await Promise.all([register(api, "synca"), register(api, "syncb")]);
  const room = await createGroup(api, a, [b]);
  const a1 = await at(a, 0);
  const b1 = await at(b, 1);
  /** seq → what A's acks say the message is now. */
  const expected = new Map();
  let changes = 0;
  const sent = (m) => expected.set(m.seq, { id: m.id, body: m.body, deleted: false });
  const edit = async (m, body) => {
    const ack = await emitOk(a1, "message:edit", { room_id: room.id, message_id: m.id, body });
    assertMessage(ack.message, { id: m.id, seq: m.seq, body });
    assertRev(ack.message, `the edit ack's message (seq ${m.seq})`);
    assert.ok(ack.message.rev > 0, `an edited message has rev > 0, got ${ack.message.rev} (seq ${m.seq})`);
    expected.set(m.seq, { id: m.id, body, deleted: false });
    changes += 1;
    return ack.message;
  };
  const remove = async (m) => {
    await emitOk(a1, "message:delete", { room_id: room.id, message_id: m.id });
    expected.set(m.seq, { id: m.id, body: "", deleted: true });
    changes += 1;
  };

  // B is there: 150 messages, 3 of them edited while B watches.
  const before = await sendMany(a1, room.id, 150, { prefix: "before" });
  for (const m of before) {
    sent(m);
    assertRev(m, `the send ack's message (seq ${m.seq})`);
    assert.equal(m.rev, 0, `a new message has rev 0 (seq ${m.seq})`);
  }
  await settle();
  const watched = [];
  for (const i of [0, 1, 2]) watched.push(await edit(before[i], `edited while b watched ${i}`));
  for (let i = 1; i < watched.length; i++) {
    assert.ok(watched[i].rev > watched[i - 1].rev, `each edit raises the room's rev: ${watched.map((m) => m.rev)}`);
  }
  const updates = await waitForEvents(b1, "message:updated", 3, (m) => m?.room_id === room.id);
  for (const u of updates) {
    assertRev(u, "message:updated");
    const mine = watched.find((w) => w.id === u.id);
    assert.equal(u.rev, mine?.rev, `message:updated (seq ${u.seq}) carries the edit's rev`);
  }
  // What B holds when it goes: everything, by sync from nothing.
  const replica = new Replica(room.id);
  await replica.catchUp(b1);
  const lastBefore = Math.max(...before.map((m) => m.seq));
  assert.ok(replica.afterSeq >= lastBefore, `b holds up to seq ${lastBefore}, has ${replica.afterSeq}`);
  assert.equal(replica.afterRev, Math.max(...updates.map((u) => u.rev)), "the highest rev b has seen is that of the last edit");
  const away = { afterSeq: replica.afterSeq, afterRev: replica.afterRev };
  b1.disconnect();

  // B is away: 130 old messages edited, one edited a second time, 6 deleted (one after its
  // edit): 136 older messages changed, more than a page. Then 120 new messages, 3 of them changed.
  const edited = before.slice(3, 133);
  await pipelined(edited.length, 10, (k) => edit(edited[k], `edited while b was away ${k}`));
  await edit(before[1], "edited a second time while b was away");
  const deleted = [before[10], ...before.slice(139, 144)];
  for (const m of deleted) await remove(m);
  const during = await sendMany(a1, room.id, 120, { prefix: "while away" });
  for (const m of during) sent(m);
  await settle();
  await edit(during[9], "a new message, edited");
  await edit(during[114], "another new message, edited");
  await remove(during[49]);
  const oldChanged = new Set([...edited, before[1], ...deleted].map((m) => m.seq));
  assert.equal(oldChanged.size, 136, "the test changed 136 messages that b had");

  // B is back, on the other node, and catches up.
  const b2 = await at(b, 0);
  replica.afterSeq = away.afterSeq;
  replica.afterRev = away.afterRev;
  const last = await replica.catchUp(b2);
  const calls = replica.calls;
  t.diagnostic(
    `catch-up in ${calls.length} sync call(s): ` +
      calls.map(({ answer: x }) => `${x.messages.length} messages${x.has_more ? "+" : ""}, ${x.changed.length} changed${x.changed_more ? "+" : ""}`).join("; "),
  );
  const [first] = calls;
  assert.equal(first.answer.changed.length, SYNC_PAGE, `the first answer has a full page of ${SYNC_PAGE} changed (136 older messages changed)`);
  assert.equal(first.answer.changed_more, true, "the first answer says changed_more");
  assert.equal(first.answer.messages.length, SYNC_PAGE, `the first answer has a full page of ${SYNC_PAGE} new messages (120 sent)`);
  assert.equal(first.answer.has_more, true, "the first answer says has_more");
  assert.ok(calls.some((c, i) => i > 0 && c.sent.after_rev === first.answer.changed.at(-1).rev), "the next call's after_rev was the rev of the last changed one");
  const changedOld = new Set(calls.flatMap(({ answer: x }) => x.changed.filter((m) => m.seq <= away.afterSeq).map((m) => m.seq)));
  const notReported = [...oldChanged].filter((s) => !changedOld.has(s));
  const unchangedReported = [...changedOld].filter((s) => !oldChanged.has(s));
  assert.deepEqual(
    { notReported: notReported.slice(0, 10), unchangedReported: unchangedReported.slice(0, 10) },
    { notReported: [], unchangedReported: [] },
    `changed holds exactly the ${oldChanged.size} older messages changed while b was away (${notReported.length} missing, ${unchangedReported.length} that b already had current)`,
  );

  // B's copy is the history, field by field; and what A's acks say.
  const history = await fullHistory(api, a, room.id);
  assertSameAsHistory(replica, history, "b after sync");
  const off = [];
  for (const [seq, want] of expected) {
    const m = replica.bySeq.get(seq);
    if (!m || m.id !== want.id || m.body !== want.body || m.deleted !== want.deleted) off.push({ seq, want, got: m && { id: m.id, body: m.body, deleted: m.deleted } });
  }
  assert.deepEqual(off.slice(0, 5), [], `b's copy has every edit and delete that was acked (${off.length} off)`);

  // Every message has its rev: 0 when never changed, above 0 when changed; distinct per change.
  const changedSeqs = new Set([...oldChanged, ...watched.map((m) => m.seq), during[9].seq, during[114].seq, during[49].seq]);
  for (const m of history) {
    assertRev(m, `history seq ${m.seq}`);
    if (changedSeqs.has(m.seq)) assert.ok(m.rev > 0, `seq ${m.seq} was ${m.deleted ? "deleted" : "edited"}: rev > 0, got ${m.rev}`);
    else if (expected.has(m.seq)) assert.equal(m.rev, 0, `seq ${m.seq} never changed: rev 0`);
    if (m.deleted) assert.ok(m.rev > 0, `a deleted message has rev > 0 (seq ${m.seq}, rev ${m.rev})`);
  }
  const revs = history.filter((m) => m.rev > 0).map((m) => m.rev);
  assert.equal(new Set(revs).size, revs.length, "no two changed messages share a rev (each change raised the room's rev)");

  // The answer's rev is the room's rev: that of its last change.
  const view = await apiOk(api, "GET", `/api/rooms/${room.id}`, 200, { token: b });
  assertRev(view, "GET /api/rooms/{id}");
  assert.equal(last.rev, view.rev, "the sync answer's rev is the room's rev");
  assert.equal(last.rev, Math.max(...revs), "the room's rev is the rev of its last changed message");
  assert.ok(last.rev >= changes, `the room's rev (${last.rev}) was raised by every one of the ${changes} changes`);
  assert.equal(replica.afterRev, last.rev, "b's cursor ends at the room's rev");

  // Once caught up, sync has nothing more.
  const again = await syncOnce(b2, replica.cursor);
  assert.deepEqual(
    { messages: again.messages.length, changed: again.changed.length, has_more: again.has_more, changed_more: again.changed_more, rev: again.rev },
    { messages: 0, changed: 0, has_more: false, changed_more: false, rev: last.rev },
    "a sync at the caught-up cursor has nothing",
  );
}

/** `n` sends emitted back to back on one socket, none awaited: all ok, seqs in emit order. */
export async function pipelinedSendOrder(t, { api, at }, n = 1000) {
  const [a, b] = await Promise.all([register(api, "pipe"), register(api, "pipe")]);
  const room = await createGroup(api, a, [b]);
  const a1 = await at(a, 0);
  const t0 = Date.now();
  // Each emitAck emits synchronously when called, so the emit order is the loop's order.
  const pending = [];
  for (let i = 0; i < n; i++) {
    pending.push(
      emitAck(a1, "message:send", { room_id: room.id, client_id: cid("pipe"), body: `pipelined ${i}` }, 60_000).catch((err) => ({ noAck: err.message })),
    );
  }
  const acks = await Promise.all(pending);
  t.diagnostic(`${n} pipelined sends acked in ${Date.now() - t0} ms`);
  const failed = acks.map((ack, i) => [i, ack]).filter(([, ack]) => !ack?.ok);
  assert.deepEqual(failed.slice(0, 5), [], `every pipelined send is acked ok (${failed.length} of ${n} not)`);
  const got = acks.map((ack) => ack.message.seq);
  const outOfOrder = got.findIndex((s, i) => i > 0 && s <= got[i - 1]);
  assert.equal(
    outOfOrder,
    -1,
    `seqs strictly increase in emit order; send #${outOfOrder} got seq ${got[outOfOrder]} after #${outOfOrder - 1}'s ${got[outOfOrder - 1]} ` +
      `(around it: ${brief(got.slice(Math.max(0, outOfOrder - 5), outOfOrder + 5))})`,
  );
  assertContiguous(got, "the pipelined sends' seqs (nobody else sent)");
  acks.forEach((ack, i) => assert.equal(ack.message.body, `pipelined ${i}`, `send #${i}'s ack carries its own message`));
  // The room's history has them in the same order.
  const bodies = (await fullHistory(api, b, room.id)).map((m) => m.body).filter((x) => x.startsWith("pipelined "));
  const firstWrong = bodies.findIndex((x, i) => x !== `pipelined ${i}`);
  assert.equal(firstWrong, -1, `the history has the ${n} messages in emit order (first out of place at ${firstWrong}: "${bodies[firstWrong]}")`);
  assert.equal(bodies.length, n, "the history has each once");
}

/** GET /api/rooms/{id}/reads: every member's read pointer after `read` events; 404 for others. */
export async function readsOfEveryMember(t, { api, at }) {
  const [a, b, c, outsider] = await Promise.all(["reada", "readb", "readc", "readx"].map((p) => register(api, p)));
  const room = await createGroup(api, a, [b, c]);
  const [a1, b1, c1] = await Promise.all([at(a, 0), at(b, 1), at(c, 0)]);
  const msgs = [];
  for (let i = 0; i < 5; i++) msgs.push(await send(a1, room.id, `read me ${i}`));
  await emitOk(b1, "read", { room_id: room.id, seq: msgs[2].seq });
  await emitOk(b1, "read", { room_id: room.id, seq: msgs[1].seq }); // lower: ignored
  await emitOk(c1, "read", { room_id: room.id, seq: msgs[4].seq });
  await waitForEvent(a1, "read", (x) => x?.room_id === room.id && x.user_id === c.id);

  const path = `/api/rooms/${encodeURIComponent(room.id)}/reads`;
  const own = await apiOk(api, "GET", `/api/rooms/${room.id}`, 200, { token: a });
  const want = [
    { user_id: a.id, seq: own.last_read_seq },
    { user_id: b.id, seq: msgs[2].seq },
    { user_id: c.id, seq: msgs[4].seq },
  ].sort((x, y) => x.user_id.localeCompare(y.user_id));
  const byUser = (body) =>
    (body?.reads ?? []).map((r) => ({ user_id: r?.user_id, seq: r?.seq })).sort((x, y) => String(x.user_id).localeCompare(String(y.user_id)));
  // The pointers may reach the store a moment after the ack (the distributed mode's writer):
  // a 200 with other pointers is retried for a while, anything else fails at once.
  for (const viewer of [a, b, c]) {
    let res;
    await eventually(async () => {
      res = await call(api, "GET", path, { token: viewer });
      return res.status !== 200 || JSON.stringify(byUser(res.body)) === JSON.stringify(want);
    }, 10_000, `GET ${path} as ${viewer.username}`).catch(() => {});
    assert.equal(res.status, 200, `GET ${path} as a member: ${brief(res.body)}`);
    assert.ok(Array.isArray(res.body?.reads), `{reads: [...]}, got ${brief(res.body)}`);
    assert.deepEqual(byUser(res.body), want, `GET ${path} as ${viewer.username}: every member's read pointer`);
  }
  assertHttpError(await call(api, "GET", path, { token: outsider }), 404, "not_found", `GET ${path} as a non-member`);
}

/** Waits for `room:updated` of `roomId` with exactly `members` on every socket of `sockets`. */
async function roomUpdated(sockets, roomId, members, ms = 5000) {
  const same = (r) => r?.id === roomId && Array.isArray(r.members) && [...r.members].sort().join() === [...members].sort().join();
  return Promise.all(
    Object.entries(sockets).map(async ([name, s]) => {
      const info = await waitForEvent(s, "room:updated", same, ms).catch((err) => {
        throw new Error(`${name} got no room:updated with members ${brief(members)}: ${err.message}`);
      });
      assertRoomInfo(info, { id: roomId, members });
      return info;
    }),
  );
}

/** `room:updated` (a RoomInfo) reaches every member's sockets when a member is added, leaves, is removed. */
export async function roomUpdatedToMembers(t, { api, at }) {
  const [a, b, c] = await Promise.all(["upa", "upb", "upc"].map((p) => register(api, p)));
  const room = await createGroup(api, a, [b], `updates ${cid("r")}`);
  const [a1, a2, b1, b2, c1] = await Promise.all([at(a, 0), at(a, 1), at(b, 1), at(b, 0), at(c, 0)]);

  await apiOk(api, "POST", `/api/rooms/${room.id}/members`, 204, { token: a, body: { user_id: c.id } });
  await roomUpdated({ "a's first socket": a1, "a's second socket": a2, "b's first socket": b1, "b's second socket": b2 }, room.id, [a.id, b.id, c.id]);
  await waitForEvent(c1, "room:added", (r) => r?.id === room.id);

  await apiOk(api, "DELETE", `/api/rooms/${room.id}/members/${b.id}`, 204, { token: b });
  await roomUpdated({ "a's first socket": a1, "a's second socket": a2, "c's socket": c1 }, room.id, [a.id, c.id]);
  await waitForEvent(b1, "room:removed", (r) => r?.room_id === room.id);

  await apiOk(api, "DELETE", `/api/rooms/${room.id}/members/${c.id}`, 204, { token: a });
  await roomUpdated({ "a's first socket": a1, "a's second socket": a2 }, room.id, [a.id]);
  await waitForEvent(c1, "room:removed", (r) => r?.room_id === room.id);
  await sleep(200);
  for (const s of [b1, b2]) {
    const later = received(s, "room:updated", (r) => r?.id === room.id && r.members?.length === 1);
    assert.equal(later.length, 0, `b, who left, hears nothing of the room's later changes: ${brief(later)}`);
  }
}

/** After `typing: true`, a message from the typist ends the typing at once for the others. */
export async function typingStopsOnSend(t, { api, at }) {
  const [a, b] = await Promise.all([register(api, "typa"), register(api, "typb")]);
  const room = await createGroup(api, a, [b]);
  const [a1, b1] = await Promise.all([at(a, 0), at(b, 1)]);
  a1.emit("typing", { room_id: room.id, typing: true });
  await waitForEvent(b1, "typing", (x) => x?.user_id === a.id && x.typing === true);
  const sentAt = Date.now();
  const msg = await send(a1, room.id, "done typing");
  const isOff = (x) => x?.room_id === room.id && x.user_id === a.id && x.typing === false;
  const off = await waitForEvent(b1, "typing", isOff, 3000).catch((err) => {
    throw new Error(`b got no typing {user_id: a, typing: false} after a's message: ${err.message}`);
  });
  assert.deepEqual(off, { room_id: room.id, user_id: a.id, typing: false });
  const offAt = b1.events.find((e) => e.event === "typing" && isOff(e.args[0])).at;
  t.diagnostic(`typing:false reached b ${offAt - sentAt} ms after the send was emitted`);
  assert.ok(offAt - sentAt < 1000, `typing:false reaches b promptly after the message (${offAt - sentAt} ms; bound 1000 ms)`);
  await waitForEvent(b1, "message", (m) => m?.id === msg.id);
}

/** A `typing: false` right after more `typing: true` than the typing rate allows still arrives. */
export async function typingFalseAfterFlood(t, { api, at }, flood = 20) {
  const [a, b] = await Promise.all([register(api, "flooda"), register(api, "floodb")]);
  const room = await createGroup(api, a, [b]);
  const [a1, b1] = await Promise.all([at(a, 0), at(b, 1)]);
  for (let i = 0; i < flood; i++) a1.emit("typing", { room_id: room.id, typing: true });
  a1.emit("typing", { room_id: room.id, typing: false });
  const isOff = (x) => x?.room_id === room.id && x.user_id === a.id && x.typing === false;
  await waitForEvent(b1, "typing", isOff, 3000).catch((err) => {
    throw new Error(`the typing:false after ${flood} typing:true (over the typing rate) was not delivered: ${err.message}`);
  });
  await sleep(300);
  const seen = received(b1, "typing", (x) => x?.user_id === a.id);
  assert.equal(
    seen.at(-1)?.typing,
    false,
    `the last typing b saw from a is the typing:false a sent last (else b shows a typing forever); b saw, in order: ${brief(seen.map((x) => x.typing))}` +
      (seen.some((x) => !x.typing) ? " (the false overtook typing:true events emitted before it)" : ""),
  );
  const trues = seen.filter((x) => x.typing).length;
  assert.ok(trues < flood, `the typing rate still drops some of the ${flood} typing:true (${trues} arrived)`);
}
