// The distributed mode for the cluster acceptance test: one auth-service and N socket-service
// nodes on one Redis (a private redis-server this file starts, so that a test may stop it
// without harming others), one MongoDB and one RabbitMQ (the shared test servers of
// scripts/test-servers, kept apart by a unique database name and unique key / exchange / queue
// prefixes per run).
//
// - The binaries: env CHAT_SERVICE_BIN_DIR, else $CARGO_TARGET_DIR/debug, else
//   <repo>/target/debug (`cargo build -p socket-service -p auth-service`).
// - Needs CHAT_TEST_MONGODB_URL and CHAT_TEST_AMQP_URL (scripts/test-servers start) and
//   `redis-server` on PATH; `clusterUnavailable()` says what is missing, so the test can skip.
// - Every process started here is stopped by `Cluster.stop()` (SIGTERM, SIGKILL after 10 s),
//   and SIGKILLed when the test process exits, whatever happened.

import { spawn, execFile } from "node:child_process";
import crypto from "node:crypto";
import fs from "node:fs";
import fsp from "node:fs/promises";
import net from "node:net";
import os from "node:os";
import path from "node:path";
import { promisify } from "node:util";
import { freePort, REPO_DIR, E2E_DIR, sleep } from "./server.js";
import { rand } from "./client.js";

const execFileP = promisify(execFile);

export function binDir() {
  if (process.env.CHAT_SERVICE_BIN_DIR) return path.resolve(E2E_DIR, process.env.CHAT_SERVICE_BIN_DIR);
  if (process.env.CARGO_TARGET_DIR) return path.resolve(REPO_DIR, process.env.CARGO_TARGET_DIR, "debug");
  return path.join(REPO_DIR, "target", "debug");
}

function onPath(cmd) {
  return (process.env.PATH ?? "")
    .split(path.delimiter)
    .some((dir) => dir && fs.existsSync(path.join(dir, cmd)));
}

/** Why the cluster cannot run here (a reason to skip), or null when it can. */
export function clusterUnavailable() {
  const missing = [];
  for (const v of ["CHAT_TEST_MONGODB_URL", "CHAT_TEST_AMQP_URL"]) {
    if (!process.env[v]) missing.push(`$${v} (run under scripts/test or scripts/test-servers)`);
  }
  for (const b of ["socket-service", "auth-service"]) {
    if (!fs.existsSync(path.join(binDir(), b))) {
      missing.push(`${path.join(binDir(), b)} (cargo build -p socket-service -p auth-service)`);
    }
  }
  if (!onPath("redis-server")) missing.push("redis-server on PATH");
  return missing.length ? `missing ${missing.join(", ")}` : null;
}

// ---------------------------------------------------------------------------------------------
// Processes: every child is killed when this process exits, even on a crash.

const live = new Set();
process.on("exit", () => {
  for (const p of live) {
    try {
      process.kill(p, "SIGKILL");
    } catch {
      // gone
    }
  }
});

/** One service binary on a free loopback port, its output in a log file. */
export class ServiceProc {
  /**
   * @param {string} name label (log file, messages)
   * @param {string} bin binary name in binDir()
   * @param {string} listenVar the env variable of the listen address
   * @param {Record<string,string>} env
   * @param {string} logDir
   */
  constructor(name, bin, listenVar, env, logDir) {
    this.name = name;
    this.bin = path.join(binDir(), bin);
    this.listenVar = listenVar;
    this.env = env;
    this.logPath = path.join(logDir, `${name}.log`);
    this.port = null;
    this.proc = null;
    this.starts = 0;
  }

  get url() {
    return `http://127.0.0.1:${this.port}`;
  }

  get alive() {
    return !!this.proc && this.proc.exitCode === null && this.proc.signalCode === null;
  }

