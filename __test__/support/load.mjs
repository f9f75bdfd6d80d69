// A bounded, steady load on a store from several concurrent clients, for
// the fault tests: each client writes new keys, reads back keys it wrote,
// and increments a counter of its own with get + cas, pausing a little
// between operations. Every operation is recorded with its start, end and
// outcome; every write that resolved is remembered, to be checked after
// the fault.
import { isDeepStrictEqual } from "node:util";
import { setTimeout as sleep } from "node:timers/promises";

/**
 * Starts `clients` loops on `kv` under the key prefix `[prefix]`. Client
 * `c` writes `[prefix, ...partsOf(c), "c<c>", "<n>"]` and counts in
 * `[prefix, ...partsOf(c), "counter<c>"]`; `partsOf` (none by default) can
 * pin a client's keys, e.g. to one Redis Cluster node with a hash tag.
 * Returns `{ stop(), ops, acked, wrongReads }`: `stop()` ends the loops and
 * resolves once every operation in flight has settled.
 */
export function startLoad(kv, { prefix, clients = 4, pauseMs = 5, partsOf = () => [] } = {}) {
  const ops = [];
  const acked = new Map();
  const wrongReads = [];
  let running = true;
  const key = (client, n) => [prefix, ...partsOf(client), `c${client}`, String(n)];

  async function timed(client, op, key, call) {
    const record = { client, op, key, start: performance.now(), end: null, ok: false, code: null, message: null };
    ops.push(record);
    try {
      const result = await call();
      record.ok = true;
      return { ok: true, result };
    } catch (error) {
      record.code = error?.code ?? null;
      record.message = String(error?.message ?? error);
      return { ok: false, error };
    } finally {
      record.end = performance.now();
    }
  }

  async function client(c) {
    const mine = [];
    const counterKey = [prefix, ...partsOf(c), `counter${c}`];
    let counter;
    for (let n = 0; running; n++) {
      const step = n % 3;
      if (step === 0) {
        const k = key(c, n);
        const value = { client: c, n, text: "x".repeat(64) };
        const done = await timed(c, "set", k, () => kv.set(k, value));
        if (done.ok) {
          acked.set(JSON.stringify(k), value);
          mine.push(k);
        }
      } else if (step === 1 && mine.length > 0) {
        const k = mine[Math.floor(Math.random() * mine.length)];
        const done = await timed(c, "get", k, () => kv.get(k));
        if (done.ok && !isDeepStrictEqual(done.result, acked.get(JSON.stringify(k)))) {
          wrongReads.push({ key: k, got: done.result });
        }
      } else {
        if (counter === undefined) {
          const read = await timed(c, "get", counterKey, () => kv.get(counterKey));
          if (read.ok) counter = read.result ?? 0;
        } else {
          const done = await timed(c, "cas", counterKey, () =>
            kv.cas(counterKey, counter === 0 ? undefined : counter, counter + 1),
          );
          // A cas that failed (or timed out, perhaps after it was applied)
          // leaves the counter unknown: read it again next time.
          counter = done.ok && done.result ? counter + 1 : undefined;
        }
      }
      await sleep(pauseMs);
    }
  }

  const loops = Array.from({ length: clients }, (_, c) => client(c));
  return {
    ops,
    acked,
    wrongReads,
    async stop() {
      running = false;
      await Promise.all(loops);
    },
  };
}

/**
 * Figures of a run around a fault: operations before, during and after,
 * the slowest failure, and when the store worked again.
 * `backAt`: when the server was back (performance.now()).
 */
export function summarize(ops, { faultAt, backAt }) {
  const failed = ops.filter((o) => !o.ok);
  const lastFailure = failed.reduce((m, o) => Math.max(m, o.end), -Infinity);
  const latency = (o) => o.end - o.start;
  const after = ops.filter((o) => o.start > Math.max(lastFailure, backAt));
  return {
    ops: ops.length,
    failed: failed.length,
    codes: [...new Set(failed.map((o) => o.code))],
    failedBeforeFault: failed.filter((o) => o.end < faultAt).length,
    maxFailedLatencyMs: Math.round(failed.reduce((m, o) => Math.max(m, latency(o)), 0)),
    maxLatencyMs: Math.round(ops.reduce((m, o) => Math.max(m, latency(o)), 0)),
    // From the first failure to the end of the last one: the outage as the
    // store's callers saw it.
    failingForMs: failed.length === 0 ? 0 : Math.round(lastFailure - Math.min(...failed.map((o) => o.start))),
    // From the server's return to the end of the last failed operation.
    recoveryMs: failed.length === 0 ? 0 : Math.max(0, Math.round(lastFailure - backAt)),
    // From the server's return to the first operation that succeeded.
    firstSuccessMs: Math.round(Math.min(...ops.filter((o) => o.ok && o.end > backAt).map((o) => o.end)) - backAt),
    succeededAfterRecovery: after.filter((o) => o.ok).length,
    sampleErrors: [...new Map(failed.map((o) => [o.code + o.message.slice(0, 60), o.message])).values()].slice(0, 4),
  };
}

export { sleep };
