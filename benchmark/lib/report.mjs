// The cells of the benchmark's Markdown tables (benchmark/run.mjs and
// benchmark/runtimes.mjs).

/** A rate or a latency: whole numbers with separators from 100, else one decimal. */
export const fmt = (n) => (n >= 100 ? Math.round(n).toLocaleString("en-US") : n.toFixed(1));

/** A side's summarized rate: median (min–max), or why it did not run. */
export const opsCell = (s) =>
  s.skip ? `n/a (${s.skip})` : `${fmt(s.opsPerSec.median)} (${fmt(s.opsPerSec.min)}–${fmt(s.opsPerSec.max)})`;

/** A side's p50 / p99 latency, given at concurrency 1 only. */
export const latencyCell = (s, concurrency) =>
  s.skip || concurrency !== "1" ? "" : `${fmt(s.p50Us)} / ${fmt(s.p99Us)}`;
