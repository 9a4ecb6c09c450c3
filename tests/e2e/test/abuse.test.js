// Bad input and abuse, with a well-behaved pair chatting on the same server throughout; the
// server must be alive and panic-free at the end. Acceptance item 8. Default limits.

import assert from "node:assert/strict";
import { assertHealthy, ChatServer, serverTest, sleep, useServer } from "../lib/server.js";
import {
  api,
  cid,
  connect,
  connectFails,
  createGroup,
  emitAck,
  emitErr,
  emitOk,
  fullHistory,
  messagesIn,
  range,
  register,
  registerMany,
  roundTrip,
  send,
  seqs,
  waitForDisconnect,
  waitForMessages,
} from "../lib/client.js";
import { assertContiguous, assertMessage } from "../lib/assertions.js";

const DEFAULT_SEND_BURST = 30;
const srv = useServer({}, { name: "abuse" });

/** Two other users in their own room; `check()` proves they can still chat. */
async function wellBehaved(server = srv) {
  const [x, y] = await registerMany(server, 2, "good");
  const room = await createGroup(server, x, [y]);
  const [x1, y1] = await Promise.all([connect(server, x), connect(server, y)]);
  let n = 0;
  return {
    async check(label) {
      n += 1;
      await roundTrip(x1, y1, room.id, `${label} (#${n})`);
    },
  };
}

function b64urlJson(obj) {
  return Buffer.from(JSON.stringify(obj)).toString("base64url");
}

function decodePayload(token) {
  return JSON.parse(Buffer.from(token.split(".")[1], "base64url").toString("utf8"));
}

srv.test("missing, garbage, forged and tampered tokens: connect_error 'unauthorized'", async () => {
  const good = await wellBehaved();
  const [u, other] = await registerMany(srv, 2, "tok");
  const real = u.token;
  const [h, p, s] = real.split(".");
  assert.ok(h && p && s, "the access token is a JWT");

  // Flip a character in the middle of the signature (not the last one, whose low bits may be padding).
  const i = Math.floor(s.length / 2);
  const forgedSig = `${h}.${p}.${s.slice(0, i)}${s[i] === "A" ? "B" : "A"}${s.slice(i + 1)}`;
  // Someone else's identity with the original signature.
  const claims = decodePayload(real);
  const tampered = `${h}.${b64urlJson({ ...claims, sub: other.id })}.${s}`;
  // Extended lifetime with the original signature.
  const extended = `${h}.${b64urlJson({ ...claims, exp: claims.exp + 3600 })}.${s}`;
  // alg: none.
  const none = `${b64urlJson({ alg: "none", typ: "JWT" })}.${p}.`;

  const cases = {
    missing: undefined,
    empty: "",
    garbage: "not-a-token",
    "three garbage parts": "aaa.bbb.ccc",
    "forged signature": forgedSig,
    "tampered sub": tampered,
    "tampered exp": extended,
    "alg none": none,
    "refresh token as access token": u.refresh,
  };
  for (const transport of ["websocket", "polling"]) {
    for (const [name, token] of Object.entries(cases)) {
      const err = await connectFails(srv, token, { transports: [transport] });
      assert.equal(err.message, "unauthorized", `${name} token over ${transport}: connect_error message`);
    }
    const err = await connectFails(srv, undefined, { transports: [transport], auth: { token: 12345 } });
    assert.equal(err.message, "unauthorized", `a number as token over ${transport}`);
    await good.check(`after bad tokens over ${transport}`);
  }
  // The real token still works.
  const ok = await connect(srv, u);
  assert.ok(ok.connected);
});

