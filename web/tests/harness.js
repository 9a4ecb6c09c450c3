// The browser tests' harness: the real standalone server binary serving the built app, and
// Debian's Chromium driven by playwright-core (never a downloaded browser).
//
// - The binary: env CHAT_BIN, else $CARGO_TARGET_DIR/debug/chat, else <repo>/target/debug/chat;
//   it gets a free loopback port, a fresh data dir and CHAT_WEB_DIR=web/dist.
// - The browser: env CHROMIUM, else /usr/bin/chromium, headless, a fresh profile per launch.
// - The server object also speaks the contract from outside the browser (another device):
//   `call` for HTTP, `send` for messages over a Socket.IO connection of its own.
// - Every page records console errors and uncaught exceptions; `assertNoErrors` fails the test
//   on any of them.
// - Screenshots go to web/test-output/screenshots (git-ignored).

import { spawn } from "node:child_process";
import fs from "node:fs";
import fsp from "node:fs/promises";
import net from "node:net";
import os from "node:os";
import path from "node:path";
import { fileURLToPath } from "node:url";
import assert from "node:assert/strict";
import { createRequire } from "node:module";
import { chromium } from "playwright-core";
import { io } from "socket.io-client";

const AXE = createRequire(import.meta.url).resolve("axe-core/axe.min.js");

const here = path.dirname(fileURLToPath(import.meta.url));
export const WEB_DIR = path.resolve(here, "..");
const REPO_DIR = path.resolve(WEB_DIR, "..");
export const SHOTS_DIR = path.join(WEB_DIR, "test-output", "screenshots");

function chatBin() {
  if (process.env.CHAT_BIN) return path.resolve(process.env.CHAT_BIN);
  const target = process.env.CARGO_TARGET_DIR
    ? path.resolve(REPO_DIR, process.env.CARGO_TARGET_DIR)
    : path.join(REPO_DIR, "target");
  return path.join(target, "debug", "chat");
}

function freePort() {
  return new Promise((resolve, reject) => {
    const srv = net.createServer();
    srv.on("error", reject);
    srv.listen(0, "127.0.0.1", () => {
      const { port } = srv.address();
      srv.close(() => resolve(port));
    });
  });
}

/** Starts the standalone server with extra `env`; resolves once /healthz answers. */
export async function startServer(env = {}) {
  const bin = chatBin();
  if (!fs.existsSync(bin)) throw new Error(`chat binary not found at ${bin}: cargo build --bin chat, or set CHAT_BIN`);
  const webDir = path.join(WEB_DIR, "dist");
  if (!fs.existsSync(path.join(webDir, "index.html"))) throw new Error("web/dist is not built: npm run build");
  const dataDir = await fsp.mkdtemp(path.join(os.tmpdir(), "chat-web-test-"));
  const logPath = path.join(dataDir, "server.log");
  const port = await freePort();
  const log = fs.openSync(logPath, "a");
  const proc = spawn(bin, [], {
    cwd: dataDir,
    stdio: ["ignore", log, log],
    env: {
      ...process.env,
      RUST_LOG: "info",
      NO_COLOR: "1",
      ...env,
      CHAT_LISTEN: `127.0.0.1:${port}`,
      CHAT_DATA_DIR: path.join(dataDir, "data"),
      CHAT_WEB_DIR: webDir,
    },
  });
  fs.closeSync(log);
  const exited = new Promise((resolve) => proc.on("exit", resolve));
  const url = `http://127.0.0.1:${port}`;
  const server = {
    url,
    logTail: (n = 40) => fs.readFileSync(logPath, "utf8").split("\n").slice(-n).join("\n"),
    async stop() {
      if (proc.exitCode === null && proc.signalCode === null) {
        proc.kill("SIGTERM");
        const timer = setTimeout(() => proc.kill("SIGKILL"), 10_000);
        await exited;
        clearTimeout(timer);
      }
      if (!process.env.E2E_KEEP) await fsp.rm(dataDir, { recursive: true, force: true });
    },
    /** An HTTP call of the contract; the parsed body. */
    async call(method, path, { token, body } = {}) {
      const headers = {};
      if (token) headers.authorization = `Bearer ${token}`;
      if (body !== undefined) headers["content-type"] = "application/json";
      const res = await fetch(`${url}${path}`, {
        method,
        headers,
        body: body === undefined ? undefined : JSON.stringify(body),
      });
      assert.ok(res.ok, `${method} ${path}: HTTP ${res.status}`);
      const text = await res.text();
      return text ? JSON.parse(text) : undefined;
    },
    /** Sends `bodies` to a room in order, as the user whose access token is `token`. */
    async send(token, roomId, bodies) {
      const socket = io(url, { auth: { token }, transports: ["websocket"] });
      try {
        for (const body of bodies) {
          const ack = await socket.timeout(10_000).emitWithAck("message:send", {
            room_id: roomId,
            client_id: crypto.randomUUID(),
            body,
          });
          assert.equal(ack.ok, true, JSON.stringify(ack));
        }
      } finally {
        socket.disconnect();
      }
    },
  };
  for (const deadline = Date.now() + 30_000; Date.now() < deadline; ) {
    if (proc.exitCode !== null) break;
    try {
      const res = await fetch(`${url}/healthz`);
      if (res.ok) return server;
    } catch {
      // not listening yet
    }
    await new Promise((r) => setTimeout(r, 50));
  }
  const tail = server.logTail();
  await server.stop();
  throw new Error(`the chat server did not start\n${tail}`);
}

