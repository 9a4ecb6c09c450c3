// Reactions, replies, threads, mentions and search (docs/protocol.md), as scenarios that test/sync.test.js (standalone)
// and test/sync-local-cluster.test.js (two socket nodes behind NGINX) both run. A scenario gets
// the `mode` of lib/sync.js: {api, at(user, node), settle?()}.
//
//  - reactionsFromBothNodes: twelve members on two nodes react to one message at the same
//    moment, twice each: every reaction counts exactly once, every member's sockets see the
//    final counts, and a member who was away gets them in `sync`'s `changed`
//  - retriedReaction: a reaction:add sent again (same payload, another node) is answered with
//    the same message, raises no `rev` and broadcasts nothing; a remove retried neither
//  - replyPreviews: a reply answered at once (on the other node) shows the original; after the
//    original is edited, then deleted, `sync` and history show the reply with the original's
//    current state while only the original is in `changed`
//  - threadFromBothNodes: six members on two nodes reply in one thread at once: every reply has
//    its own room `seq`, the root's summary counts all of them exactly, and the thread API
//    (through either node) returns them in order
//  - mentionsAndNotifications: `mentions` / `mentions_room` computed by the server (also on
//    edit, whatever the client sends), `unread_mentions` in the caller's rooms, and
//    `PUT /api/rooms/{id}/notifications` with its refusals
//  - searchAcrossNodes: messages sent on both nodes are found by each member in their own rooms
//    (word starts without case and accents, runs inside runs, every word), in pages; an edit
//    by its new text, a deleted message and a room left no more; the refusals

import assert from "node:assert/strict";
import { api as call, apiOk, cid, createGroup, emitAck, emitOk, eventually, fullHistory, received, register, send, sleep, waitForEvent } from "./client.js";
import { assertHttpError, assertMessage, assertRoom } from "./assertions.js";
import { syncOnce } from "./sync.js";

const brief = (x, n = 300) => JSON.stringify(x)?.slice(0, n);

/** `{emoji: sorted user ids}` of a message's reactions. */
function byEmoji(message) {
  return Object.fromEntries(message.reactions.map((r) => [r.emoji, [...r.user_ids].sort()]));
}

/** The newest state of `messageId` a socket got as `message:updated` (highest rev). */
function lastUpdate(socket, messageId) {
  const updates = received(socket, "message:updated", (m) => m?.id === messageId);
  return updates.reduce((best, m) => (!best || m.rev > best.rev ? m : best), null);
}

export async function reactionsFromBothNodes(t, { api, at }) {
  const owner = await register(api, "reactown");
  const fans = await Promise.all(Array.from({ length: 12 }, (_, i) => register(api, `fan${i}`)));
  const away = await register(api, "reactaway");
  const room = await createGroup(api, owner, [...fans, away]);
  const ownerSocket = await at(owner, 0);
  const sockets = await Promise.all(fans.map((u, i) => at(u, i % 2)));
  const message = await send(ownerSocket, room.id, "who is in?");
  const awaySocket = await at(away, 1);
  const cursor = { room_id: room.id, after_seq: message.seq, after_rev: (await syncOnce(awaySocket, { room_id: room.id, after_seq: message.seq })).rev };
  awaySocket.disconnect();

  // Everyone at once: 👍 from all, then 🎉 from the even ones and ❤️ from the odd ones.
  const acks = await Promise.all(
    sockets.map(async (s, i) => {
      const first = await emitAck(s, "reaction:add", { room_id: room.id, message_id: message.id, emoji: "👍" });
      const second = await emitAck(s, "reaction:add", { room_id: room.id, message_id: message.id, emoji: i % 2 ? "❤️" : "🎉" });
      return [first, second];
    }),
  );
  for (const ack of acks.flat()) {
    assert.equal(ack?.ok, true, `every reaction is acked ok: ${brief(ack)}`);
    assertMessage(ack.message, { id: message.id, seq: message.seq, body: message.body });
  }
  const ids = (pred) => fans.filter((_, i) => pred(i)).map((u) => u.id).sort();
  const expected = { "👍": ids(() => true), "🎉": ids((i) => i % 2 === 0), "❤️": ids((i) => i % 2 === 1) };
  const revs = acks.flat().map((a) => a.message.rev);
  assert.equal(new Set(revs).size, revs.length, `each reaction took its own rev: ${revs.sort((x, y) => x - y).join(",")}`);
  const finalRev = Math.max(...revs);

  // Every member's socket, on either node, ends at the final state.
  for (const [name, s] of [["the owner", ownerSocket], ...sockets.map((s, i) => [`fan ${i} on node ${i % 2}`, s])]) {
    await eventually(() => lastUpdate(s, message.id)?.rev === finalRev, 10_000, `${name} gets message:updated up to rev ${finalRev}`);
    assert.deepEqual(byEmoji(lastUpdate(s, message.id)), expected, `${name} sees every reaction once`);
  }

  // The member who was away gets the final state in one sync, as a change.
  const back = await at(away, 0);
  const answer = await syncOnce(back, cursor);
  assert.equal(answer.messages.length, 0, "no new message");
  const changed = answer.changed.filter((m) => m.id === message.id);
  assert.equal(changed.length, 1, `the message is in changed once: ${brief(answer.changed)}`);
  assert.equal(changed[0].rev, finalRev);
  assert.deepEqual(byEmoji(changed[0]), expected, "sync has every reaction");
  assert.equal(answer.rev, finalRev, "the room's rev is the last reaction's");
  t.diagnostic(`${revs.length} concurrent reactions from 12 members on 2 nodes: all counted, revs ${Math.min(...revs)}..${finalRev}`);
}

