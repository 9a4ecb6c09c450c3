// BENCHMARKS.md from the results of one run (see run.js), with the plots drawn by
// `loadgen plot`. Every figure comes from a measured step; where a scenario did not produce
// one, the report says so instead of a number.

import { execFileSync } from "node:child_process";
import fs from "node:fs";
import os from "node:os";
import path from "node:path";
import { fileURLToPath } from "node:url";

const fmt = (v, digits = 0) =>
  v === undefined || v === null || Number.isNaN(v) ? "–" : Number(v).toLocaleString("en-US", { maximumFractionDigits: digits, minimumFractionDigits: digits });
const ms = (v) => (v === undefined || v === null ? "–" : v < 10 ? fmt(v, 2) : fmt(v, 1));
const ratio = (a, b) => (a && b ? `${fmt(a / b, 1)}×` : "–");
const median = (xs) => {
  const s = xs.filter((x) => x !== undefined && x !== null && !Number.isNaN(x)).sort((a, b) => a - b);
  if (!s.length) return undefined;
  const m = Math.floor(s.length / 2);
  return s.length % 2 ? s[m] : (s[m - 1] + s[m]) / 2;
};

export async function writeReport(run) {
  const { results, failures, benchDir, repoDir } = run;
  const reps = [...new Set(results.map((r) => r.rep))].sort();
  const sel = (scenario, side) => results.filter((r) => r.scenario === scenario && r.side === side);
  const byRep = (records) => reps.map((rep) => records.filter((r) => r.rep === rep));

  // The best step of a rooms run that is below saturation (the last unsaturated step).
  const sustained = (records) => {
    const ok = records.filter((r) => r.step && !r.step.saturated);
    return ok.length ? ok[ok.length - 1].step : undefined;
  };
  const out = [];
  const w = (s = "") => out.push(s);

  w("# Benchmarks");
  w();
  w("Our server and the Node.js Socket.IO peer on the same machine, in the same run, in alternating");
  w("phases (ours, the peer, ours, the peer, …). Written by `scripts/bench all`; every figure below is");
  w("a measurement of that run (the raw steps are in [`bench/results.jsonl`](bench/results.jsonl)).");
  w();
  w("## The run");
  w();
  w(`- command: \`${run.command}\``);
  w(`- started ${run.started.toISOString()}, finished ${run.finished.toISOString()} (${fmt((run.finished - run.started) / 60000, 1)} min)`);
  w(`- machine: ${run.machine.cpu}, ${run.machine.memory}, ${run.machine.kernel}; ${run.machine.rustc}; Node.js ${run.machine.node}`);
  w(`- load average at the end: ${run.machine.load} (other work on the machine shares its cores with the servers and the generator)`);
  w(`- commit ${run.machine.commit}; ${run.repeats} repetition(s) of each phase pair; rate steps of ${run.step} s`);
  w("- the generator (`packages/loadgen`, release build) runs on the same cores as the servers: every");
  w("  figure is for the servers and the generator sharing two cores, on loopback");
  if (failures.length) {
    w();
    w("**Phases that failed** (their figures are missing below):");
    w();
    for (const f of failures) w(`- ${f}`);
  }
  w();
  const load1 = Number(String(run.machine.load).split(" ")[0]);
  const cores = Number(String(run.machine.cpu).split(" ")[0]) || os.cpus().length;
  if (load1 > cores) {
    w();
    w(`**Read every figure below with this in mind:** the load average (${fmt(load1, 1)}) was above the`);
    w(`number of cores (${cores}) during the run: other work was competing for the CPU with the servers and`);
    w("the generator, so latencies include time spent waiting for a core and saturation comes early for");
    w("every side. Relative figures (ours against the peer and the raw baseline, in alternating phases)");
    w("are more telling than absolute ones, and even they vary between repetitions.");
  }
  w();
  w("## What runs");
  w();
  w("- **ours (distributed)**: one `auth-service` and two `socket-service` nodes on one Redis (sharded");
  w("  pub/sub adapter, sequencer, presence, rate limits) and RabbitMQ (publisher confirms before the ack);");
  w("  MongoDB is the `nx-27017` MongoDB-wire stand-in of the test servers. Server CPU and memory: the two");
  w("  socket nodes and their Redis (RabbitMQ and the MongoDB stand-in are not counted).");
  w("- **ours (standalone)**: the `chat` binary, SQLite, everything in one process.");
  w("- **node**: `bench/peer.js`, socket.io 4 with `@socket.io/redis-adapter` (sharded), two processes on");
  w("  their own Redis. It relays only: broadcast to the room and ack, no accounts, no storage, no broker,");
  w("  no sequencing across processes, so it does less work per message than ours. Counted: both");
  w("  processes and their Redis.");
  w("- **raw**: `loadgen raw-server`, one process, plain WebSocket (tokio-tungstenite) speaking the same");
  w("  frames with no Socket.IO, no adapter, no storage: each broadcast encoded once and shared.");
  w("- The generator connects from 127.0.0.1–127.0.0.8, speaks Socket.IO v5 over WebSocket as the official");
  w("  client does, sends open-loop at a fixed total rate (latency counted from each message's scheduled");
  w("  time), records every delivery and ack in HDR histograms and, after each step, waits up to 5 s");
  w("  for the last ones: what has not arrived by then counts as *undelivered* (lost or only very late;");
  w("  the generator cannot tell which). A step **saturates** when its delivery p99 exceeds 250 ms, a");
  w("  message or ack is undelivered, a send is");
  w("  refused or a connection drops; stepping stops there, and *sustained* below means the last step");
  w("  before it.");
  w("- Ours runs with `CHAT_SEND_RATE_BURST=1000000` (the per-user send limit would otherwise refuse the");
  w("  load) and `CHAT_ACCESS_TOKEN_TTL_SECS=7200` (users registered once are reused across phases).");
  w();

  // ---- figures to reach
  // Only the first repetition: a server keeps the memory its allocator got, so later repetitions
  // against the same process start from a high base and show little growth.
  const idleAt = (side) => {
    const levels = sel("idle", side).filter((r) => r.rep === reps[0]).map((r) => r.level).filter(Boolean);
    const top = Math.max(0, ...levels.map((l) => l.connections));
    return { top, kib: median(levels.filter((l) => l.connections === top).map((l) => l.kib_per_connection)) };
  };
  const eff = (scenario, side) => median(byRep(sel(scenario, side)).map((rs) => sustained(rs)?.deliveries_per_cpu_sec));
  const step1 = (scenario, side, pick) => median(sel(scenario, side).map((r) => (r.step ? pick(r.step) : undefined)));
  const idleOurs = idleAt("ours");
  const idleNode = idleAt("node");
  const effOurs = eff("fanout-100", "ours");
  const effNode = eff("fanout-100", "node");
  const effRaw = eff("fanout-100", "raw");
  // At the lowest rate, saturated or not: what is left to compare when a side never sustained.
  const effFirst = (side) => median(byRep(sel("fanout-100", side)).map((rs) => rs[0]?.step?.deliveries_per_cpu_sec));
  const crossP99 = step1("cross-node", "ours", (s) => s.delivery_latency.p99_ms);
  const crossLost = sel("cross-node", "ours").reduce((n, r) => n + (r.step?.lost ?? 0), 0);
  const ackP99 = step1("durable-ack", "ours", (s) => s.ack_latency.p99_ms);
  const standaloneBest = median(byRep(sel("standalone", "ours")).map((rs) => sustained(rs)?.acked_per_sec));
  // Whatever the latency: the most acks per second any step got, with every send acked.
  const standaloneTop = Math.max(0, ...sel("standalone", "ours").filter((r) => r.step && r.step.unanswered === 0).map((r) => r.step.acked_per_sec));

  w("## The figures against the targets");
  w();
  w("Medians over the repetitions (idle memory: the first repetition, see below). “met” is judged on");
  w("this run only.");
  w();
  w("| figure | target | ours | node | verdict |");
  w("|---|---|---|---|---|");
  const verdict = (ok) => (ok === undefined ? "not measured" : ok ? "met" : "**not met**");
  w(`| RSS per idle connection (at ${fmt(idleOurs.top)} / ${fmt(idleNode.top)} connections) | ≤ 8 KiB and ≥ 5× below node | ${fmt(idleOurs.kib, 1)} KiB | ${fmt(idleNode.kib, 1)} KiB (node ÷ ours: ${idleOurs.kib ? fmt(idleNode.kib / idleOurs.kib, 2) : "–"}) | ${verdict(idleOurs.kib === undefined ? undefined : idleOurs.kib <= 8 && idleNode.kib / idleOurs.kib >= 5)} |`);
  w(`| fan-out deliveries per server CPU-second, rooms of 100, sustained | ≥ 5× node, ≥ 70% of raw (${fmt(effRaw)}) | ${fmt(effOurs)} | ${fmt(effNode)} | ${effOurs === undefined && sel("fanout-100", "ours").length
    ? `**not met**: ours saturated at its lowest rate; there, per CPU-s: ours ${fmt(effFirst("ours"))}, node ${fmt(effFirst("node"))}, raw ${fmt(effFirst("raw"))}`
    : `${verdict(effOurs === undefined ? undefined : effOurs >= 5 * effNode && effOurs >= 0.7 * effRaw)} (${ratio(effOurs, effNode)} node, ${effRaw ? fmt((100 * effOurs) / effRaw) : "–"}% of raw)`} |`);
  w(`| cross-node delivery p99, 1k msg/s into rooms of 100 | ≤ 5 ms, nothing lost | ${ms(crossP99)} ms, ${fmt(crossLost)} not delivered | ${ms(step1("cross-node", "node", (s) => s.delivery_latency.p99_ms))} ms | ${verdict(crossP99 === undefined ? undefined : crossP99 <= 5 && crossLost === 0)} |`);
  w(`| durable-ack p99 at 5k msg/s | ≤ 3 ms | ${ms(ackP99)} ms | ${ms(step1("durable-ack", "node", (s) => s.ack_latency.p99_ms))} ms (not durable) | ${verdict(ackP99 === undefined ? undefined : ackP99 <= 3)} |`);
  w(`| standalone acked messages/s, sustained | ≥ 20,000 | ${fmt(standaloneBest)} (most in any fully acked step, latency aside: ${fmt(standaloneTop)}) | – | ${verdict(sel("standalone", "ours").length ? (standaloneBest ?? 0) >= 20000 : undefined)} |`);
  w();

  // ---- plots
  let plots = [];
  try {
    const listed = execFileSync(run.loadgen, ["plot", "--results", path.join(benchDir, "results.jsonl"), "--dir", path.join(benchDir, "plots")], { encoding: "utf8" });
    plots = listed.split("\n").filter(Boolean);
  } catch (e) {
    w(`(The plots could not be drawn: ${String(e.message).split("\n")[0]}.)`);
    w();
  }

  // ---- 1. idle
  w("## 1. Idle capacity");
  w();
  w("Connections that only connect (authenticated, joined to the user's rooms) and answer pings, opened");
  w("to one node (ours: a socket-service node of the distributed mode; node: one peer process). RSS");
  w("growth of that process over its RSS before the first connection, per connection. The servers are");
  w("not restarted between repetitions and keep the memory their allocators got, so only the first");
  w("repetition measures growth from a fresh process; the later ones are listed for completeness.");
  w();
  w("| side | rep | connections | failed | RSS before | RSS | KiB per connection |");
  w("|---|---|---|---|---|---|---|");
  for (const side of ["ours", "node"]) {
    for (const r of sel("idle", side)) {
      const l = r.level;
      w(`| ${side} | ${r.rep} | ${fmt(l.connections)} | ${fmt(l.failed)} | ${fmt(l.rss_before_kib / 1024, 1)} MiB | ${fmt(l.rss_kib / 1024, 1)} MiB | ${fmt(l.kib_per_connection, 2)} |`);
    }
  }
  w();
  if (plots.includes("idle-memory.png")) w("![idle memory](bench/plots/idle-memory.png)\n");

  // ---- 2. fan-out
  w("## 2. Fan-out");
  w();
  w("1,000 sockets in rooms of 10, 100 or 1,000 members, one sender per room; senders and receivers");
  w("spread over both nodes (the raw baseline is one process). The rate (messages per second, all");
  w("rooms together) steps up until a step saturates.");
  w();
  w("Deliveries per CPU-second are also given for the first step (the lowest rate), saturated or not.");
  w();
  w("| room size | side | rep | sustained msg/s | deliveries/s | deliveries per CPU-s | p50 ms | p99 ms | p99.9 ms | first saturated step | deliveries per CPU-s at the first step |");
  w("|---|---|---|---|---|---|---|---|---|---|---|");
  for (const size of [10, 100, 1000]) {
    for (const side of ["ours", "node", "raw"]) {
      for (const rs of byRep(sel(`fanout-${size}`, side))) {
        if (!rs.length) continue;
        const s = sustained(rs);
        const sat = rs.find((r) => r.step?.saturated)?.step;
        const why = sat
          ? `${fmt(sat.rate)} msg/s: p99 ${ms(sat.delivery_latency.p99_ms)} ms, undelivered ${fmt(sat.lost)}, unanswered ${fmt(sat.unanswered)}, refused ${fmt(sat.refused)}, dropped ${fmt(sat.connections_lost)}`
          : "none (top step reached)";
        w(`| ${size} | ${side} | ${rs[0].rep} | ${s ? fmt(s.rate) : "–"} | ${s ? fmt(s.deliveries_per_sec) : "–"} | ${s ? fmt(s.deliveries_per_cpu_sec) : "–"} | ${s ? ms(s.delivery_latency.p50_ms) : "–"} | ${s ? ms(s.delivery_latency.p99_ms) : "–"} | ${s ? ms(s.delivery_latency.p999_ms) : "–"} | ${why} | ${fmt(rs[0].step?.deliveries_per_cpu_sec)} (${fmt(rs[0].step?.rate)} msg/s) |`);
      }
    }
  }
  w();
  for (const p of ["fanout-latency.png", "fanout-efficiency.png"]) if (plots.includes(p)) w(`![${p}](bench/plots/${p})\n`);

  // ---- 3. / 4. fixed-rate latency
  const fixed = (scenario, title, text, hist) => {
    w(`## ${title}`);
    w();
    w(text);
    w();
    w("| side | rep | msg/s sent | acked | delivered / expected | not delivered after the drain | p50 ms | p99 ms | p99.9 ms | max ms |");
    w("|---|---|---|---|---|---|---|---|---|---|");
    for (const side of ["ours", "node"]) {
      for (const r of sel(scenario, side)) {
        const s = r.step;
        const h = s[hist];
        w(`| ${side} | ${r.rep} | ${fmt(s.sent / s.secs)} | ${fmt(s.acked)} | ${fmt(s.delivered)} / ${fmt(s.expected_deliveries)} | ${fmt(s.lost)} | ${ms(h.p50_ms)} | ${ms(h.p99_ms)} | ${ms(h.p999_ms)} | ${ms(h.max_ms)} |`);
      }
    }
    w();
  };
  fixed("cross-node", "3. Cross-node latency", "Ten rooms of 100 members; each room's sender on node A, the other 99 members on node B; 1,000 msg/s in all (100,000 deliveries/s). Send-to-receive latency.", "delivery_latency");
  fixed("durable-ack", "4. Durable ack latency", "100 one-member rooms, 5,000 `message:send`/s over both nodes; latency from the scheduled send to its ack. Ours acks after sequencing in Redis and RabbitMQ's publisher confirm; the peer's ack is not durable.", "ack_latency");
  w("### Standalone acked throughput");
  w();
  w("100 one-member rooms on the standalone binary, rate stepped up until saturation.");
  w();
  w("| rep | msg/s offered | acked/s | ack p50 ms | ack p99 ms | saturated |");
  w("|---|---|---|---|---|---|");
  for (const r of sel("standalone", "ours")) {
    const s = r.step;
    w(`| ${r.rep} | ${fmt(s.rate)} | ${fmt(s.acked_per_sec)} | ${ms(s.ack_latency.p50_ms)} | ${ms(s.ack_latency.p99_ms)} | ${s.saturated ? "yes" : "no"} |`);
  }
  w();
  if (plots.includes("latency-percentiles.png")) w("![latency percentiles](bench/plots/latency-percentiles.png)\n");
  if (fs.existsSync(path.join(benchDir, "PROFILE.md"))) {
    w("## What limits us");
    w();
    w("Where a figure above falls short, [bench/PROFILE.md](bench/PROFILE.md) says why, with the profiles");
    w("(perf, strace, heaptrack) that show it, the changes they led to and what each changed.");
    w();
  }

  // The search figures come from another command (`scripts/bench search`): kept as they are.
  const report = path.join(repoDir, "BENCHMARKS.md");
  const previous = fs.existsSync(report) ? fs.readFileSync(report, "utf8") : "";
  const search = previous.match(/<!-- search -->[\s\S]*<!-- \/search -->\n?/);
  if (search) w(search[0]);
  fs.writeFileSync(report, out.join("\n"));
}

// `node bench/report.js`: the report again from bench/results.jsonl and bench/run.json (the
// same measurements, e.g. after a change to this file).
if (process.argv[1] && path.resolve(process.argv[1]) === fileURLToPath(import.meta.url)) {
  const benchDir = path.dirname(fileURLToPath(import.meta.url));
  const meta = JSON.parse(fs.readFileSync(path.join(benchDir, "run.json"), "utf8"));
  const results = fs.readFileSync(path.join(benchDir, "results.jsonl"), "utf8").split("\n").filter(Boolean).map((l) => JSON.parse(l));
  const targetDir = process.env.CARGO_TARGET_DIR ? path.resolve(process.env.CARGO_TARGET_DIR) : path.join(benchDir, "..", "target");
  await writeReport({
    ...meta,
    started: new Date(meta.started),
    finished: new Date(meta.finished),
    results,
    benchDir,
    repoDir: path.dirname(benchDir),
    loadgen: path.join(process.env.CHAT_SERVICE_BIN_DIR ?? path.join(targetDir, "release"), "loadgen"),
  });
}