  async start() {
    if (this.alive) throw new Error(`${this.name} already running`);
    this.port ??= await freePort();
    const log = fs.openSync(this.logPath, "a");
    fs.writeSync(log, `\n===== ${this.name} start #${this.starts + 1} on port ${this.port} at ${new Date().toISOString()} =====\n`);
    const proc = spawn(this.bin, [], {
      env: {
        ...process.env,
        RUST_LOG: "info",
        NO_COLOR: "1",
        // A start-up error (anyhow) without a backtrace that pushes the message out of the
        // log tail; panics keep theirs (RUST_BACKTRACE).
        RUST_LIB_BACKTRACE: "0",
        ...this.env,
        [this.listenVar]: `127.0.0.1:${this.port}`,
      },
      stdio: ["ignore", log, log],
    });
    fs.closeSync(log);
    this.proc = proc;
    live.add(proc.pid);
    proc.exitPromise = new Promise((resolve) => {
      proc.on("exit", (code, signal) => {
        live.delete(proc.pid);
        resolve({ code, signal });
      });
      proc.on("error", (error) => resolve({ code: null, signal: null, error }));
    });
    // A cold start under the load of a whole test run (the database server busy with other
    // suites) has taken longer than 30 s; the log tail says where it waited.
    const deadline = Date.now() + 60_000;
    while (Date.now() < deadline) {
      if (!this.alive) {
        throw new Error(`${this.name} exited during startup (code ${proc.exitCode}, signal ${proc.signalCode})\n${this.logTail()}`);
      }
      try {
        const res = await fetch(`${this.url}/healthz`, { signal: AbortSignal.timeout(1000) });
        await res.arrayBuffer();
        if (res.status === 200) {
          this.starts += 1;
          return this;
        }
      } catch {
        // not listening yet
      }
      await sleep(50);
    }
    throw new Error(`${this.name} did not answer /healthz within 60 s\n${this.logTail()}`);
  }

  /** kill -9 (or another signal) without waiting. */
  signal(sig) {
    if (this.alive) this.proc.kill(sig);
  }

  async stop({ signal = "SIGTERM", timeoutMs = 10_000 } = {}) {
    if (!this.proc) return null;
    if (this.alive) {
      this.proc.kill(signal);
      let timer;
      const res = await Promise.race([
        this.proc.exitPromise,
        new Promise((r) => (timer = setTimeout(() => r(null), timeoutMs))),
      ]);
      clearTimeout(timer);
      if (!res) this.proc.kill("SIGKILL");
    }
    return this.proc.exitPromise;
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
}

// ---------------------------------------------------------------------------------------------
// A private redis-server that a test may stop and start again on the same port.

/** Sends one RESP command; resolves with the raw reply (or rejects on a connection error). */
export function redisCommand(port, args, ms = 2000) {
  return new Promise((resolve, reject) => {
    const sock = net.connect(port, "127.0.0.1");
    let data = "";
    const timer = setTimeout(() => {
      sock.destroy();
      reject(new Error("redis command timed out"));
    }, ms);
    sock.on("connect", () => {
      sock.write(`*${args.length}\r\n${args.map((a) => `$${Buffer.byteLength(a)}\r\n${a}\r\n`).join("")}`);
    });
    sock.on("data", (d) => {
      data += d.toString();
      if (data.includes("\r\n")) {
        clearTimeout(timer);
        sock.end();
        resolve(data);
      }
    });
    sock.on("error", (e) => {
      clearTimeout(timer);
      reject(e);
    });
    sock.on("close", () => {
      clearTimeout(timer);
      resolve(data);
    });
  });
}

export class PrivateRedis {
  constructor(dir) {
    this.dir = dir;
    this.port = null;
    this.name = "redis";
    this.logPath = path.join(dir, "redis.log");
    this.pidFile = path.join(dir, "redis.pid");
  }

  get url() {
    return `redis://127.0.0.1:${this.port}`;
  }

  pid() {
    try {
      return Number(fs.readFileSync(this.pidFile, "utf8").trim()) || null;
    } catch {
      return null;
    }
  }

