// Drives scripts/local-cluster (the distributed mode as separate processes behind a local
// NGINX) for the acceptance test: up, down, kill one process, destroy; log tails for failures.
//
// - The binaries: the same as lib/cluster.js (CHAT_SERVICE_BIN_DIR, else
//   $CARGO_TARGET_DIR/debug, else <repo>/target/debug), passed on as CHAT_SERVICE_BIN_DIR so
//   the script does not build.
// - Needs CHAT_TEST_AMQP_URL and CHAT_TEST_S3_ENDPOINT (scripts/test-servers start): RabbitMQ and
//   S3 are the test servers; the cluster brings its own Redis, MongoDB-wire server and NGINX.

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
  constructor() {
    this.dir = null;
    this.url = null;
    this.env = null;
  }

  async run(...args) {
    try {
      const { stdout } = await execFileP(SCRIPT, [...args, this.dir], {
        env: { ...process.env, CHAT_SERVICE_BIN_DIR: binDir() },
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