let expiredSrv;
serverTest(() => [expiredSrv], "an expired token: connect_error 'unauthorized'", { timeout: 30_000 }, async (t) => {
  // The access-token lifetime is configurable: mint a 1-second token and let it expire.
  expiredSrv = new ChatServer({ name: "expired", env: { CHAT_ACCESS_TOKEN_TTL_SECS: "1" } });
  t.after(() => expiredSrv.cleanup());
  await expiredSrv.start();
  const u = await register(expiredSrv, "exp");
  const { exp } = decodePayload(u.token);
  const fresh = await connect(expiredSrv, u);
  assert.ok(fresh.connected, "the token works while fresh");
  fresh.disconnect();
  // Verifiers allow a small clock leeway (5 s here); wait past it.
  const LEEWAY_S = 5;
  await sleep(Math.max(0, (exp + LEEWAY_S + 1.2) * 1000 - Date.now()));
  for (const transport of ["websocket", "polling"]) {
    const err = await connectFails(expiredSrv, u, { transports: [transport] });
    assert.equal(err.message, "unauthorized", `expired token over ${transport}`);
  }
  await assertHealthy(expiredSrv);
});

srv.test("wrong payload types get invalid_request; the socket stays usable", async () => {
  const good = await wellBehaved();
  const [p, q] = await registerMany(srv, 2, "types");
  const room = await createGroup(srv, p, [q]);
  const p1 = await connect(srv, p);
  const bad = [
    ["message:send", "hello"],
    ["message:send", null],
    ["message:send", 42],
    ["message:send", ["array"]],
    ["message:send", { room_id: 5, client_id: cid(), body: "x" }],
    ["message:send", { room_id: room.id, body: "no client id" }],
    ["message:send", { room_id: room.id, client_id: cid(), body: 42 }],
    ["message:send", { room_id: room.id, client_id: 42, body: "x" }],
    ["message:send", { room_id: room.id, client_id: "", body: "empty client id" }],
    ["message:send", { room_id: room.id, client_id: "c".repeat(65), body: "client id too long" }],
    ["message:edit", { room_id: room.id, message_id: 5, body: "x" }],
    ["message:edit", "edit"],
    ["message:delete", { room_id: room.id }],
    ["message:delete", []],
    ["read", { room_id: room.id, seq: "3" }],
    ["read", { room_id: room.id }],
    ["read", "read"],
    ["sync", "x"],
    ["sync", { rooms: "x" }],
    ["sync", { rooms: [{ room_id: 5, after_seq: 0 }] }],
  ];
  for (const [event, payload] of bad) {
    await emitErr(p1, event, payload, "invalid_request");
  }
  // Garbage typing (no ack) is ignored.
  p1.emit("typing", "garbage");
  p1.emit("typing", { room_id: 5, typing: "yes" });
  await good.check("after wrong payload types");
  assert.ok(p1.connected, "the socket was not dropped for bad payloads");
  const m = await send(p1, room.id, "a proper one");
  assertMessage(m, { seq: 1 });
  // The 64-character client_id is fine.
  const ack = await emitOk(p1, "message:send", { room_id: room.id, client_id: "k".repeat(64), body: "long id" });
  assert.equal(ack.message.seq, 2);
});

srv.test("unknown room, empty and oversize bodies are refused; the limit is 4000 characters after trimming", async () => {
  const good = await wellBehaved();
  const [p, q] = await registerMany(srv, 2, "body");
  const room = await createGroup(srv, p, [q]);
  const [p1, q1] = await Promise.all([connect(srv, p), connect(srv, q)]);

  await emitErr(p1, "message:send", { room_id: `no-such-room-${cid()}`, client_id: cid(), body: "hi" }, "not_found");
  await emitErr(p1, "message:send", { room_id: room.id, client_id: cid(), body: "" }, "invalid_request");
  await emitErr(p1, "message:send", { room_id: room.id, client_id: cid(), body: "  \n\t  " }, "invalid_request");
  await emitErr(p1, "message:send", { room_id: room.id, client_id: cid(), body: "a".repeat(4001) }, "invalid_request");
  await emitErr(p1, "message:send", { room_id: room.id, client_id: cid(), body: "é".repeat(4001) }, "invalid_request");
  await emitErr(p1, "message:send", { room_id: room.id, client_id: cid(), body: "x".repeat(60_000) }, "invalid_request");
  await good.check("after bad bodies");

  // At the limit: accepted, stored whole. Characters, not bytes.
  const full = await send(p1, room.id, "a".repeat(4000));
  assert.equal(full.body.length, 4000);
  const accented = await send(p1, room.id, "é".repeat(4000));
  assert.equal(accented.body, "é".repeat(4000));
  const padded = await send(p1, room.id, ` ${"b".repeat(4000)} `);
  assert.equal(padded.body.trim(), "b".repeat(4000), "4000 after trimming is within the limit");
  await waitForMessages(q1, room.id, 3);
  const hist = await fullHistory(srv, q, room.id);
  assert.deepEqual(seqs(hist), [1, 2, 3], "only the valid messages were stored, with contiguous seqs");
  assert.equal(hist[1].body, "é".repeat(4000));
});