  /** Starts (or starts again, on the same port and dir: the dump written by `stop` is loaded). */
  async start() {
    this.port ??= await freePort();
    await execFileP("redis-server", [
      "--port", String(this.port),
      "--bind", "127.0.0.1",
      "--save", "",
      "--appendonly", "no",
      "--dir", this.dir,
      "--daemonize", "yes",
      "--pidfile", this.pidFile,
      "--logfile", this.logPath,
    ]);
    const deadline = Date.now() + 10_000;
    for (;;) {
      try {
        const reply = await redisCommand(this.port, ["PING"], 500);
        if (reply.startsWith("+PONG")) break;
      } catch {
        // not yet
      }
      if (Date.now() > deadline) throw new Error(`private redis did not answer PING\n${this.logTail()}`);
      await sleep(20);
    }
    const pid = this.pid();
    if (pid) live.add(pid);
    return this;
  }

  /**
   * Stops Redis. `save: true` (SHUTDOWN SAVE) writes the dataset to disk first, so a restart
   * comes back with the same data (an outage, not a data loss); `save: false` loses it.
   * Resolves once the process is gone.
   */
  async stop({ save = true } = {}) {
    const pid = this.pid();
    if (!pid || !alivePid(pid)) return;
    try {
      await redisCommand(this.port, ["SHUTDOWN", save ? "SAVE" : "NOSAVE"], 5000);
    } catch {
      // the connection closes as it shuts down
    }
    const deadline = Date.now() + 10_000;
    while (alivePid(pid)) {
      if (Date.now() > deadline) {
        process.kill(pid, "SIGKILL");
        break;
      }
      await sleep(20);
    }
    live.delete(pid);
  }

  logTail(lines = 20) {
    try {
      return fs.readFileSync(this.logPath, "utf8").split("\n").slice(-lines).join("\n");
    } catch {
      return "";
    }
  }
}

function alivePid(pid) {
  try {
    process.kill(pid, 0);
    return true;
  } catch {
    return false;
  }
}

// ---------------------------------------------------------------------------------------------
// The cluster

export class Cluster {
  /**
   * @param {object} [opts]
   * @param {number} [opts.nodes] socket nodes (3)
   * @param {Record<string,string>} [opts.env] extra env of the socket nodes
   */
  constructor(opts = {}) {
    this.nodeCount = opts.nodes ?? 3;
    this.extraEnv = opts.env ?? {};
    this.run = rand(10);
    this.database = `chat_cluster_${this.run}`;
    this.redisPrefix = `cl${this.run}:`;
    this.amqpPrefix = `cl${this.run}`;
    this.amqpUrl = process.env.CHAT_TEST_AMQP_URL;
    this.mongoUrl = process.env.CHAT_TEST_MONGODB_URL;
    this.dir = null;
    this.redis = null;
    this.auth = null;
    this.nodes = [];
  }

  /** Every process, for log dumps. */
  get procs() {
    return [this.auth, ...this.nodes, this.redis].filter(Boolean);
  }

  queue(name) {
    return `${this.amqpPrefix}.${name}`;
  }

