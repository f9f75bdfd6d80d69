// Timing: run an operation from N concurrent workers for a fixed time and
// report throughput, and at concurrency 1 the latency percentiles.

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
