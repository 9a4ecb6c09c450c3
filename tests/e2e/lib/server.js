// Starts and stops the real standalone chat server binary for the acceptance tests.
//
// - The binary: env CHAT_BIN, else $CARGO_TARGET_DIR/debug/chat, else <repo>/target/debug/chat.
// - Each server gets a free loopback port, a fresh data dir (unless one is given, to restart on
//   the same data), RUST_LOG=info, and its stdout/stderr appended to a log file.
// - `useServer(env)` registers before/after hooks for one server per test file and returns a
//   handle whose `test()` prints the server log's tail when a test fails.

import { spawn } from "node:child_process";
import fs from "node:fs";
import fsp from "node:fs/promises";
import net from "node:net";
import os from "node:os";
import path from "node:path";
import { fileURLToPath } from "node:url";
import { after, before, test as nodeTest } from "node:test";
import assert from "node:assert/strict";
import { closeAllSockets } from "./client.js";

const here = path.dirname(fileURLToPath(import.meta.url));
export const E2E_DIR = path.resolve(here, "..");
export const REPO_DIR = path.resolve(E2E_DIR, "../..");

export function chatBin() {
  if (process.env.CHAT_BIN) return path.resolve(E2E_DIR, process.env.CHAT_BIN);
  if (process.env.CARGO_TARGET_DIR) {
    return path.resolve(REPO_DIR, process.env.CARGO_TARGET_DIR, "debug", "chat");
  }
  return path.resolve(E2E_DIR, "../../target/debug/chat");
}

export function freePort() {
  return new Promise((resolve, reject) => {
    const srv = net.createServer();
    srv.unref();
    srv.on("error", reject);
    srv.listen(0, "127.0.0.1", () => {
      const { port } = srv.address();
      srv.close(() => resolve(port));
    });
  });
}

export const sleep = (ms) => new Promise((r) => setTimeout(r, ms));

export class ChatServer {
  /**
   * @param {object} [opts]
   * @param {Record<string,string>} [opts.env] extra environment (per-test overrides)
   * @param {string} [opts.dataDir] reuse this data dir (default: a fresh temp dir)
   * @param {string} [opts.name] a label for the log file
   */
  constructor(opts = {}) {
    this.env = { ...(opts.env ?? {}) };
    this.name = opts.name ?? "chat";
    this.dataDir = opts.dataDir ?? null;
    this.ownsDataDir = !opts.dataDir;
    this.port = null;
    this.proc = null;
    this.exit = null; // {code, signal, forced} of the last stop
    this.starts = 0;
  }

  get url() {
    return `http://127.0.0.1:${this.port}`;
  }

  get alive() {
    return !!this.proc && this.proc.exitCode === null && this.proc.signalCode === null;
  }

  /** Starts the server (on the same port and data dir when restarting); resolves once /healthz is 200. */
  async start() {
    if (this.alive) throw new Error("server already running");
    const bin = chatBin();
    if (!fs.existsSync(bin)) {
      throw new Error(`chat binary not found at ${bin}: run \`cargo build --bin chat\` or set CHAT_BIN`);
    }
    if (!this.dataDir) {
      this.dataDir = await fsp.mkdtemp(path.join(os.tmpdir(), `chat-e2e-${this.name}-`));
    }
    this.logPath ??= path.join(
      await fsp.mkdtemp(path.join(os.tmpdir(), `chat-e2e-log-${this.name}-`)),
      "server.log",
    );
    let lastErr;
    for (let attempt = 0; attempt < 3; attempt++) {
      // A restart keeps the port (clients and tokens stay valid); a first start picks a free one.
      if (this.port === null || (attempt > 0 && this.starts === 0)) this.port = await freePort();
      try {
        await this.#spawnAndWait(bin);
        this.starts += 1;
        return this;
      } catch (err) {
        lastErr = err;
        await this.#kill();
        if (!/exited/.test(String(err.message))) break;
      }
    }
    throw new Error(`${lastErr.message}\n--- server log tail ---\n${this.logTail()}`);
  }

