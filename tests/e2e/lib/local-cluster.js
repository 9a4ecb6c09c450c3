// Drives scripts/local-cluster (the distributed mode as separate processes behind a local
// NGINX) for the acceptance test: up, down, kill one process, destroy; log tails for failures.
//
// - The binaries: the same as lib/cluster.js (CHAT_SERVICE_BIN_DIR, else
//   $CARGO_TARGET_DIR/debug, else <repo>/target/debug), passed on as CHAT_SERVICE_BIN_DIR so
//   the script does not build.
// - Needs CHAT_TEST_AMQP_URL and CHAT_TEST_S3_ENDPOINT (scripts/test-servers start): RabbitMQ and
//   S3 are the test servers; the cluster brings its own Redis, MongoDB-wire server and NGINX.
// - `new LocalCluster({env})`: extra CHAT_* settings for every service (the script passes the
//   environment of `up` on), e.g. a send rate that never limits.

import { execFile } from "node:child_process";
import fs from "node:fs";
import fsp from "node:fs/promises";
import os from "node:os";
import path from "node:path";
import { promisify } from "node:util";
import { binDir } from "./cluster.js";
import { REPO_DIR } from "./server.js";

const execFileP = promisify(execFile);
const SCRIPT = path.join(REPO_DIR, "scripts", "local-cluster");
const BINARIES = ["auth-service", "socket-service", "db-writer", "push-service", "file-service"];
export const PROCESSES = ["nginx", "auth", "socket-1", "socket-2", "db-writer", "push", "file", "redis", "mongodb"];

/** socket.io-client options that make NGINX's affinity send the client to node `n` (1 or 2). */
export const onNode = (n) => ({ extraHeaders: { cookie: `chat_node=n${n}` } });

/** A long-polling client that keeps cookies like a browser does. */
export const polling = { transports: ["polling"], withCredentials: true };

/** Why the local cluster cannot run here (a reason to skip), or null when it can. */
export function localClusterUnavailable() {
  const missing = [];
  for (const v of ["CHAT_TEST_AMQP_URL", "CHAT_TEST_S3_ENDPOINT"]) {
    if (!process.env[v]) missing.push(`$${v} (run under scripts/test or scripts/test-servers)`);
  }
  for (const b of BINARIES) {
    if (!fs.existsSync(path.join(binDir(), b))) missing.push(`${path.join(binDir(), b)} (cargo build --workspace --bins)`);
  }
  return missing.length ? `missing ${missing.join(", ")}` : null;
}

export class LocalCluster {
  /**
   * @param {object} [opts]
   * @param {Record<string,string>} [opts.env] extra environment of every service (CHAT_* settings)
   */
  constructor(opts = {}) {
    this.dir = null;
    this.url = null;
    this.env = null;
    this.extraEnv = opts.env ?? {};
  }

  async run(...args) {
    try {
      const { stdout } = await execFileP(SCRIPT, [...args, this.dir], {
        env: { ...process.env, ...this.extraEnv, CHAT_SERVICE_BIN_DIR: binDir() },
        timeout: 180_000,
        maxBuffer: 16 * 1024 * 1024,
      });
      return stdout;
    } catch (err) {
      throw new Error(`scripts/local-cluster ${args.join(" ")} failed: ${err.message}\n${err.stderr ?? ""}`);
    }
  }

  /** Starts whatever is not running; resolves once NGINX routes to ready services. */
  async up() {
    this.dir ??= path.join(await fsp.mkdtemp(path.join(os.tmpdir(), "chat-local-cluster-")), "cluster");
    const out = await this.run("up");
    this.url = /CHAT_LOCAL_CLUSTER_URL=(\S+)/.exec(out)?.[1];
    if (!this.url) throw new Error(`scripts/local-cluster up printed no URL:\n${out}`);
    this.env = Object.fromEntries(
      fs
        .readFileSync(path.join(this.dir, "cluster.env"), "utf8")
        .split("\n")
        .filter((l) => l.includes("="))
        .map((l) => [l.slice(0, l.indexOf("=")), l.slice(l.indexOf("=") + 1).replace(/^'(.*)'$/, "$1")]),
    );
    return this;
  }

  down() {
    return this.run("down");
  }

  /** SIGKILL one process (a crash). */
  kill(name) {
    return this.run("kill", name);
  }

