// The benchmark run behind `scripts/bench all`: starts both sides on this machine, runs every
// scenario against each in alternating phases (ours, the Node.js peer, ours, the peer, …),
// keeps every measured step in bench/results.jsonl (and the run's particulars in bench/run.json),
// then writes BENCHMARKS.md and the plots; `node bench/report.js` writes them again from those two.
//
// Our side: the distributed mode (one auth-service and two socket-service nodes on a private
// Redis and the test RabbitMQ and MongoDB-wire servers), and the standalone binary. The peer:
// bench/peer.js, two processes on another private Redis. The ceiling: `loadgen raw-server`.
//
// Needs CHAT_TEST_MONGODB_URL and CHAT_TEST_AMQP_URL (scripts/bench runs it under
// scripts/test-servers), the release binaries (CHAT_SERVICE_BIN_DIR) and redis-server.
// CHAT_BENCH_REPEATS (2) sets how many times each phase pair runs, CHAT_BENCH_STEP_SECS (4)
// how long each rate step lasts, CHAT_BENCH_IDLE_LEVELS (1000,5000,10000,19000) the idle
// connection counts, CHAT_BENCH_ONLY a comma-separated subset of scenarios.

import { spawn, execFileSync } from "node:child_process";
import fs from "node:fs";
import fsp from "node:fs/promises";
import net from "node:net";
import os from "node:os";
import path from "node:path";
import { fileURLToPath } from "node:url";
import { Cluster, PrivateRedis, ServiceProc, binDir } from "../tests/e2e/lib/cluster.js";
import { freePort, sleep } from "../tests/e2e/lib/server.js";
import { writeReport } from "./report.js";

const BENCH_DIR = path.dirname(fileURLToPath(import.meta.url));
const REPO_DIR = path.dirname(BENCH_DIR);
const RESULTS = path.join(BENCH_DIR, "results.jsonl");
const LOADGEN = path.join(binDir(), "loadgen");

const REPEATS = Number(process.env.CHAT_BENCH_REPEATS ?? 2);
const STEP = String(process.env.CHAT_BENCH_STEP_SECS ?? 4);
const IDLE_LEVELS = process.env.CHAT_BENCH_IDLE_LEVELS ?? "1000,5000,10000,19000";
const ONLY = process.env.CHAT_BENCH_ONLY ? new Set(process.env.CHAT_BENCH_ONLY.split(",")) : null;
const FANOUT = [
  // room size, rooms (1,000 sockets in all), rates (messages per second, all rooms together)
  { size: 10, rooms: 100, rates: "200,500,1000,2000,5000,10000,20000" },
  { size: 100, rooms: 10, rates: "20,50,100,200,500,1000,2000" },
  { size: 1000, rooms: 1, rates: "2,5,10,20,50,100,200" },
];

const started = new Date();
const log = (...a) => console.error(`[bench ${((Date.now() - started) / 1000).toFixed(0)}s]`, ...a);

/** A process of ours (the peer, the raw server), ready once its port accepts connections. */
class Proc {
  constructor(name, cmd, args, env, logDir) {
    Object.assign(this, { name, cmd, args, env, logPath: path.join(logDir, `${name}.log`) });
  }

  async start(port) {
    this.port = port;
    const out = fs.openSync(this.logPath, "a");
    this.proc = spawn(this.cmd, this.args, { env: { ...process.env, ...this.env }, stdio: ["ignore", out, out] });
    fs.closeSync(out);
    const deadline = Date.now() + 30_000;
    while (Date.now() < deadline) {
      if (this.proc.exitCode !== null) throw new Error(`${this.name} exited:\n${fs.readFileSync(this.logPath, "utf8")}`);
      if (await accepts(port)) return this;
      await sleep(50);
    }
    throw new Error(`${this.name} did not listen on ${port}`);
  }

  stop() {
    if (this.proc && this.proc.exitCode === null) this.proc.kill("SIGTERM");
  }
}

function accepts(port) {
  return new Promise((resolve) => {
    const s = net.connect(port, "127.0.0.1");
    s.on("connect", () => (s.destroy(), resolve(true)));
    s.on("error", () => resolve(false));
  });
}

const addr = (p) => `127.0.0.1:${p.port}`;