export async function retriedReaction(t, { api, at }) {
  const [a, b] = await Promise.all([register(api, "retrya"), register(api, "retryb")]);
  const room = await createGroup(api, a, [b]);
  const [a0, a1, b1] = await Promise.all([at(a, 0), at(a, 1), at(b, 1)]);
  const message = await send(a0, room.id, "retry me");
  const payload = { room_id: room.id, message_id: message.id, emoji: ":+1:" };

  const first = await emitOk(a0, "reaction:add", payload);
  await waitForEvent(b1, "message:updated", (m) => m?.id === message.id && m.rev === first.message.rev);
  // The client saw no ack (say) and sends it again, on its other socket.
  const again = await emitOk(a1, "reaction:add", payload);
  assert.deepEqual(again.message, first.message, "the retry is answered with the same message");
  assert.deepEqual(byEmoji(again.message), { ":+1:": [a.id] }, "one reaction");

  const removed = await emitOk(a0, "reaction:remove", payload);
  assert.deepEqual(removed.message.reactions, []);
  const removedAgain = await emitOk(a1, "reaction:remove", payload);
  assert.deepEqual(removedAgain.message, removed.message, "a retried remove changes nothing");
  await sleep(300);
  const updates = received(b1, "message:updated", (m) => m?.id === message.id);
  assert.deepEqual(
    updates.map((m) => m.rev),
    [first.message.rev, removed.message.rev],
    "the other member saw two changes: the add and the remove, not the retries",
  );
  const synced = await syncOnce(b1, { room_id: room.id, after_seq: 0 });
  assert.deepEqual(synced.messages.find((m) => m.id === message.id)?.reactions, [], "sync agrees");
  assert.equal(synced.rev, removed.message.rev, "no rev for the retries");
}

export async function replyPreviews(t, { api, at, settle }) {
  const [a, b] = await Promise.all([register(api, "quotea"), register(api, "quoteb")]);
  const room = await createGroup(api, a, [b]);
  const [a0, b1] = await Promise.all([at(a, 0), at(b, 1)]);
  const original = await send(a0, room.id, "Shall we meet at noon?");
  assert.equal(original.reply_preview, null, "a message that answers none has no preview");
  // At once, on the other node: the writer may not have stored the original yet.
  const { message: reply } = await emitOk(b1, "message:send", { room_id: room.id, client_id: cid("re"), body: "Noon is fine", reply_to: original.id });
  assertMessage(reply, { reply_to: original.id });
  assert.deepEqual(reply.reply_preview, { message_id: original.id, sender_id: a.id, body: "Shall we meet at noon?", deleted: false });
  const live = await waitForEvent(a0, "message", (m) => m?.id === reply.id);
  assert.deepEqual(live.reply_preview, reply.reply_preview, "the room sees the same preview");

  const { message: edited } = await emitOk(a0, "message:edit", { room_id: room.id, message_id: original.id, body: "Shall we meet at one?" });
  await settle?.();
  const cursor = { room_id: room.id, after_seq: reply.seq, after_rev: 0 };
  const afterEdit = await syncOnce(b1, cursor);
  assert.deepEqual(afterEdit.changed.map((m) => m.id), [original.id], "only the original changed");
  assert.equal(afterEdit.changed[0].body, edited.body);
  const history = await fullHistory(api, b, room.id);
  const served = history.find((m) => m.id === reply.id);
  assert.equal(served.rev, 0, "the reply itself never changed");
  assert.equal(served.reply_preview.body, "Shall we meet at one?", "history shows the original as it is now");

  await emitOk(a0, "message:delete", { room_id: room.id, message_id: original.id });
  await settle?.();
  const all = await syncOnce(b1, { room_id: room.id, after_seq: 0 });
  assert.deepEqual(all.messages.find((m) => m.id === reply.id)?.reply_preview, { message_id: original.id, sender_id: a.id, body: "", deleted: true });
}