  /**
   * Sends `signal` to one process's group (e.g. SIGSTOP for a hung process, SIGCONT to resume
   * it); `up` leaves a stopped process alone, since it still runs.
   */
  signal(name, signal) {
    const pid = Number(fs.readFileSync(path.join(this.dir, "run", `${name}.pid`), "utf8").trim());
    process.kill(-pid, signal);
  }

  /** SIGTERM one process (a graceful stop); resolves once it is gone. `up` starts it again. */
  stop(name) {
    return this.run("stop", name);
  }

  /**
   * The socket node (1 or 2) NGINX sends a new Socket.IO session with the affinity cookie of
   * node `n` to right now (read from the cookie NGINX sets on an Engine.IO handshake), or null.
   */
  async socketNodeFor(n) {
    const res = await fetch(`${this.url}/socket.io/?EIO=4&transport=polling`, {
      headers: { cookie: `chat_node=n${n}` },
      signal: AbortSignal.timeout(5000),
    });
    await res.arrayBuffer();
    const m = /chat_node=n(\d)/.exec(res.headers.get("set-cookie") ?? "");
    return res.status === 200 && m ? Number(m[1]) : null;
  }

  /**
   * Waits until NGINX sends each node's affinity cookie to that node again: after a node was
   * down, NGINX keeps sending its clients to the other node for a while (fail_timeout).
   */
  async waitRouted(nodes = [1, 2], ms = 20_000) {
    const deadline = Date.now() + ms;
    for (const n of nodes) {
      let got;
      for (;;) {
        got = await this.socketNodeFor(n).catch(() => null);
        if (got === n) break;
        if (Date.now() > deadline) throw new Error(`NGINX still sends clients of socket-${n} to ${got ? `socket-${got}` : "no node"} after ${ms} ms`);
        await new Promise((r) => setTimeout(r, 250));
      }
    }
  }

  /** Messages ready in one consumer's queue (not counting those delivered and not yet acked). */
  async queueDepth(name = "db-writer") {
    const { default: amqp } = await import("amqplib");
    const conn = await amqp.connect(this.env.AMQP_URL);
    try {
      const ch = await conn.createChannel();
      return (await ch.checkQueue(this.queue(name))).messageCount;
    } finally {
      await conn.close().catch(() => {});
    }
  }

  async destroy() {
    if (!this.dir || !fs.existsSync(path.join(this.dir, "cluster.env"))) return;
    if (process.env.E2E_KEEP) {
      await this.down();
      console.error(`[e2e] kept the local cluster in ${this.dir}`);
      return;
    }
    const prefix = `lc${this.env?.RUN_ID}`;
    await this.run("destroy");
    await fsp.rm(path.dirname(this.dir), { recursive: true, force: true });
    if (this.env) await deleteAmqpTopology(this.env.AMQP_URL, prefix).catch(() => {});
  }

  /** The RabbitMQ queue of one consumer of this cluster (its AMQP prefix). */
  queue(name) {
    return `lc${this.env.RUN_ID}.${name}`;
  }

  /** Objects with name and logTail() for the failure dump of serverTest. */
  get procs() {
    if (!this.dir) return [];
    return PROCESSES.map((name) => ({
      name,
      logPath: path.join(this.dir, "logs", `${name}.log`),
      logTail: (lines = 30) => {
        try {
          return fs.readFileSync(path.join(this.dir, "logs", `${name}.log`), "utf8").split("\n").slice(-lines).join("\n");
        } catch {
          return "";
        }
      },
    }));
  }

  /** Lines of a process's log (all its starts). */
  log(name) {
    try {
      return fs.readFileSync(path.join(this.dir, "logs", `${name}.log`), "utf8");
    } catch {
      return "";
    }
  }
}

/** Removes a cluster's exchanges and queues from the shared broker (best effort). */
async function deleteAmqpTopology(amqpUrl, prefix) {
  const { default: amqp } = await import("amqplib");
  const conn = await amqp.connect(amqpUrl);
  try {
    const ch = await conn.createChannel();
    for (const q of ["db-writer", "push-service", "db-writer.dead", "push-service.dead"]) {
      await ch.deleteQueue(`${prefix}.${q}`);
    }
    for (const x of ["chat.events", "chat.dead"]) await ch.deleteExchange(`${prefix}.${x}`);
  } finally {
    await conn.close().catch(() => {});
  }
}
