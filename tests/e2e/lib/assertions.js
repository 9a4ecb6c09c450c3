// Shape checks of the contract's objects (docs/protocol.md).

import assert from "node:assert/strict";

const TIME = /^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}\.\d{3}(Z|\+00:00)$/;

export function assertTime(value, what) {
  assert.equal(typeof value, "string", `${what} is a string`);
  assert.match(value, TIME, `${what} is RFC 3339 UTC with milliseconds`);
}

/** A `Message`, optionally matching `expect` field by field. */
export function assertMessage(m, expect = {}) {
  assert.equal(typeof m, "object", `a Message object, got ${JSON.stringify(m)}`);
  assert.ok(m, "a Message object");
  assert.equal(typeof m.id, "string", "message.id is a string");
  assert.ok(m.id.length > 0, "message.id is not empty");
  assert.equal(typeof m.room_id, "string", "message.room_id");
  assert.ok(Number.isInteger(m.seq) && m.seq >= 1, `message.seq is a positive integer, got ${m.seq}`);
  assert.equal(typeof m.sender_id, "string", "message.sender_id");
  assert.equal(typeof m.client_id, "string", "message.client_id");
  assert.equal(typeof m.body, "string", "message.body");
  assert.ok(Array.isArray(m.attachments), "message.attachments is an array");
  assert.ok(m.reply_to === null || typeof m.reply_to === "string", "message.reply_to is null or an id");
  assertTime(m.created_at, "message.created_at");
  assert.ok(m.edited_at === null || TIME.test(m.edited_at), `message.edited_at is null or a time, got ${m.edited_at}`);
  assert.equal(typeof m.deleted, "boolean", "message.deleted is a boolean");
  assert.ok(Array.isArray(m.reactions), `message.reactions is an array, got ${JSON.stringify(m.reactions)}`);
  for (const r of m.reactions) {
    assert.equal(typeof r.emoji, "string", `reaction.emoji, in ${JSON.stringify(r)}`);
    assert.ok(Array.isArray(r.user_ids) && r.user_ids.length > 0, `reaction.user_ids, in ${JSON.stringify(r)}`);
    assert.equal(r.count, r.user_ids.length, `reaction.count is the number of its users, in ${JSON.stringify(r)}`);
  }
  if (m.deleted) assert.deepEqual(m.reactions, [], "a deleted message has no reactions");
  for (const [k, v] of Object.entries(expect)) {
    assert.deepEqual(m[k], v, `message.${k}`);
  }
}

/** The fields a `Room` and a `RoomInfo` share. */
function assertRoomShape(r, what) {
  assert.equal(typeof r, "object", `a ${what} object, got ${JSON.stringify(r)}`);
  assert.ok(r, `a ${what} object`);
  assert.equal(typeof r.id, "string", `${what}.id`);
  assert.ok(["direct", "group"].includes(r.kind), `${what}.kind, got ${r.kind}`);
  assert.equal(typeof r.name, "string", `${what}.name`);
  assert.equal(typeof r.created_by, "string", `${what}.created_by`);
  assertTime(r.created_at, `${what}.created_at`);
  assert.ok(Array.isArray(r.members), `${what}.members is an array`);
  assert.ok(Number.isInteger(r.last_seq) && r.last_seq >= 0, `${what}.last_seq is a non-negative integer, got ${r.last_seq}`);
}

/** A room's fields match `expect` (members as a set). */
function assertRoomFields(r, expect, what) {
  for (const [k, v] of Object.entries(expect)) {
    if (k === "members") {
      assert.deepEqual([...r.members].sort(), [...v].sort(), `${what}.members`);
    } else {
      assert.deepEqual(r[k], v, `${what}.${k}`);
    }
  }
}

/** A `Room`, optionally matching `expect` field by field. */
export function assertRoom(r, expect = {}) {
  assertRoomShape(r, "room");
  for (const k of ["last_read_seq", "unread", "unread_mentions"]) {
    assert.ok(Number.isInteger(r[k]) && r[k] >= 0, `room.${k} is a non-negative integer, got ${r[k]}`);
  }
  assert.ok(r.unread_mentions <= r.unread, `room.unread_mentions (${r.unread_mentions}) counts unread messages (${r.unread})`);
  assert.ok(["all", "mentions", "none"].includes(r.notifications?.level), `room.notifications.level, got ${JSON.stringify(r.notifications)}`);
  assert.ok(r.notifications.muted_until === null || TIME.test(r.notifications.muted_until), `room.notifications.muted_until, got ${r.notifications.muted_until}`);
  assertRoomFields(r, expect, "room");
}

/** The caller's own fields of a `Room`, which a `RoomInfo` does not have (docs/protocol.md). */
export const CALLER_ROOM_FIELDS = ["last_read_seq", "unread", "unread_mentions", "notifications"];

/**
 * A `RoomInfo` (`room:updated`): a `Room` without the caller's fields, with the room's
 * `rev`; optionally matching `expect` field by field.
 */
export function assertRoomInfo(r, expect = {}) {
  assertRoomShape(r, "RoomInfo");
  assertRev(r, "RoomInfo");
  const callers = CALLER_ROOM_FIELDS.filter((k) => k in r);
  assert.deepEqual(callers, [], `a RoomInfo carries none of the caller's fields: ${JSON.stringify(r)}`);
  assertRoomFields(r, expect, "RoomInfo");
}

/** `x.rev` (of a Message, a Room or a sync answer) is a non-negative integer. */
export function assertRev(x, what = "message") {
  assert.ok(
    Number.isInteger(x?.rev) && x.rev >= 0,
    `${what}.rev is a non-negative integer, got ${JSON.stringify(x?.rev)} in ${JSON.stringify(x)?.slice(0, 300)}`,
  );
}

/** An HTTP error body `{error: {code, message}}` with the given status and code. */
export function assertHttpError(res, status, code, what = "") {
  assert.equal(res.status, status, `${what} status, body ${JSON.stringify(res.body)}`);
  assert.equal(res.body?.error?.code, code, `${what} error.code, body ${JSON.stringify(res.body)}`);
  assert.equal(typeof res.body.error.message, "string", `${what} error.message`);
}

/** `arr` is strictly ascending by 1 (contiguous) — returns nothing, asserts. */
export function assertContiguous(nums, what = "seqs") {
  for (let i = 1; i < nums.length; i++) {
    if (nums[i] !== nums[i - 1] + 1) {
      assert.fail(`${what} not contiguous at index ${i}: ${nums[i - 1]} then ${nums[i]} (${JSON.stringify(nums.slice(Math.max(0, i - 5), i + 5))})`);
    }
  }
}
