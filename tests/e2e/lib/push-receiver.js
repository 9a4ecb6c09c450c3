// A web-push endpoint on loopback, standing where a browser vendor's push service would: it
// checks each request's VAPID authentication (RFC 8292: an ES256 JWT for this origin, signed by
// the key in `k=`), decrypts the RFC 8291 `aes128gcm` body with the subscription's private
// keys, and records what arrived. Built on node:crypto only.
//
//   const rx = await new PushReceiver().start();
//   const sub = rx.subscription("carol");   // {endpoint, keys: {p256dh, auth}} for POST /api/push/subscriptions
//   const push = await rx.waitFor((p) => p.name === "carol" && p.payload.type === "message");
//   rx.status = 410;                         // answer the next pushes with 410 Gone
//   await rx.stop();

import crypto from "node:crypto";
import http from "node:http";

const b64u = (buf) => Buffer.from(buf).toString("base64url");
const fromB64u = (s) => Buffer.from(s, "base64url");

/** Decrypts an RFC 8291 message (one aes128gcm record) for a receiver's keys. */
export function decryptAes128gcm(body, { ecdh, publicKey, authSecret }) {
  const salt = body.subarray(0, 16);
  const rs = body.readUInt32BE(16);
  const idlen = body[20];
  const asPublic = body.subarray(21, 21 + idlen);
  const ciphertext = body.subarray(21 + idlen);
  if (idlen !== 65) throw new Error(`keyid is ${idlen} bytes, expected the sender's 65-byte public key`);
  if (ciphertext.length > rs) throw new Error(`more than one record (${ciphertext.length} > rs ${rs})`);
  const shared = ecdh.computeSecret(asPublic);
  const keyInfo = Buffer.concat([Buffer.from("WebPush: info\0"), publicKey, asPublic]);
  const ikm = Buffer.from(crypto.hkdfSync("sha256", shared, authSecret, keyInfo, 32));
  const cek = Buffer.from(crypto.hkdfSync("sha256", ikm, salt, Buffer.from("Content-Encoding: aes128gcm\0"), 16));
  const nonce = Buffer.from(crypto.hkdfSync("sha256", ikm, salt, Buffer.from("Content-Encoding: nonce\0"), 12));
  const decipher = crypto.createDecipheriv("aes-128-gcm", cek, nonce);
  decipher.setAuthTag(ciphertext.subarray(ciphertext.length - 16));
  const padded = Buffer.concat([decipher.update(ciphertext.subarray(0, ciphertext.length - 16)), decipher.final()]);
  // The last record ends with the delimiter 0x02, then zero padding.
  let end = padded.length - 1;
  while (end >= 0 && padded[end] === 0) end--;
  if (padded[end] !== 2) throw new Error("no last-record delimiter");
  return padded.subarray(0, end);
}

/** Checks `Authorization: vapid t=JWT, k=KEY` for `audience`; returns {claims, key} or throws. */
export function verifyVapid(header, audience) {
  const m = /^vapid\s+(.*)$/i.exec(header ?? "");
  if (!m) throw new Error(`Authorization is not vapid: ${header}`);
  const params = Object.fromEntries(
    m[1].split(",").map((p) => {
      const [k, ...v] = p.trim().split("=");
      return [k, v.join("=")];
    }),
  );
  const { t, k } = params;
  if (!t || !k) throw new Error(`vapid without t= or k=: ${header}`);
  const [h, p, s] = t.split(".");
  const head = JSON.parse(fromB64u(h));
  if (head.alg !== "ES256") throw new Error(`VAPID JWT alg ${head.alg}`);
  const point = fromB64u(k);
  if (point.length !== 65 || point[0] !== 4) throw new Error("k= is not an uncompressed P-256 point");
  const key = crypto.createPublicKey({
    key: { kty: "EC", crv: "P-256", x: b64u(point.subarray(1, 33)), y: b64u(point.subarray(33)) },
    format: "jwk",
  });
  const ok = crypto.verify("sha256", Buffer.from(`${h}.${p}`), { key, dsaEncoding: "ieee-p1363" }, fromB64u(s));
  if (!ok) throw new Error("VAPID JWT signature does not verify with k=");
  const claims = JSON.parse(fromB64u(p));
  if (claims.aud !== audience) throw new Error(`VAPID aud ${claims.aud}, expected ${audience}`);
  const now = Date.now() / 1000;
  if (!(claims.exp > now && claims.exp <= now + 24 * 3600 + 60)) throw new Error(`VAPID exp ${claims.exp} is not within 24 h`);
  if (!claims.sub) throw new Error("VAPID JWT has no sub");
  return { claims, key: k };
}

export class PushReceiver {
  constructor() {
    this.server = null;
    this.origin = null;
    this.subs = new Map(); // path -> {name, ecdh, publicKey, authSecret}
    this.received = []; // {name, payload, headers, vapid} or {name, error}
    this.status = 201;
    this.waiters = new Set();
  }

  async start() {
    this.server = http.createServer((req, res) => {
      const chunks = [];
      req.on("data", (c) => chunks.push(c));
      req.on("end", () => {
        const sub = this.subs.get(req.url);
        if (req.method !== "POST" || !sub) {
          res.writeHead(404).end();
          return;
        }
        const entry = { name: sub.name, headers: req.headers, at: Date.now() };
        try {
          if (req.headers["content-encoding"] !== "aes128gcm") {
            throw new Error(`Content-Encoding ${req.headers["content-encoding"]}`);
          }
          entry.vapid = verifyVapid(req.headers.authorization, this.origin);
          entry.payload = JSON.parse(decryptAes128gcm(Buffer.concat(chunks), sub).toString("utf8"));
        } catch (err) {
          entry.error = err.message;
        }
        this.received.push(entry);
        for (const w of [...this.waiters]) w();
        res.writeHead(entry.error ? 400 : this.status).end();
      });
    });
    await new Promise((resolve) => this.server.listen(0, "127.0.0.1", resolve));
    this.origin = `http://127.0.0.1:${this.server.address().port}`;
    return this;
  }

  /** A new subscription, as a browser's PushSubscription.toJSON(). */
  subscription(name) {
    const ecdh = crypto.createECDH("prime256v1");
    ecdh.generateKeys();
    const publicKey = ecdh.getPublicKey();
    const authSecret = crypto.randomBytes(16);
    const path = `/push/${name}-${crypto.randomBytes(6).toString("hex")}`;
    this.subs.set(path, { name, ecdh, publicKey, authSecret });
    return { endpoint: `${this.origin}${path}`, keys: { p256dh: b64u(publicKey), auth: b64u(authSecret) } };
  }

  /** Resolves with the first received push matching `pred`; rejects after `ms`. */
  waitFor(pred, ms = 15_000) {
    return new Promise((resolve, reject) => {
      const check = () => {
        const hit = this.received.find(pred);
        if (hit) {
          done();
          resolve(hit);
        }
        return !!hit;
      };
      const done = () => {
        clearTimeout(timer);
        this.waiters.delete(check);
      };
      const timer = setTimeout(() => {
        done();
        reject(new Error(`no matching push within ${ms} ms; received: ${JSON.stringify(this.received.map((r) => ({ name: r.name, error: r.error, payload: r.payload })))}`));
      }, ms);
      if (!check()) this.waiters.add(check);
    });
  }

  async stop() {
    if (this.server) await new Promise((resolve) => this.server.close(resolve));
  }
}