export function launchBrowser() {
  return chromium.launch({
    executablePath: process.env.CHROMIUM || "/usr/bin/chromium",
    headless: true,
    args: [
      "--no-sandbox",
      "--disable-gpu",
      "--disable-quic",
      "--no-first-run",
      "--disable-background-networking",
      "--disable-component-update",
      "--disable-sync",
    ],
  });
}

/** A browser context with one page; the console errors and page errors of all its pages are recorded. */
export async function openUser(browser, url, name, viewport = { width: 1200, height: 800 }) {
  const context = await browser.newContext({ viewport, baseURL: url });
  const errors = [];
  context.on("page", (page) => {
    page.on("console", (msg) => {
      if (msg.type() === "error") errors.push(`${name}: console: ${msg.text()}`);
    });
    page.on("pageerror", (err) => errors.push(`${name}: page error: ${err.message}`));
  });
  const page = await context.newPage();
  return { name, context, page, errors };
}

export function assertNoErrors(...users) {
  assert.deepEqual(users.flatMap((u) => u.errors), [], "no console errors and no uncaught exceptions");
}

// Each test file runs in a process of its own: its screenshots are named after it, in order.
const group = path.basename(process.argv[1] ?? "test", ".test.js");
let shot = 0;
export async function screenshot(page, name) {
  if (shot === 0) {
    for (const old of await fsp.readdir(SHOTS_DIR).catch(() => [])) {
      if (old.startsWith(`${group}-`)) await fsp.rm(path.join(SHOTS_DIR, old));
    }
  }
  await fsp.mkdir(SHOTS_DIR, { recursive: true });
  shot += 1;
  const file = `${group}-${String(shot).padStart(2, "0")}-${name}.png`;
  await page.screenshot({ path: path.join(SHOTS_DIR, file), fullPage: true });
}

/**
 * Asserts that axe-core finds no WCAG 2 A/AA violation (labels, roles, contrast, …) on the
 * page as it is now.
 */
export async function assertAccessible(page, screen) {
  // Evaluated rather than added as a <script>: the app's content security policy refuses
  // inline scripts, as it should.
  await page.evaluate(fs.readFileSync(AXE, "utf8"));
  const violations = await page.evaluate(async () => {
    const result = await axe.run(document, { runOnly: { type: "tag", values: ["wcag2a", "wcag2aa", "wcag21aa"] } });
    return result.violations.map((v) => `${v.id} (${v.impact}): ${v.help} at ${v.nodes.map((n) => n.target.join(" ")).join(", ")}`);
  });
  assert.deepEqual(violations, [], `accessibility of ${screen}`);
}