for (const transport of ["websocket", "polling"]) {
  srv.test(`a 1 MiB Socket.IO message closes that connection only (${transport})`, async () => {
    const good = await wellBehaved();
    const [z, friend] = await registerMany(srv, 2, "big");
    const room = await createGroup(srv, z, [friend]);
    const [z1, z2, f1] = await Promise.all([
      connect(srv, z, { transports: [transport] }),
      connect(srv, z),
      connect(srv, friend),
    ]);
    const huge = "x".repeat(1 << 20);
    z1.emit("message:send", { room_id: room.id, client_id: cid(), body: huge });
    const reason = await waitForDisconnect(z1, 15_000);
    assert.ok(typeof reason === "string", `disconnected: ${reason}`);
    assert.equal(z1.connected, false);

    await good.check(`after a 1 MiB message over ${transport}`);
    // The same user's other socket is unharmed, and nothing of the huge message was stored.
    assert.ok(z2.connected, "the user's other socket is still connected");
    const m = await roundTrip(z2, f1, room.id, "other socket still chats");
    assert.equal(m.seq, 1, "the oversize message was not stored");
    // And the user can connect again.
    const z3 = await connect(srv, z, { transports: [transport] });
    await roundTrip(z3, f1, room.id, "reconnected");
    assert.ok(!messagesIn(f1, room.id).some((x) => x.body.length > 4000));
  });
}

srv.test("a send flood from one user: some acks rate_limited with retry_after_ms, the accepted ones all delivered", async () => {
  const good = await wellBehaved();
  const [f, r] = await registerMany(srv, 2, "flood");
  const room = await createGroup(srv, f, [r]);
  const [f1, r1] = await Promise.all([connect(srv, f), connect(srv, r)]);
  const results = await Promise.allSettled(
    Array.from({ length: 200 }, (_, i) =>
      emitAck(f1, "message:send", { room_id: room.id, client_id: cid("flood"), body: `flood ${i}` }, 20_000),
    ),
  );
  const acks = results.filter((x) => x.status === "fulfilled").map((x) => x.value);
  const unanswered = results.length - acks.length;
  const accepted = acks.filter((a) => a?.ok === true).map((a) => a.message);
  const refused = acks.filter((a) => a?.ok !== true);
  for (const a of refused) {
    assert.equal(a?.ok, false, JSON.stringify(a));
    assert.equal(a.error?.code, "rate_limited", `refusals are rate_limited: ${JSON.stringify(a)}`);
    assert.ok(
      Number.isInteger(a.error.retry_after_ms) && a.error.retry_after_ms > 0,
      `retry_after_ms is a positive integer: ${JSON.stringify(a.error)}`,
    );
  }
  assert.ok(refused.length > 0, "a flood of 200 is limited");
  const stored = (await fullHistory(srv, r, room.id)).length;
  assert.equal(
    unanswered,
    0,
    `every send is answered, accepted or refused (${unanswered} of 200 got no ack; ${accepted.length} ok, ${refused.length} refused, ${stored} stored)`,
  );
  assert.ok(accepted.length >= DEFAULT_SEND_BURST, `at least the burst (${DEFAULT_SEND_BURST}) is accepted, got ${accepted.length}`);
  assert.ok(accepted.length < 60, `about the burst is accepted, got ${accepted.length}`);
  const acceptedSeqs = seqs(accepted).sort((x, y) => x - y);
  assert.deepEqual(acceptedSeqs, range(1, accepted.length), "accepted seqs are contiguous from 1");

  // None of the accepted is lost: delivered and stored.
  const got = await waitForMessages(r1, room.id, accepted.length);
  await sleep(200);
  assert.deepEqual(
    seqs(messagesIn(r1, room.id)).sort((x, y) => x - y),
    acceptedSeqs,
    "the receiver got exactly the accepted messages",
  );
  assert.deepEqual(new Set(got.map((m) => m.id)), new Set(accepted.map((m) => m.id)));
  const hist = await fullHistory(srv, r, room.id);
  assert.deepEqual(seqs(hist), acceptedSeqs, "history holds exactly the accepted messages");
  assertContiguous(seqs(hist));

  // Others are not limited by this user's flood.
  await good.check("during the flooder's penalty");
  // After waiting what the server said, the flooder may send again.
  const wait = Math.max(...refused.map((a) => a.error.retry_after_ms));
  assert.ok(wait <= 10_000, `retry_after_ms ${wait} is within the window`);
  await sleep(wait + 150);
  const later = await send(f1, room.id, "after waiting");
  assert.equal(later.seq, accepted.length + 1, "seq continues after the flood");
});