  async #spawnAndWait(bin) {
    const log = fs.openSync(this.logPath, "a");
    fs.writeSync(log, `\n===== start #${this.starts + 1} on port ${this.port} at ${new Date().toISOString()} =====\n`);
    const env = {
      ...process.env,
      RUST_LOG: "info",
      ...this.env,
      CHAT_LISTEN: `127.0.0.1:${this.port}`,
      CHAT_DATA_DIR: this.dataDir,
    };
    const proc = spawn(bin, [], { env, stdio: ["ignore", log, log], cwd: this.dataDir });
    fs.closeSync(log);
    this.proc = proc;
    this.exit = null;
    proc.exitPromise = new Promise((resolve) => {
      proc.on("exit", (code, signal) => resolve({ code, signal }));
      proc.on("error", (err) => resolve({ code: null, signal: null, error: err }));
    });
    const deadline = Date.now() + 30_000;
    while (Date.now() < deadline) {
      if (proc.exitCode !== null || proc.signalCode !== null) {
        throw new Error(`chat server exited during startup (code ${proc.exitCode}, signal ${proc.signalCode})`);
      }
      try {
        const res = await fetch(`${this.url}/healthz`, { signal: AbortSignal.timeout(1000) });
        await res.arrayBuffer();
        if (res.status === 200) return;
      } catch {
        // not listening yet
      }
      await sleep(50);
    }
    throw new Error("chat server did not answer GET /healthz with 200 within 30 s");
  }

  /**
   * Sends `signal` (SIGTERM) and waits up to `timeoutMs` for the process to exit, then SIGKILLs it.
   * Resolves to {code, signal, forced}; `forced` is true when SIGKILL was needed.
   */
  async stop({ signal = "SIGTERM", timeoutMs = 10_000 } = {}) {
    const proc = this.proc;
    if (!proc) return this.exit;
    if (!this.alive) {
      this.exit = { ...(await proc.exitPromise), forced: false };
      return this.exit;
    }
    proc.kill(signal);
    let timer;
    const res = await Promise.race([
      proc.exitPromise,
      new Promise((r) => (timer = setTimeout(() => r(null), timeoutMs))),
    ]);
    clearTimeout(timer);
    if (res) {
      this.exit = { ...res, forced: false };
    } else {
      proc.kill("SIGKILL");
      this.exit = { ...(await proc.exitPromise), forced: true };
    }
    return this.exit;
  }

  async #kill() {
    if (this.alive) {
      this.proc.kill("SIGKILL");
      await this.proc.exitPromise;
    }
  }

  async restart(opts) {
    await this.stop(opts);
    return this.start();
  }

  log() {
    try {
      return fs.readFileSync(this.logPath, "utf8");
    } catch {
      return "";
    }
  }

  logTail(lines = 40) {
    return this.log().split("\n").slice(-lines).join("\n");
  }

  /** Removes the temp dirs (kept when E2E_KEEP=1 for debugging). */
  async cleanup() {
    await this.stop();
    if (process.env.E2E_KEEP) {
      console.error(`[e2e] kept ${this.name}: data ${this.dataDir}, log ${this.logPath}`);
      return;
    }
    if (this.ownsDataDir && this.dataDir) await fsp.rm(this.dataDir, { recursive: true, force: true });
    if (this.logPath) await fsp.rm(path.dirname(this.logPath), { recursive: true, force: true });
  }
}

/** Starts a server with `env`; the caller stops it (use `finally` or `t.after`). */
export async function startServer(env = {}, opts = {}) {
  const srv = new ChatServer({ env, ...opts });
  await srv.start();
  return srv;
}

/** Asserts the server is still running and answering, and that its log shows no panic. */
export async function assertHealthy(srv) {
  assert.ok(srv.alive, `the server process died (exit ${srv.proc?.exitCode}, signal ${srv.proc?.signalCode})`);
  const res = await fetch(`${srv.url}/healthz`);
  await res.arrayBuffer();
  assert.equal(res.status, 200, "GET /healthz");
  assertNoPanic(srv);
}

export function assertNoPanic(srv, what = "the server log has no panic") {
  const panics = srv.log().split("\n").filter((l) => l.includes("panicked"));
  assert.deepEqual(panics.slice(0, 5), [], `${what} (${panics.length} panic lines)`);
}

/**
 * One server for a test file: started in `before`, checked for panics and stopped in `after`.
 * Returns the ChatServer (its fields are set once `before` ran) with `srv.test(name, [opts], fn)`
 * that prints the log tail on failure.
 */
export function useServer(env = {}, opts = {}) {
  const srv = new ChatServer({ env, ...opts });
  before(async () => {
    await srv.start();
  });
  after(async () => {
    try {
      if (srv.proc) assertNoPanic(srv);
    } finally {
      await srv.cleanup();
    }
  });
  srv.test = (name, optsOrFn, maybeFn) => serverTest(() => [srv], name, optsOrFn, maybeFn);
  return srv;
}

const dumped = new WeakSet();

/** Prints the tail of each server's log (once per failure) to stderr. */
export function dumpLogs(servers, label) {
  for (const s of servers) {
    if (!s || !s.logPath) continue;
    console.error(`\n--- ${label}: tail of ${s.name} server log (${s.logPath}) ---\n${s.logTail(60)}\n--- end ---`);
  }
}

/**
 * A `node:test` test whose failure prints the log tail of the servers `getServers()` returns
 * (call-time, so servers started inside the test can be added through `t.servers`).
 */
export function serverTest(getServers, name, optsOrFn, maybeFn) {
  const fn = typeof optsOrFn === "function" ? optsOrFn : maybeFn;
  const opts = { ...(typeof optsOrFn === "function" ? {} : optsOrFn) };
  // A global timeout per test (the runner's --test-timeout also applies to whole files).
  opts.timeout ??= Number(process.env.E2E_TEST_TIMEOUT_MS || 60_000);
  return nodeTest(name, opts, async (t) => {
    t.servers = [];
    try {
      await fn(t);
    } catch (err) {
      if (!dumped.has(err) && typeof err === "object" && err) {
        dumped.add(err);
        dumpLogs([...getServers(), ...t.servers], name);
      }
      throw err;
    } finally {
      closeAllSockets();
    }
  });
}
