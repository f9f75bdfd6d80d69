// The operations the benchmark times. Each workload gets a store and a key
// namespace of its own; `prepare` fills what it reads, `op(kv, ns)` returns
// the operation `(i, worker) => Promise` that is timed.
import { note, publicKey, remoteDocument } from "./documents.mjs";

const DOC = note(0);
const DAY = { days: 1 };
const FIVE_MINUTES = { minutes: 5 };
const hasCas = (kv) => typeof kv.cas === "function";

export function workloads(Temporal) {
  const day = Temporal.Duration.from(DAY);
  const fiveMinutes = Temporal.Duration.from(FIVE_MINUTES);
  return [
    {
      name: "get (hit, 1.5 KB)",
      prepare: async (kv, ns) => {
        for (let i = 0; i < 1000; i++) await kv.set([...ns, "doc", String(i)], note(i));
      },
      op: (kv, ns) => (i) => kv.get([...ns, "doc", String(i % 1000)]),
    },
    {
      name: "get (miss)",
      op: (kv, ns) => (i) => kv.get([...ns, "missing", String(i)]),
    },
    {
      name: "set (1.5 KB)",
      op: (kv, ns) => (i) => kv.set([...ns, "doc", String(i % 1000)], DOC),
    },
    {
      name: "cas increment",
      needs: (kv) => (hasCas(kv) ? null : "no cas()"),
      // Each worker increments its own counter: the cost of get + cas, not
      // of contention (the tests cover contention).
      op: (kv, ns) => async (_i, worker) => {
        const key = [...ns, "counter", String(worker)];
        for (;;) {
          const current = await kv.get(key);
          if (await kv.cas(key, current, (current ?? 0) + 1)) return;
        }
      },
    },
    fedifyDay("Fedify day (1 inbound activity)", { withCas: true }, day, fiveMinutes),
    // Fedify's Redis store has no cas(): this mix leaves the two cas steps
    // out on both sides, so that the two stores do the same work.
    fedifyDay("Fedify day without cas", { withCas: false }, day, fiveMinutes),
  ];
}

/**
 * What Fedify does per inbound activity, roughly: idempotence check and
 * record (1 day), the sender's public key, the remote document cache (80 %
 * hits; a 1–20 KB document set on a miss, 5 minutes) and, `withCas`, a cas
 * claim of task deduplication and a circuit-breaker cas loop.
 */
function fedifyDay(name, { withCas }, day, fiveMinutes) {
  return {
    name,
    needs: (kv) => (!withCas || hasCas(kv) ? null : "no cas()"),
    prepare: async (kv, ns) => {
      for (let i = 0; i < 500; i++) await kv.set([...ns, "publicKey", String(i)], publicKey(i));
      for (let i = 0; i < 800; i++) {
        await kv.set([...ns, "remoteDocument", String(i)], remoteDocument(i), { ttl: fiveMinutes });
      }
    },
    op: (kv, ns) => async (i) => {
      const idempotence = [...ns, "activityIdempotence", String(i)];
      if ((await kv.get(idempotence)) === undefined) await kv.set(idempotence, true, { ttl: day });
      await kv.get([...ns, "publicKey", String(i % 500)]);
      const docKey = [...ns, "remoteDocument", String(i % 1000)];
      if ((await kv.get(docKey)) === undefined) await kv.set(docKey, remoteDocument(i), { ttl: fiveMinutes });
      if (!withCas) return;
      await kv.cas([...ns, "claim", String(i)], undefined, "worker", { ttl: fiveMinutes });
      const breaker = [...ns, "circuitBreaker", `host${i % 20}`];
      for (;;) {
        const state = await kv.get(breaker);
        const next = { failures: ((state?.failures ?? 0) + 1) % 5, state: "closed" };
        if (await kv.cas(breaker, state, next)) break;
      }
    },
  };
}

/** Workloads on a table that already holds 100,000 entries. */
export function bigTableWorkloads(Temporal) {
  const day = Temporal.Duration.from(DAY);
  return [
    {
      name: "list 1,000 of 100,000",
      needs: (kv) => (typeof kv.list === "function" ? null : "no list()"),
      op: (kv, ns) => async () => {
        let n = 0;
        for await (const _ of kv.list([...ns, "list"])) n++;
        if (n !== 1000) throw new Error(`listed ${n} entries, not 1000`);
      },
    },
    {
      name: "set into 100,000 (1-day TTL)",
      op: (kv, ns) => (i) => kv.set([...ns, "new", String(i)], true, { ttl: day }),
    },
  ];
}

/**
 * The 100,000 entries: 99,000 idempotence-like records with a 1-day TTL and
 * 1,000 notes under [...ns, "list"], as key/value/ttl triples.
 */
export function* bigTableEntries(ns) {
  for (let i = 0; i < 99_000; i++)
    yield { key: [...ns, "seen", String(i).padStart(6, "0")], value: true, ttlMs: 86_400_000 };
  for (let i = 0; i < 1000; i++)
    yield { key: [...ns, "list", String(i).padStart(4, "0")], value: note(i, 300), ttlMs: null };
}
