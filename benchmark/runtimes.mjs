#!/usr/bin/env node
// Each runtime's own store: fedikv beside the store a Fedify user on that
// runtime would otherwise pick, every workload of the main benchmark and the
// big-table ones, at concurrency 1 and 64, reported as fedikv ÷ alternative.
//
//   Deno 2.9:  DenoKvStore vs Fedify's Deno KV store on Deno.openKv(), and
//              SqliteKvStore vs @fedify/sqlite on node:sqlite
//   Bun 1.4:   SqliteKvStore vs @fedify/sqlite on bun:sqlite
//   Node 24:   SqliteKvStore vs @fedify/sqlite on node:sqlite
//
// and, beside each, what the asynchronous boundary costs there
// (benchmark/lib/runtime-boundary.mjs).
//
//   node benchmark/runtimes.mjs                   3 repetitions, 1 s per measurement
//   node benchmark/runtimes.mjs --quick           1 repetition, 0.3 s (a smoke run)
//   node benchmark/runtimes.mjs --runtimes deno,bun --reps 5 --seconds 2 --out DIR
//
// The runtimes are the ones scripts/runtimes.mjs installs from npm. Each
// pair runs benchmark/lib/runtime-worker.mjs in a process of its own, after
// a sync(1): the files one pair wrote (Deno KV's 100,000-entry tables) are
// on disk before the next pair's fsyncs are timed, else their writeback
// slows a later synchronous store several-fold. Writes
// DIR/runtimes.json and DIR/runtimes.md (DIR: benchmark/results). It is a
// benchmark, not a test: it asserts nothing about speed.
import { spawn, spawnSync } from "node:child_process";
import { mkdirSync, writeFileSync } from "node:fs";
import os from "node:os";
import { dirname, join } from "node:path";
import { fileURLToPath } from "node:url";
import { parseArgs } from "node:util";
import { ensureRuntime } from "../scripts/runtimes.mjs";
import { fmt, latencyCell, opsCell } from "./lib/report.mjs";

const here = dirname(fileURLToPath(import.meta.url));
const root = dirname(here);
const worker = join(here, "lib", "runtime-worker.mjs");

/** The runtimes this benchmark knows: their pairs (runtime-stores.mjs), and how each runs the worker. */
const RUNNERS = {
  deno: {
    pairs: ["Deno KV", "SQLite"],
    // Deno.openKv() is still behind --unstable-kv in Deno 2.9.
    args: (config) => ["run", "--allow-all", "--unstable-kv", worker, config],
  },
  bun: { pairs: ["SQLite"], args: (config) => [worker, config] },
  node24: {
    pairs: ["SQLite"],
    // node:sqlite still says it is experimental on Node 24; the warning is no news here.
    args: (config) => ["--disable-warning=ExperimentalWarning", worker, config],
  },
};

const { values: args } = parseArgs({
  options: {
    quick: { type: "boolean", default: false },
    reps: { type: "string" },
    seconds: { type: "string" },
    runtimes: { type: "string" },
    out: { type: "string", default: join(here, "results") },
  },
});
const reps = Number(args.reps ?? (args.quick ? 1 : 3));
const durationMs = 1000 * Number(args.seconds ?? (args.quick ? 0.3 : 1));
const names = args.runtimes ? args.runtimes.split(",").map((n) => n.trim()) : Object.keys(RUNNERS);
const fail = (message) => {
  console.error(`benchmark/runtimes.mjs: ${message}`);
  process.exit(1);
};
const unknown = names.filter((n) => !Object.hasOwn(RUNNERS, n));
if (unknown.length > 0) fail(`unknown runtime(s) ${unknown.join(", ")}; known: ${Object.keys(RUNNERS).join(", ")}`);
if (!(reps >= 1 && durationMs > 0)) fail("--reps and --seconds must be positive numbers");

/** Each runtime's binary, installed first if missing; fails the run when one cannot be. */
const binaries = {};
for (const name of names) {
  try {
    binaries[name] = ensureRuntime(name);
  } catch (error) {
    fail(`cannot install the runtime ${name} (scripts/runtimes.mjs): ${error.message}`);
  }
}

/** Runs the worker for one pair on one runtime: its JSON result, its stderr passed through. */
function runWorker(name, pair) {
  const argv = RUNNERS[name].args(JSON.stringify({ pair, reps, durationMs }));
  return new Promise((resolve, reject) => {
    const child = spawn(binaries[name], argv, { cwd: root, stdio: ["ignore", "pipe", "inherit"] });
    let stdout = "";
    child.stdout.setEncoding("utf8").on("data", (chunk) => {
      stdout += chunk;
    });
    child.once("error", reject);
    child.once("close", (status, signal) => {
      const last = stdout.trim().split("\n").at(-1);
      if (status !== 0) return reject(new Error(`the ${name} worker (${pair}) exited with ${status ?? signal}`));
      try {
        resolve(JSON.parse(last));
      } catch {
        reject(new Error(`the ${name} worker (${pair}) printed no JSON: ${JSON.stringify(stdout.slice(-500))}`));
      }
    });
  });
}

