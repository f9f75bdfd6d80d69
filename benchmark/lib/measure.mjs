// Timing: run an operation from N concurrent workers for a fixed time and
// report throughput, and at concurrency 1 the latency percentiles; one
// workload on a fresh store, and the summary of repeated timings.
import { randomUUID } from "node:crypto";

/**
 * Runs `op(i, worker)` from `concurrency` workers until `durationMs` has
 * passed (at least `minOps` operations). Resolves to
 * `{ ops, opsPerSec, p50Us, p99Us }`; latencies are sampled per operation.
 */
export async function timeOps({ concurrency, durationMs, op, minOps = 20 }) {
  const latencies = [];
  let ops = 0;
  let stop = false;
  const started = performance.now();
  const deadline = started + durationMs;
  async function worker(w) {
    for (let i = w; !stop; i += concurrency) {
      const t0 = performance.now();
      await op(i, w);
      const t1 = performance.now();
      latencies.push(t1 - t0);
      ops++;
      if (t1 >= deadline && ops >= minOps) stop = true;
    }
  }
  await Promise.all(Array.from({ length: concurrency }, (_, w) => worker(w)));
  const seconds = (performance.now() - started) / 1000;
  latencies.sort((a, b) => a - b);
  const pct = (p) => latencies[Math.min(latencies.length - 1, Math.floor(latencies.length * p))] * 1000;
  return { ops, opsPerSec: ops / seconds, p50Us: pct(0.5), p99Us: pct(0.99) };
}

/** Median and spread (min, max) of numbers. */
export function summarize(values) {
  const sorted = [...values].sort((a, b) => a - b);
  const mid = sorted.length >> 1;
  const median = sorted.length % 2 ? sorted[mid] : (sorted[mid - 1] + sorted[mid]) / 2;
  return { median, min: sorted[0], max: sorted.at(-1), runs: sorted.length };
}

/** The concurrencies every workload is timed at. */
export const CONCURRENCY = [1, 64];

/**
 * One workload on a fresh store from `open()`, closed with `close(kv)`
 * after: `{ [concurrency]: timing }`, or `{ skip }` when the store lacks
 * what the workload needs.
 */
export async function measureWorkload({ open, close }, workload, durationMs) {
  const kv = await open();
  try {
    const skip = workload.needs?.(kv);
    if (skip) return { skip };
    const ns = ["bench", randomUUID()];
    await workload.prepare?.(kv, ns);
    const out = {};
    for (const concurrency of CONCURRENCY) {
      out[concurrency] = await timeOps({ concurrency, durationMs, op: workload.op(kv, ns) });
    }
    return out;
  } finally {
    await close(kv);
  }
}

/**
 * Times each of `list` (the big-table workloads) on `kv`, whose entries
 * are under `ns`, at every concurrency, pushing each timing (or its skip)
 * onto `results[name][concurrency]`; `after(workload)` runs after each.
 */
export async function timeWorkloads(kv, ns, list, results, durationMs, after) {
  for (const workload of list) {
    const skip = workload.needs?.(kv);
    for (const concurrency of CONCURRENCY) {
      const timing = skip ? { skip } : await timeOps({ concurrency, durationMs, op: workload.op(kv, ns) });
      ((results[workload.name] ??= {})[concurrency] ??= []).push(timing);
    }
    await after?.(workload);
  }
}

/** Median and spread of repeated timings, or the reason they were skipped (or not run). */
export function summarizeRuns(runs) {
  if (!runs || runs.some((r) => r.skip)) return { skip: runs?.find((r) => r.skip)?.skip ?? "not run" };
  return {
    opsPerSec: summarize(runs.map((r) => r.opsPerSec)),
    p50Us: summarize(runs.map((r) => r.p50Us)).median,
    p99Us: summarize(runs.map((r) => r.p99Us)).median,
  };
}