  async start() {
    this.dir = await fsp.mkdtemp(path.join(os.tmpdir(), "chat-cluster-"));
    const { privateKey, publicKey } = crypto.generateKeyPairSync("ed25519");
    const priv = path.join(this.dir, "jwt.pem");
    const pub = path.join(this.dir, "jwt.pub.pem");
    await fsp.writeFile(priv, privateKey.export({ type: "pkcs8", format: "pem" }), { mode: 0o600 });
    await fsp.writeFile(pub, publicKey.export({ type: "spki", format: "pem" }));

    this.redis = await new PrivateRedis(this.dir).start();
    const common = {
      CHAT_MONGODB_URL: this.mongoUrl,
      CHAT_MONGODB_DATABASE: this.database,
      CHAT_REDIS_URL: this.redis.url,
      CHAT_REDIS_PREFIX: this.redisPrefix,
    };
    this.auth = new ServiceProc("auth", "auth-service", "CHAT_AUTH_LISTEN", {
      ...common,
      CHAT_JWT_PRIVATE_KEY_FILE: priv,
    }, this.dir);
    for (let i = 0; i < this.nodeCount; i++) {
      this.nodes.push(new ServiceProc(`node${i}`, "socket-service", "CHAT_SOCKET_LISTEN", {
        ...common,
        CHAT_AMQP_URL: this.amqpUrl,
        CHAT_AMQP_PREFIX: this.amqpPrefix,
        // No db-writer runs here (the tests read its queue themselves), so there is none to
        // wait for when Redis has no sequencing epoch yet.
        CHAT_SEQUENCER_DRAIN_WRITER: "false",
        CHAT_JWT_PUBLIC_KEY_FILE: pub,
        CHAT_PRESENCE_NODE_TTL_MS: "3000",
        CHAT_SEND_RATE_BURST: "1000000",
        ...this.extraEnv,
      }, this.dir));
    }
    await Promise.all([this.auth.start(), ...this.nodes.map((n) => n.start())]);
    return this;
  }

  async stop() {
    await Promise.allSettled([this.auth, ...this.nodes].filter(Boolean).map((p) => p.stop()));
    if (this.redis) await this.redis.stop({ save: false }).catch(() => {});
  }

  async cleanup() {
    await this.stop();
    await this.deleteAmqpTopology().catch(() => {});
    if (!this.dir) return;
    if (process.env.E2E_KEEP) {
      console.error(`[e2e] kept the cluster's logs in ${this.dir}`);
    } else {
      await fsp.rm(this.dir, { recursive: true, force: true });
    }
  }

  /** Removes this run's exchanges and queues from the shared broker (best effort). */
  async deleteAmqpTopology() {
    const { default: amqp } = await import("amqplib");
    const conn = await amqp.connect(this.amqpUrl);
    try {
      const ch = await conn.createChannel();
      for (const q of ["db-writer", "push-service", "db-writer.dead", "push-service.dead"]) {
        await ch.deleteQueue(this.queue(q));
      }
      for (const x of ["chat.events", "chat.dead"]) await ch.deleteExchange(`${this.amqpPrefix}.${x}`);
    } finally {
      await conn.close().catch(() => {});
    }
  }
}

/**
 * Takes every message out of `queue` (no other consumer may be running); resolves with the
 * parsed JSON bodies (a body that is not JSON is returned as {unparsed: text}).
 */
export async function drainQueue(amqpUrl, queue, { idleMs = 1500 } = {}) {
  const { default: amqp } = await import("amqplib");
  const conn = await amqp.connect(amqpUrl);
  try {
    const ch = await conn.createChannel();
    const { messageCount } = await ch.checkQueue(queue);
    const out = [];
    await new Promise((resolve, reject) => {
      let idle;
      const bump = () => {
        clearTimeout(idle);
        idle = setTimeout(resolve, idleMs);
      };
      ch.consume(
        queue,
        (msg) => {
          if (!msg) return;
          const text = msg.content.toString("utf8");
          try {
            out.push({ body: JSON.parse(text), routingKey: msg.fields.routingKey, persistent: msg.properties.deliveryMode === 2 });
          } catch {
            out.push({ body: { unparsed: text }, routingKey: msg.fields.routingKey });
          }
          // Stops once nothing more came for `idleMs` (the count may be stale).
          bump();
        },
        { noAck: true },
      ).then(bump, reject);
    });
    return { messageCount, messages: out };
  } finally {
    await conn.close().catch(() => {});
  }
}

/** `$CHAT_TEST_RABBITMQCTL args…` (the test node of scripts/test-servers). */
export async function rabbitmqctl(...args) {
  const ctl = process.env.CHAT_TEST_RABBITMQCTL;
  if (!ctl) throw new Error("CHAT_TEST_RABBITMQCTL is not set");
  const { stdout } = await execFileP(ctl, args, { timeout: 60_000 });
  return stdout;
}