/** Runs the generator; resolves with the JSON line of every measured step or level. */
function loadgen(args, logPath) {
  return new Promise((resolve, reject) => {
    const child = spawn(LOADGEN, args, { stdio: ["ignore", "pipe", "pipe"] });
    let out = "";
    child.stdout.on("data", (d) => (out += d));
    child.stderr.on("data", (d) => fs.appendFileSync(logPath, d));
    child.on("exit", (code) => {
      const lines = out.split("\n").filter(Boolean).map((l) => JSON.parse(l));
      if (code === 0) resolve(lines);
      else reject(Object.assign(new Error(`loadgen ${args.join(" ")} exited with ${code}`), { lines }));
    });
  });
}

async function main() {
  const dir = await fsp.mkdtemp(path.join(os.tmpdir(), "chat-bench-"));
  log(`logs in ${dir}`);
  // Tokens must outlive the run: users registered in the first phase are reused in the last.
  process.env.CHAT_ACCESS_TOKEN_TTL_SECS = "7200";
  const results = [];
  const failures = [];
  const procs = [];
  let cluster = null;
  let peerRedis = null;
  try {
    cluster = await new Cluster({ nodes: 2, env: { CHAT_PRESENCE_NODE_TTL_MS: "15000" } }).start();
    const [node0, node1] = cluster.nodes;
    log("distributed mode up", cluster.nodes.map(addr).join(" "));

    const standaloneDir = path.join(dir, "standalone");
    await fsp.mkdir(standaloneDir);
    const standalone = new ServiceProc("standalone", "chat", "CHAT_LISTEN", {
      CHAT_DATA_DIR: standaloneDir,
      CHAT_SEND_RATE_BURST: "1000000",
    }, dir);
    await standalone.start();
    procs.push(standalone);

    peerRedis = await new PrivateRedis(await fsp.mkdtemp(path.join(dir, "peer-redis-"))).start();
    const peers = [];
    for (const i of [0, 1]) {
      const peer = new Proc(`peer${i}`, process.execPath, [path.join(BENCH_DIR, "peer.js")], {
        REDIS_URL: peerRedis.url,
        PORT: String(await freePort()),
      }, dir);
      await peer.start(Number(peer.env.PORT));
      peers.push(peer);
      procs.push(peer);
    }
    const rawPort = await freePort();
    const raw = await new Proc("raw", LOADGEN, ["raw-server", "--listen", `127.0.0.1:${rawPort}`], {}, dir).start(rawPort);
    procs.push(raw);
    log("peer, standalone and raw baseline up");

    const ours = {
      side: "ours",
      target: ["--target", "chat", "--http", node0.url, "--auth", cluster.auth.url],
      node0: addr(node0),
      node1: addr(node1),
      pids: [node0.proc.pid, node1.proc.pid, cluster.redis.pid()],
      cache: path.join(dir, "users-ours.json"),
      idleCache: path.join(dir, "users-ours-idle.json"),
    };
    const node = {
      side: "node",
      target: ["--target", "relay"],
      node0: addr(peers[0]),
      node1: addr(peers[1]),
      pids: [peers[0].proc.pid, peers[1].proc.pid, peerRedis.pid()],
    };
    const ceiling = {
      side: "raw",
      target: ["--target", "relay"],
      node0: addr(raw),
      node1: addr(raw),
      pids: [raw.proc.pid],
    };
    const users = (s, cache) => (cache ? ["--users-cache", cache] : []);

    const scenarios = [
      {
        name: "idle",
        sides: [ours, node],
        args: (s) => ["idle", ...s.target, "--addr", s.node0, "--levels", IDLE_LEVELS, "--users", "100",
          "--pids", String(s.pids[0]), ...users(s, s.idleCache)],
      },
      ...FANOUT.map((f) => ({
        name: `fanout-${f.size}`,
        sides: [ours, node, ceiling],
        args: (s) => ["rooms", ...s.target, "--send", `${s.node0},${s.node1}`, "--recv", `${s.node0},${s.node1}`,
          "--rooms", String(f.rooms), "--room-size", String(f.size), "--rates", f.rates, "--step-secs", STEP,
          "--pids", s.pids.join(","), ...users(s, s.cache)],
      })),
      {
        name: "cross-node",
        sides: [ours, node],
        args: (s) => ["rooms", ...s.target, "--send", s.node0, "--recv", s.node1, "--rooms", "10", "--room-size", "100",
          "--rates", "1000", "--step-secs", String(Math.max(Number(STEP), 10)), "--pids", s.pids.join(","), ...users(s, s.cache)],
      },
      {
        name: "durable-ack",
        sides: [ours, node],
        args: (s) => ["rooms", ...s.target, "--send", `${s.node0},${s.node1}`, "--rooms", "100", "--room-size", "1",
          "--rates", "5000", "--step-secs", String(Math.max(Number(STEP), 10)), "--pids", s.pids.join(","), ...users(s, s.cache)],
      },
      {
        name: "standalone",
        sides: [{
          side: "ours",
          target: ["--target", "chat", "--http", standalone.url],
          node0: addr(standalone),
          pids: [standalone.proc.pid],
          cache: path.join(dir, "users-standalone.json"),
        }],
        args: (s) => ["rooms", ...s.target, "--send", s.node0, "--rooms", "100", "--room-size", "1",
          "--rates", "2000,5000,10000,20000,30000,40000", "--step-secs", STEP, "--pids", s.pids.join(","), ...users(s, s.cache)],
      },
    ].filter((s) => !ONLY || ONLY.has(s.name));

    fs.writeFileSync(RESULTS, "");
    for (let rep = 1; rep <= REPEATS; rep++) {
      for (const scenario of scenarios) {
        for (const side of scenario.sides) {
          const args = scenario.args(side);
          // What an earlier phase left behind (a broker backlog the writer is still storing,
          // say) must not run during this one.
          await quiet(log);
          const t0 = Date.now();
          log(`${scenario.name} ${side.side} #${rep}: loadgen ${args.join(" ")}`);
          let lines;
          try {
            lines = await loadgen(args, path.join(dir, "loadgen.log"));
          } catch (e) {
            lines = e.lines ?? [];
            failures.push(`${scenario.name} ${side.side} #${rep}: ${e.message} (see ${dir}/loadgen.log)`);
            log(`FAILED ${e.message}`);
          }
          for (const line of lines) {
            const record = { scenario: scenario.name, side: side.side, rep, ...line };
            results.push(record);
            fs.appendFileSync(RESULTS, `${JSON.stringify(record)}\n`);
          }
          log(`  ${lines.length} results in ${((Date.now() - t0) / 1000).toFixed(0)} s`);
          // Let closed connections and the servers' timers settle between phases.
          await sleep(2000);
        }
      }
    }
  } finally {
    for (const p of procs) p.stop();
    if (cluster) await cluster.cleanup();
    if (peerRedis) await peerRedis.stop({ save: false }).catch(() => {});
  }

  const meta = {
    failures,
    started,
    finished: new Date(),
    command: process.env.CHAT_BENCH_COMMAND ?? "scripts/bench all",
    machine: machine(),
    repeats: REPEATS,
    step: STEP,
  };
  // What the report needs besides the results, so that `node bench/report.js` can redo it.
  fs.writeFileSync(path.join(BENCH_DIR, "run.json"), `${JSON.stringify(meta, null, 2)}\n`);
  await writeReport({
    ...meta,
    results,
    benchDir: BENCH_DIR,
    repoDir: REPO_DIR,
    loadgen: LOADGEN,
  });
  log(`done: BENCHMARKS.md (${results.length} results, ${failures.length} failures)`);
}

