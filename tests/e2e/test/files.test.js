// Attachments on the standalone server, as a browser does them: declare a file, PUT its bytes to
// the URL the server signed (its own directory here), complete it, attach it to a message over
// Socket.IO, and download it as another member; plus the refusals a client sees.

import assert from "node:assert/strict";
import { useServer } from "../lib/server.js";
import {
  api,
  apiOk,
  cid,
  connect,
  createGroup,
  emitErr,
  emitOk,
  registerMany,
  waitForEvent,
} from "../lib/client.js";
import { assertHttpError, assertMessage } from "../lib/assertions.js";

const srv = useServer({}, { name: "files" });

/** `size` bytes that start like a PNG. */
function png(size) {
  const bytes = new Uint8Array(size);
  for (let i = 0; i < size; i++) bytes[i] = (i * 7919 + 13) & 0xff;
  bytes.set([0x89, 0x50, 0x4e, 0x47, 0x0d, 0x0a, 0x1a, 0x0a], 0);
  return bytes;
}

/** PUTs `bytes` to the upload URL with its headers (fetch sets the length itself). */
async function upload(upload, bytes) {
  assert.equal(upload.method, "PUT");
  const headers = Object.fromEntries(
    Object.entries(upload.headers).filter(([name]) => name.toLowerCase() !== "content-length"),
  );
  const res = await fetch(new URL(upload.url, srv.url), { method: "PUT", headers, body: bytes });
  return res.status;
}

async function readyFile(user, roomId, bytes, filename = "photo.png") {
  const created = await apiOk(srv, "POST", "/api/files", 201, {
    token: user,
    body: { room_id: roomId, filename, content_type: "image/png", size: bytes.length },
  });
  assert.equal(await upload(created.upload, bytes), 200);
  const done = await apiOk(srv, "POST", `/api/files/${created.file.id}/complete`, 200, { token: user });
  assert.equal(done.file.status, "ready");
  return done.file;
}

srv.test("a 3 MB PNG is uploaded, attached to a message every member receives, and downloaded intact", async () => {
  const [a, b, outsider] = await registerMany(srv, 3, "att");
  const room = await createGroup(srv, a, [b]);
  const [sa, sb] = await Promise.all([connect(srv, a), connect(srv, b)]);
  const bytes = png(3 * 1024 * 1024);
  const file = await readyFile(a, room.id, bytes, "../../etc/holiday.png");
  assert.equal(file.filename, "holiday.png", "a path in the filename is dropped");

  const incoming = waitForEvent(sb, "message", (m) => m.room_id === room.id);
  const ack = await emitOk(sa, "message:send", {
    room_id: room.id,
    client_id: cid(),
    body: "",
    attachments: [file.id],
  });
  const ref = { id: file.id, filename: "holiday.png", content_type: "image/png", size: bytes.length };
  assertMessage(ack.message, { room_id: room.id, body: "", attachments: [ref] });
  assert.deepEqual((await incoming).attachments, [ref]);

  const shown = await apiOk(srv, "GET", `/api/files/${file.id}`, 200, { token: b });
  assert.deepEqual(shown.file, file);
  const res = await fetch(new URL(shown.download_url, srv.url));
  assert.equal(res.status, 200);
  assert.equal(res.headers.get("content-type"), "image/png");
  assert.match(res.headers.get("content-disposition"), /^attachment; filename="holiday.png"/);
  assert.deepEqual(new Uint8Array(await res.arrayBuffer()), bytes);

  assertHttpError(await api(srv, "GET", `/api/files/${file.id}`, { token: outsider }), 404, "not_found");
});

srv.test("a message may attach only ready files of its own room", async () => {
  const [a, b] = await registerMany(srv, 2, "att");
  const room = await createGroup(srv, a, [b]);
  const other = await createGroup(srv, a, []);
  const sa = await connect(srv, a);
  const elsewhere = await readyFile(a, other.id, png(100));
  const pending = await apiOk(srv, "POST", "/api/files", 201, {
    token: a,
    body: { room_id: room.id, filename: "p.png", content_type: "image/png", size: 100 },
  });
  for (const id of [elsewhere.id, pending.file.id, "no-such-file"]) {
    const nack = await emitErr(
      sa,
      "message:send",
      { room_id: room.id, client_id: cid(), body: "look", attachments: [id] },
      "invalid_request",
    );
    assert.match(nack.error.message, /^attachments:/);
  }
});

srv.test("uploads that break the URL's binding, and non-PNG bytes declared PNG, are refused", async () => {
  const [a] = await registerMany(srv, 1, "att");
  const room = await createGroup(srv, a, []);
  const declare = (body) => api(srv, "POST", "/api/files", { token: a, body: { room_id: room.id, ...body } });

  assertHttpError(
    await declare({ filename: "big.zip", content_type: "application/zip", size: 25 * 1024 * 1024 + 1 }),
    413,
    "too_large",
  );
  assertHttpError(
    await declare({ filename: "x.svg", content_type: "image/svg+xml", size: 10 }),
    415,
    "unsupported_media_type",
  );

  const created = (await declare({ filename: "a.png", content_type: "image/png", size: 64 })).body;
  const tooLong = await fetch(new URL(created.upload.url, srv.url), {
    method: "PUT",
    headers: { "content-type": "image/png" },
    body: png(65),
  });
  assert.equal(tooLong.status, 403, "one byte more than declared");
  const otherType = await fetch(new URL(created.upload.url, srv.url), {
    method: "PUT",
    headers: { "content-type": "text/html" },
    body: png(64),
  });
  assert.equal(otherType.status, 403, "another content type");
  assertHttpError(await api(srv, "POST", `/api/files/${created.file.id}/complete`, { token: a }), 409, "conflict");

  const html = new TextEncoder().encode("<html><script>alert(1)</script></html>");
  const fake = (await declare({ filename: "cat.png", content_type: "image/png", size: html.length })).body;
  assert.equal(await upload(fake.upload, html), 200);
  assertHttpError(
    await api(srv, "POST", `/api/files/${fake.file.id}/complete`, { token: a }),
    415,
    "unsupported_media_type",
  );
});