export async function mentionsAndNotifications(t, { api, at, settle }) {
  const [a, b, c, outsider] = await Promise.all(["menta", "mentb", "mentc", "mentd"].map((p) => register(api, p)));
  const room = await createGroup(api, a, [b, c]);
  const [a0, b1] = await Promise.all([at(a, 0), at(b, 1)]);

  const body = `@${b.username.toUpperCase()} and @${c.username}, not @${outsider.username}; @room.`;
  const { message: m } = await emitOk(a0, "message:send", { room_id: room.id, client_id: cid("m"), body, mentions: [outsider.id], mentions_room: false });
  assertMessage(m, { mentions: [b.id, c.id], mentions_room: true });
  const live = await waitForEvent(b1, "message", (x) => x?.id === m.id);
  assert.deepEqual([live.mentions, live.mentions_room], [[b.id, c.id], true], "members get the server's mentions");
  const { message: fromMember } = await emitOk(b1, "message:send", { room_id: room.id, client_id: cid("m"), body: `@room @${a.username}` });
  assertMessage(fromMember, { mentions: [a.id], mentions_room: false });
  const { message: edited } = await emitOk(a0, "message:edit", { room_id: room.id, message_id: m.id, body: `only @${c.username}` });
  assertMessage(edited, { mentions: [c.id], mentions_room: false });
  await settle?.();

  const roomOf = async (user) => {
    const { rooms } = await apiOk(api, "GET", "/api/rooms", 200, { token: user });
    const r = rooms.find((x) => x.id === room.id);
    assertRoom(r);
    return r;
  };
  assert.equal((await roomOf(c)).unread_mentions, 1, "c: the edited message mentions her");
  assert.equal((await roomOf(b)).unread_mentions, 0, "b: no longer mentioned, and her own message does not count");
  assert.equal((await roomOf(a)).unread_mentions, 1, "a: b's message names her");
  await emitOk(b1, "read", { room_id: room.id, seq: fromMember.seq });

  // Notifications: the caller's own, shown in their rooms.
  const path = `/api/rooms/${room.id}/notifications`;
  assert.deepEqual((await roomOf(b)).notifications, { level: "all", muted_until: null });
  const muted = new Date(Date.now() + 3_600_000).toISOString();
  const set = await apiOk(api, "PUT", path, 200, { token: b, body: { level: "all", muted_until: muted } });
  assert.deepEqual(set, { notifications: { level: "all", muted_until: muted } });
  await apiOk(api, "PUT", path, 200, { token: c, body: { level: "mentions" } });
  assert.deepEqual((await roomOf(b)).notifications, { level: "all", muted_until: muted });
  assert.deepEqual((await roomOf(c)).notifications, { level: "mentions", muted_until: null });
  for (const bad of [{ level: "loud" }, { level: "all", muted_until: "soon" }, {}, ["none"]]) {
    assertHttpError(await call(api, "PUT", path, { token: b, body: bad }), 400, "invalid_request");
  }
  assertHttpError(await call(api, "PUT", path, { token: outsider, body: { level: "none" } }), 404, "not_found");
  assertHttpError(await call(api, "PUT", path, { body: { level: "none" } }), 401, "unauthorized");
}

export async function threadFromBothNodes(t, { api, at, settle }) {
  const owner = await register(api, "threadown");
  const members = await Promise.all(Array.from({ length: 6 }, (_, i) => register(api, `thr${i}`)));
  const room = await createGroup(api, owner, members);
  const o0 = await at(owner, 0);
  const sockets = await Promise.all(members.map((u, i) => at(u, i % 2)));
  const root = await send(o0, room.id, "Ideas for the trip?");
  assert.equal(root.thread, null);

  const acks = await Promise.all(
    sockets.map(async (s, i) => {
      const out = [];
      for (let k = 0; k < 2; k++) {
        out.push(await emitOk(s, "message:send", { room_id: room.id, client_id: cid("thr"), body: `idea ${i}.${k}`, thread_id: root.id }));
      }
      return out;
    }),
  );
  const replies = acks.flat().map((a) => a.message);
  for (const r of replies) assertMessage(r, { thread_id: root.id });
  const replySeqs = replies.map((r) => r.seq).sort((x, y) => x - y);
  assert.deepEqual(replySeqs, Array.from({ length: 12 }, (_, i) => root.seq + 1 + i), "each reply took the room's next seq");

  // Everyone's view of the root ends with all twelve counted.
  const summaryOf = (s) => received(s, "message:updated", (m) => m?.id === root.id).reduce((best, m) => (!best || m.rev > best.rev ? m : best), null)?.thread;
  for (const [name, s] of [["the owner", o0], ...sockets.map((s, i) => [`member ${i}`, s])]) {
    await eventually(() => summaryOf(s)?.reply_count === 12, 10_000, `${name} sees the root with 12 replies`);
  }
  const summary = summaryOf(o0);
  assert.equal(new Set(summary.participant_ids).size, 6, `six participants: ${JSON.stringify(summary.participant_ids)}`);
  assert.ok(summary.participant_ids.every((id) => members.some((m) => m.id === id)));

  await settle?.();
  const thread = await apiOk(api, "GET", `/api/rooms/${room.id}/threads/${root.id}`, 200, { token: members[3] });
  assert.equal(thread.root.id, root.id);
  assert.equal(thread.root.thread.reply_count, 12);
  assert.deepEqual(thread.messages.map((m) => m.seq), replySeqs, "the thread's replies in seq order");
  assert.equal(thread.has_more, false);
  t.diagnostic(`12 replies from 6 members on 2 nodes at once: seqs ${replySeqs[0]}..${replySeqs.at(-1)}, root rev ${thread.root.rev}`);
}

