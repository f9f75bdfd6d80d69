// One pair of benchmark/runtimes.mjs, run on its runtime (Node, Deno or
// Bun), in a process of its own: every workload of workloads.mjs and the
// big-table ones on fedikv's store and the alternative (runtime-stores.mjs),
// the two taking turns, and, for SQLite, the asynchronous boundary
// (runtime-boundary.mjs). Progress goes to stderr; the result is one line
// of JSON on stdout.
//
//   <runtime> benchmark/lib/runtime-worker.mjs '{"pair":"SQLite","reps":1,"durationMs":300}'
import { randomUUID } from "node:crypto";
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import process from "node:process";
import { CONCURRENCY, measureWorkload, summarizeRuns, timeWorkloads } from "./measure.mjs";
import { measureAsyncBoundary } from "./runtime-boundary.mjs";
import { RUNTIME, runtimePair, runtimeVersion } from "./runtime-stores.mjs";
import { bigTableEntries, bigTableWorkloads, prefillThroughStore, workloads } from "./workloads.mjs";

const builtInTemporal = globalThis.Temporal !== undefined;
const Temporal = globalThis.Temporal ?? (await import("@js-temporal/polyfill")).Temporal;

const { pair: pairName, reps, durationMs } = JSON.parse(process.argv[2] ?? "{}");
if (!(typeof pairName === "string" && reps >= 1 && durationMs > 0)) {
  throw new Error('runtime-worker.mjs needs \'{"pair":NAME,"reps":N,"durationMs":MS}\'');
}
const log = (...parts) => process.stderr.write(`[${RUNTIME}] ${parts.join(" ")}\n`);

const dir = mkdtempSync(join(tmpdir(), `fedikv-bench-${RUNTIME}-`));
let files = 0;
const file = () => join(dir, `store-${files++}`);

/** One workload on a fresh store of `side`: { [concurrency]: timing } or { skip }. */
const measureOn = (side, workload) =>
  measureWorkload({ open: () => side.open(file()), close: (kv) => side.close(kv) }, workload, durationMs);

/** The big-table workloads on one store of `side` holding 100,000 entries, into `raw`. */
async function measureBigTable(side, raw) {
  const ns = ["bench", randomUUID()];
  const path = file();
  const started = performance.now();
  if (side.fill) await side.fill(path, bigTableEntries(ns));
  const kv = await side.open(path);
  try {
    if (!side.fill) await prefillThroughStore(kv, bigTableEntries(ns), Temporal);
    log(`    ${side.label}: 100,000 entries in ${((performance.now() - started) / 1000).toFixed(1)} s`);
    await timeWorkloads(kv, ns, bigTableWorkloads(Temporal), raw, durationMs);
  } finally {
    await side.close(kv);
  }
}

async function measurePair(pair) {
  const sides = { alternative: pair.alternative, fedikv: pair.fedikv };
  const raw = { alternative: {}, fedikv: {} };
  for (const workload of workloads(Temporal)) {
    for (let rep = 0; rep < reps; rep++) {
      // The two stores take turns, so that drift of the machine hits both.
      for (const [name, side] of Object.entries(sides)) {
        const result = await measureOn(side, workload);
        for (const concurrency of CONCURRENCY) {
          ((raw[name][workload.name] ??= {})[concurrency] ??= []).push(result.skip ? result : result[concurrency]);
        }
      }
    }
    log(`  ${workload.name}`);
  }
  for (let rep = 0; rep < reps; rep++) {
    for (const [name, side] of Object.entries(sides)) await measureBigTable(side, raw[name]);
  }
  const operations = {};
  for (const [op, byConcurrency] of Object.entries(raw.fedikv)) {
    operations[op] = {};
    for (const [concurrency, runs] of Object.entries(byConcurrency)) {
      const fedikv = summarizeRuns(runs);
      const alternative = summarizeRuns(raw.alternative[op][concurrency]);
      const ratio = fedikv.skip || alternative.skip ? null : fedikv.opsPerSec.median / alternative.opsPerSec.median;
      operations[op][concurrency] = { alternative, fedikv, ratio };
    }
  }
  return { alternative: pair.alternative.label, fedikv: pair.fedikv.label, operations };
}

const pair = await runtimePair(pairName);
const result = { runtime: runtimeVersion(), temporal: builtInTemporal ? "built in" : "@js-temporal/polyfill" };
try {
  log(`▶ ${pair.name}: ${pair.fedikv.label} vs ${pair.alternative.label}`);
  result.pair = await measurePair(pair);
  if (pair.sqlite) {
    log("  the asynchronous boundary");
    result.asyncBoundary = await measureAsyncBoundary(pair, file, durationMs * reps);
  }
} finally {
  rmSync(dir, { recursive: true, force: true });
}
process.stdout.write(`${JSON.stringify(result)}\n`);