const collected = { machine: machine(), started: new Date().toISOString(), reps, durationMs, runtimes: {} };
for (const name of names) {
  console.error(`▶ ${name} (${binaries[name]})`);
  for (const pair of RUNNERS[name].pairs) {
    spawnSync("sync");
    let result;
    try {
      result = await runWorker(name, pair);
    } catch (error) {
      fail(error.message);
    }
    const runtime = (collected.runtimes[name] ??= { runtime: result.runtime, temporal: result.temporal, pairs: {} });
    runtime.pairs[pair] = result.pair;
    if (result.asyncBoundary) runtime.asyncBoundary = result.asyncBoundary;
  }
}

function machine() {
  return {
    cpus: `${os.cpus().length} × ${os.cpus()[0]?.model ?? "?"}`,
    memory: `${Math.round(os.totalmem() / 2 ** 30)} GiB`,
    platform: `${os.platform()} ${os.release()}`,
  };
}

const ratioCell = (r) => (r == null ? "n/a" : `**${r.toFixed(2)}×**`);

/** Every pair of every runtime, as [column title, pair]. */
function allPairs(result) {
  return Object.values(result.runtimes).flatMap((rt) =>
    Object.entries(rt.pairs).map(([name, pair]) => [`${rt.runtime}: ${name}`, pair]),
  );
}

function summaryTable(result) {
  const pairs = allPairs(result);
  const lines = [
    `| operation | conc. | ${pairs.map(([title]) => title).join(" | ")} |`,
    `|---|---:|${pairs.map(() => "---:|").join("")}`,
  ];
  const [, first] = pairs[0];
  for (const [op, byConcurrency] of Object.entries(first.operations)) {
    for (const concurrency of Object.keys(byConcurrency)) {
      const cells = pairs.map(([, pair]) => ratioCell(pair.operations[op]?.[concurrency]?.ratio));
      lines.push(`| ${op} | ${concurrency} | ${cells.join(" | ")} |`);
    }
  }
  return lines;
}

function pairTable(title, pair) {
  const lines = [
    `#### ${title}: ${pair.fedikv} vs ${pair.alternative}`,
    "",
    "| operation | conc. | alternative ops/s | fedikv ops/s | fedikv ÷ alternative | alternative p50 / p99 µs | fedikv p50 / p99 µs |",
    "|---|---:|---:|---:|---:|---:|---:|",
  ];
  for (const [op, byConcurrency] of Object.entries(pair.operations)) {
    for (const [concurrency, r] of Object.entries(byConcurrency)) {
      const lat = (s) => latencyCell(s, concurrency);
      lines.push(
        `| ${op} | ${concurrency} | ${opsCell(r.alternative)} | ${opsCell(r.fedikv)} | ${ratioCell(r.ratio)} | ${lat(r.alternative)} | ${lat(r.fedikv)} |`,
      );
    }
  }
  lines.push("");
  return lines;
}

function boundaryTable(rt) {
  const lines = [
    `#### ${rt.runtime}: the asynchronous boundary (one 1.5 KB read at a time)`,
    "",
    "| call | calls/s | µs per call |",
    "|---|---:|---:|",
  ];
  for (const { label, opsPerSec } of rt.asyncBoundary) {
    lines.push(`| ${label} | ${fmt(opsPerSec)} | ${(1e6 / opsPerSec).toFixed(2)} |`);
  }
  lines.push("");
  return lines;
}

function markdown(result) {
  const runtimes = Object.values(result.runtimes);
  const lines = [
    `Machine: ${result.machine.cpus}, ${result.machine.memory}. ${result.reps} repetition(s) of ` +
      `${result.durationMs / 1000} s per measurement. Runtimes: ` +
      `${runtimes.map((rt) => `${rt.runtime} (Temporal ${rt.temporal})`).join(", ")}.`,
    "",
    "fedikv ÷ the alternative, operations per second (median); above 1 fedikv is faster:",
    "",
    ...summaryTable(result),
    "",
  ];
  for (const [title, pair] of allPairs(result)) lines.push(...pairTable(title, pair));
  for (const rt of runtimes) if (rt.asyncBoundary) lines.push(...boundaryTable(rt));
  return lines.join("\n");
}

mkdirSync(args.out, { recursive: true });
writeFileSync(join(args.out, "runtimes.json"), `${JSON.stringify(collected, null, 2)}\n`);
const md = markdown(collected);
writeFileSync(join(args.out, "runtimes.md"), `${md}\n`);
console.log(md);