/** The bodies `user` finds for `q` (extra query parameters in `params`), newest first, and `next`. */
async function searchAs(api, user, q, params = {}) {
  const qs = new URLSearchParams({ q, ...params }).toString();
  const page = await apiOk(api, "GET", `/api/search/messages?${qs}`, 200, { token: user });
  for (const m of page.messages) assertMessage(m);
  return { bodies: page.messages.map((m) => m.body), next: page.next };
}

/** Waits until `user`'s search for `q` finds exactly `expected` (the index may trail the events). */
async function searchFinds(api, user, q, expected, what) {
  let last;
  await eventually(async () => {
    last = (await searchAs(api, user, q)).bodies;
    return JSON.stringify(last) === JSON.stringify(expected);
  }, 15_000, `${what}: expected ${brief(expected)}, last found ${brief(last)}`);
}

export async function searchAcrossNodes(t, { api, at }) {
  const [a, b, c] = await Promise.all(["srcha", "srchb", "srchc"].map((p) => register(api, p)));
  const ours = await createGroup(api, a, [b]);
  const theirs = await createGroup(api, a, [c]);
  const [a0, b1, c0] = await Promise.all([at(a, 0), at(b, 1), at(c, 0)]);
  const cafe = await send(a0, ours.id, "Café crème on Friday");
  await send(a0, ours.id, "東京タワーへ行く");
  const cafeteria = await send(b1, ours.id, "the cafeteria is closed");
  await send(c0, theirs.id, "café for the three of us");

  // Each member finds the messages of their own rooms only, newest first, by word starts.
  await searchFinds(api, b, "caf", ["the cafeteria is closed", "Café crème on Friday"], "b finds both of the room's");
  await searchFinds(api, c, "CAFÉ", ["café for the three of us"], "c finds only her room's");
  await searchFinds(api, a, "caf", ["café for the three of us", "the cafeteria is closed", "Café crème on Friday"], "a finds all three");
  await searchFinds(api, b, "京タ", ["東京タワーへ行く"], "a run inside a run");
  await searchFinds(api, b, "fri CRÈ", ["Café crème on Friday"], "every word, any order");
  assert.deepEqual((await searchAs(api, b, "afe")).bodies, [], "a word matches from its start only");

  // Pages of one, through `next`.
  const first = await searchAs(api, a, "caf", { limit: "2" });
  assert.equal(first.bodies.length, 2);
  assert.ok(first.next, "a second page");
  const second = await searchAs(api, a, "caf", { limit: "2", before: first.next });
  assert.deepEqual([...first.bodies, ...second.bodies], ["café for the three of us", "the cafeteria is closed", "Café crème on Friday"]);
  assert.equal(second.next, null, "no third page");

  // An edit is found by its new text, a deleted message not at all.
  await emitOk(a0, "message:edit", { room_id: ours.id, message_id: cafe.id, body: "Tea at noon on Friday" });
  await emitOk(b1, "message:delete", { room_id: ours.id, message_id: cafeteria.id });
  await searchFinds(api, b, "caf", [], "the edited and the deleted message are no longer found");
  await searchFinds(api, b, "noon", ["Tea at noon on Friday"], "the edit's new text");

  // A member who left no longer finds the room's messages.
  await apiOk(api, "DELETE", `/api/rooms/${ours.id}/members/${b.id}`, 204, { token: b });
  assert.deepEqual((await searchAs(api, b, "noon")).bodies, [], "left: nothing found");
  assert.deepEqual((await searchAs(api, a, "noon")).bodies, ["Tea at noon on Friday"]);

  // Refusals in the contract's error shape.
  for (const query of ["", "q=%21%21", `q=a&limit=51`, "q=a&before=x"]) {
    const res = await call(api, "GET", `/api/search/messages?${query}`, { token: a });
    assertHttpError(res, 400, "invalid_request");
  }
  const outsider = await call(api, "GET", `/api/search/messages?q=caf&room_id=${theirs.id}`, { token: b });
  assertHttpError(outsider, 404, "not_found");
}