/** The machine's CPU time so far: busy and total jiffies over all cores (/proc/stat). */
function cpuTimes() {
  const [, ...fields] = fs.readFileSync("/proc/stat", "utf8").split("\n")[0].trim().split(/\s+/);
  const n = fields.map(Number);
  const idle = n[3] + (n[4] ?? 0);
  const total = n.reduce((a, b) => a + b, 0);
  return { busy: total - idle, total };
}

/**
 * Waits until the machine is quiet: under 15% of its CPU busy over a second, for at most 90 s
 * (then says so and goes on).
 */
async function quiet(log) {
  const deadline = Date.now() + 90_000;
  for (;;) {
    const a = cpuTimes();
    await sleep(1000);
    const b = cpuTimes();
    const busy = (b.busy - a.busy) / Math.max(1, b.total - a.total);
    if (busy < 0.15) return;
    if (Date.now() > deadline) {
      log(`  the machine is still ${(busy * 100).toFixed(0)}% busy; going on`);
      return;
    }
  }
}

function machine() {
  const cpus = os.cpus();
  const sh = (cmd, args) => {
    try {
      return execFileSync(cmd, args, { encoding: "utf8" }).trim();
    } catch {
      return "?";
    }
  };
  return {
    cpu: `${cpus.length} × ${cpus[0]?.model ?? "?"}`,
    memory: `${(os.totalmem() / 2 ** 30).toFixed(1)} GiB`,
    kernel: `${os.type()} ${os.release()}`,
    node: process.version,
    rustc: sh("rustc", ["--version"]),
    load: os.loadavg().map((l) => l.toFixed(2)).join(" "),
    commit: sh("git", ["-C", REPO_DIR, "rev-parse", "--short", "HEAD"]),
  };
}

await main();
