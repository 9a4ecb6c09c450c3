// A web-push endpoint of the tests' own, standing in for the browser vendor's push service
// (Chromium here has none): it checks the VAPID authorization (RFC 8292) and decrypts the
// aes128gcm body (RFC 8291, RFC 8188) with the subscription's private key, as a browser would.

import crypto from "node:crypto";
import http from "node:http";

const b64url = (buf) => Buffer.from(buf).toString("base64url");

/** A subscription's browser-side keys: a P-256 pair and the 16-byte auth secret. */
export function subscriptionKeys() {
  const ecdh = crypto.createECDH("prime256v1");
  ecdh.generateKeys();
  const auth = crypto.randomBytes(16);
  return { ecdh, auth, p256dh: b64url(ecdh.getPublicKey()), authB64: b64url(auth) };
}

function verifyVapid(header, audience) {
  const m = /^vapid t=([^,\s]+),\s*k=([A-Za-z0-9_-]+)$/.exec(header ?? "");
  if (!m) throw new Error(`no VAPID authorization: ${header}`);
  const [, jwt, k] = m;
  const point = Buffer.from(k, "base64url");
  if (point.length !== 65 || point[0] !== 4) throw new Error("k is not an uncompressed P-256 point");
  const key = crypto.createPublicKey({
    key: { kty: "EC", crv: "P-256", x: b64url(point.subarray(1, 33)), y: b64url(point.subarray(33)) },
    format: "jwk",
  });
  const [h, p, s] = jwt.split(".");
  const ok = crypto.verify("sha256", Buffer.from(`${h}.${p}`), { key, dsaEncoding: "ieee-p1363" }, Buffer.from(s, "base64url"));
  if (!ok) throw new Error("the VAPID signature does not verify");
  const header2 = JSON.parse(Buffer.from(h, "base64url"));
  const claims = JSON.parse(Buffer.from(p, "base64url"));
  if (header2.alg !== "ES256") throw new Error(`VAPID alg ${header2.alg}`);
  if (claims.aud !== audience) throw new Error(`VAPID aud ${claims.aud}, expected ${audience}`);
  if (!(claims.exp * 1000 > Date.now())) throw new Error("VAPID token expired");
  if (!claims.sub) throw new Error("VAPID sub missing");
  return k;
}

function decrypt(body, keys) {
  const salt = body.subarray(0, 16);
  const rs = body.readUInt32BE(16);
  const idlen = body[20];
  const asPublic = body.subarray(21, 21 + idlen);
  const ciphertext = body.subarray(21 + idlen);
  if (ciphertext.length > rs) throw new Error("more than one record");
  const shared = keys.ecdh.computeSecret(asPublic);
  const keyInfo = Buffer.concat([Buffer.from("WebPush: info\0"), keys.ecdh.getPublicKey(), asPublic]);
  const ikm = Buffer.from(crypto.hkdfSync("sha256", shared, keys.auth, keyInfo, 32));
  const cek = Buffer.from(crypto.hkdfSync("sha256", ikm, salt, Buffer.from("Content-Encoding: aes128gcm\0"), 16));
  const nonce = Buffer.from(crypto.hkdfSync("sha256", ikm, salt, Buffer.from("Content-Encoding: nonce\0"), 12));
  const decipher = crypto.createDecipheriv("aes-128-gcm", cek, nonce);
  decipher.setAuthTag(ciphertext.subarray(ciphertext.length - 16));
  const padded = Buffer.concat([decipher.update(ciphertext.subarray(0, ciphertext.length - 16)), decipher.final()]);
  let end = padded.length - 1;
  while (end >= 0 && padded[end] === 0) end--;
  if (padded[end] !== 2) throw new Error("no last-record delimiter");
  return padded.subarray(0, end).toString("utf8");
}

/**
 * Starts the endpoint on a free loopback port. Each accepted push is
 * `{headers, vapidKey, payload}` in `pushes`; a push that fails a check is answered 400 and its
 * reason is in `errors`.
 */
export async function startReceiver(keys) {
  const pushes = [];
  const errors = [];
  const server = http.createServer((req, res) => {
    const chunks = [];
    req.on("data", (c) => chunks.push(c));
    req.on("end", () => {
      try {
        if (req.method !== "POST") throw new Error(`method ${req.method}`);
        if (req.headers["content-encoding"] !== "aes128gcm") throw new Error("not aes128gcm");
        const vapidKey = verifyVapid(req.headers.authorization, `http://127.0.0.1:${server.address().port}`);
        const payload = JSON.parse(decrypt(Buffer.concat(chunks), keys));
        pushes.push({ headers: req.headers, vapidKey, payload });
        res.writeHead(201).end();
      } catch (e) {
        errors.push(String(e?.message ?? e));
        res.writeHead(400).end();
      }
    });
  });
  await new Promise((resolve) => server.listen(0, "127.0.0.1", resolve));
  return {
    endpoint: `http://127.0.0.1:${server.address().port}/push/${crypto.randomUUID()}`,
    pushes,
    errors,
    close: () => new Promise((resolve) => server.close(resolve)),
  };
}
