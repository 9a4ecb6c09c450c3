// The Node.js peer of the benchmarks: socket.io 4 with the sharded Redis adapter, as many
// processes as are started on one Redis. It relays a room message the way a chat does and
// nothing more: receive `message:send`, broadcast a `message` of the contract's shape to the
// room (on every process, through Redis), ack `{ok: true, message}`.
//
// What it leaves out, compared with our server (so its figures are a lower bound of what a
// Node.js chat with the same features would cost): no accounts — the CONNECT packet's
// `auth.token` is taken as the user id and `auth.rooms` lists the rooms to join; no
// membership check beyond the socket being in the room; seq counted per process, not across
// the cluster; nothing stored, no broker, no rate limit, no presence.
//
//   PORT=4000 REDIS_URL=redis://127.0.0.1:6379 node peer.js

import { createServer } from "node:http";
import { createShardedAdapter } from "@socket.io/redis-adapter";
import { createClient } from "redis";
import { Server } from "socket.io";

const port = Number(process.env.PORT ?? 4000);
const pub = createClient({ url: process.env.REDIS_URL ?? "redis://127.0.0.1:6379" });
const sub = pub.duplicate();
await Promise.all([pub.connect(), sub.connect()]);

const http = createServer((req, res) => {
  res.statusCode = req.url === "/healthz" ? 200 : 404;
  res.end();
});
const io = new Server(http, {
  adapter: createShardedAdapter(pub, sub),
  maxHttpBufferSize: 64 * 1024,
});

io.use((socket, next) => {
  const { token, rooms } = socket.handshake.auth ?? {};
  if (typeof token !== "string" || token === "") return next(new Error("unauthorized"));
  socket.data.user = token;
  if (Array.isArray(rooms)) socket.join(rooms.filter((r) => typeof r === "string"));
  next();
});

const seqs = new Map();
io.on("connection", (socket) => {
  socket.on("message:send", (payload, ack) => {
    if (typeof ack !== "function") return;
    const { room_id, client_id, body } = payload ?? {};
    if (typeof room_id !== "string" || !socket.rooms.has(room_id)) {
      ack({ ok: false, error: { code: "not_found", message: "no such room" } });
      return;
    }
    const seq = (seqs.get(room_id) ?? 0) + 1;
    seqs.set(room_id, seq);
    const message = {
      id: `${room_id}-${process.pid}-${seq}`,
      room_id,
      seq,
      sender_id: socket.data.user,
      client_id,
      body,
      attachments: [],
      reply_to: null,
      created_at: new Date().toISOString(),
      edited_at: null,
      deleted: false,
    };
    io.to(room_id).emit("message", message);
    ack({ ok: true, message });
  });
});

http.listen(port, "127.0.0.1", () => console.log(`peer ${process.pid} on 127.0.0.1:${port}`));
for (const sig of ["SIGTERM", "SIGINT"]) {
  process.on(sig, () => {
    io.close();
    process.exit(0);
  });
}