srv.test("Origin: same-origin and no Origin connect, a foreign Origin is refused (default settings)", async () => {
  const good = await wellBehaved();
  const u = await register(srv, "orig");
  for (const transport of ["polling", "websocket"]) {
    const evil = await connectFails(srv, u, { transports: [transport], extraHeaders: { Origin: "http://evil.example" } });
    assert.ok(evil instanceof Error, `${transport}: foreign origin refused`);
    const same = await connect(srv, u, { transports: [transport], extraHeaders: { Origin: srv.url } });
    assert.ok(same.connected, `${transport}: same origin connects`);
    const none = await connect(srv, u, { transports: [transport] });
    assert.ok(none.connected, `${transport}: no Origin connects`);
  }
  await good.check("after foreign origins");
});

let originSrv;
serverTest(() => [originSrv], "Origin: CHAT_ALLOWED_ORIGINS lets the listed origin in and refuses others with 403", async (t) => {
  originSrv = new ChatServer({ name: "origins", env: { CHAT_ALLOWED_ORIGINS: "http://good.example" } });
  t.after(() => originSrv.cleanup());
  await originSrv.start();
  const good = await wellBehaved(originSrv);
  const u = await register(originSrv, "orig");

  // The raw handshake: 403.
  const raw = await fetch(`${originSrv.url}/socket.io/?EIO=4&transport=polling`, {
    headers: { Origin: "http://evil.example" },
  });
  await raw.arrayBuffer();
  assert.equal(raw.status, 403, "a polling handshake from a foreign origin gets 403");

  for (const transport of ["polling", "websocket"]) {
    const err = await connectFails(originSrv, u, { transports: [transport], extraHeaders: { Origin: "http://evil.example" } });
    assert.ok(err instanceof Error, `${transport}: http://evil.example refused`);
    const ok = await connect(originSrv, u, { transports: [transport], extraHeaders: { Origin: "http://good.example" } });
    assert.ok(ok.connected, `${transport}: http://good.example connects`);
    await roundTrip(ok, ok, (await createGroup(originSrv, u, [])).id, `allowed origin over ${transport}`);
    await good.check(`after a foreign origin over ${transport}`);
  }
  await assertHealthy(originSrv);
});

srv.test("the log shows an operator failed logins and rate-limit hits, never a password, and no colour codes in a file", async () => {
  const u = await register(srv, "logged");
  const secret = "not-the-password-42";
  const res = await api(srv, "POST", "/api/auth/login", { body: { username: u.username, password: secret } });
  assert.equal(res.status, 401);
  const log = srv.log();
  const failed = log.split("\n").filter((l) => l.includes("login failed"));
  assert.ok(failed.some((l) => l.includes(u.id)), `a failed login of ${u.id} is logged: ${failed.slice(-3).join(" / ")}`);
  assert.ok(log.includes("send rate limit hit"), "the flood above hit the send rate, and the log says so");
  assert.ok(!log.includes(secret), "the password is never logged");
  assert.ok(!log.includes("\x1b["), "no ANSI colour codes in a log file");
});

srv.test("after all of the above the server is alive, healthy and has not panicked", async () => {
  await assertHealthy(srv);
  const good = await wellBehaved();
  await good.check("at the end");
});
