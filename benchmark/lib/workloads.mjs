// The operations the benchmark times. Each workload gets a store and a key
// namespace of its own; `prepare` fills what it reads, `op(kv, ns)` returns
// the operation `(i, worker) => Promise` that is timed.
import { note, publicKey, remoteDocument } from "./documents.mjs";

const DOC = note(0);
const DAY = { days: 1 };
const FIVE_MINUTES = { minutes: 5 };
const hasCas = (kv) => typeof kv.cas === "function";

export function workloads(Temporal) {
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
    fedifyDay("Fedify day (1 in + 1 out, with cas)", { withCas: true }, Temporal),
    // Fedify's Redis and PostgreSQL stores have no cas(): this mix leaves
    // the cas steps out on both sides, so that the two stores do the same work.
    fedifyDay("Fedify day (1 in + 1 out, no cas)", { withCas: false }, Temporal),
  ];
}

/**
 * @fedify/postgres 1.8.7 writes a JSON `null` as SQL NULL into its NOT
 * NULL value column, so it rejects `set(key, null)` (PostgreSQL's
 * not_null_violation): Fedify's key cache meets the same rejection when it
 * caches an unavailable key there. Only that rejection is let through.
 */
function rejectsNullOnly(error) {
  if (error?.code !== "23502") throw error;
}

/** The remote servers a day's traffic comes from and goes to. */
const ORIGINS = Array.from({ length: 50 }, (_, n) => `https://remote${n}.example`);
/** Hosts whose deliveries fail, for the circuit breaker's cas loop. */
const FAILING_HOSTS = Array.from({ length: 5 }, (_, n) => `down${n}.example`);
/** Actors whose keys and documents are cached before the run. */
const KNOWN_ACTORS = 500;
const actorUrl = (n) => `${ORIGINS[n % ORIGINS.length]}/users/${n}`;

/**
 * A day of Fedify, one inbound activity plus one delivered activity per
 * operation, with the keys and calls of @fedify/fedify 2.3 (its
 * `kvPrefixes`, under `_fedify`):
 *
 * - delivered, to one of 50 origins: a get and an identical rewrite
 *   without TTL of `["_fedify","httpMessageSignaturesSpec",origin]` (its
 *   KvSpecDeterminer remembers the signature spec after every send: the
 *   hottest write), and two gets of `["_fedify","circuit",host]` (the
 *   circuit breaker's state before the send and on its success; misses,
 *   since a healthy host has no state);
 * - inbound: the idempotence get of `["_fedify","activityIdempotence",
 *   origin + "\n" + activity id]` (a miss: a new activity) and its 1-day
 *   `set(true)`; a get of the sender's key, `["_fedify","publicKey",keyId]`
 *   (9 in 10 hit; a miss caches the key without TTL, or, 1 miss in 10, an
 *   unavailable key as `null` for 10 minutes); two gets of the remote
 *   document cache, `["_fedify","remoteDocument",url]` (the actor and one
 *   object; 4 in 5 hit; a miss caches a 1–20 KB document for 5 minutes).
 *
 * The misses are always of new keys, so the hit rates stay put however
 * long the run. `withCas` adds two uses of `cas`: a claim, `cas(key,
 * undefined, true)` with a 5-minute TTL, of the kind a queue worker makes
 * (Fedify core's own is the one-shot `cas(nonce, true, undefined)` of
 * request nonces), and the circuit breaker's `recordFailure` for one of 5
 * failing hosts: a get and a `cas` of the state with one more failure,
 * rebuilt in another key order (as Fedify rebuilds it), with its TTL.
 * That is 9.5 calls an operation without cas, 12.5 with (more when
 * workers collide on a breaker's state and its cas loop goes round again).
 */
function fedifyDay(name, { withCas }, Temporal) {
  const day = Temporal.Duration.from(DAY);
  const fiveMinutes = Temporal.Duration.from(FIVE_MINUTES);
  const tenMinutes = Temporal.Duration.from({ minutes: 10 });
  const stateTtl = Temporal.Duration.from({ minutes: 90 });
  return {
    name,
    needs: (kv) => (!withCas || hasCas(kv) ? null : "no cas()"),
    prepare: async (kv, ns) => {
      const k = (...parts) => [...ns, "_fedify", ...parts];
      for (const origin of ORIGINS) await kv.set(k("httpMessageSignaturesSpec", origin), "rfc9421");
      for (let n = 0; n < KNOWN_ACTORS; n++) {
        await kv.set(k("publicKey", `${actorUrl(n)}#main-key`), publicKey(n));
        await kv.set(k("remoteDocument", actorUrl(n)), remoteDocument(n), { ttl: fiveMinutes });
        await kv.set(k("remoteDocument", `${actorUrl(n)}/statuses/1`), remoteDocument(n + 1), { ttl: fiveMinutes });
      }
    },
    op: (kv, ns) => async (i) => {
      const k = (...parts) => [...ns, "_fedify", ...parts];
      // Delivered.
      const origin = ORIGINS[i % ORIGINS.length];
      const specKey = k("httpMessageSignaturesSpec", origin);
      const spec = (await kv.get(specKey)) ?? "rfc9421";
      const circuit = k("circuit", new URL(origin).host);
      await kv.get(circuit);
      await kv.set(specKey, spec);
      await kv.get(circuit);
      // Inbound.
      const actor = i % 10 === 0 ? `https://new${i}.example/users/${i}` : actorUrl(i % KNOWN_ACTORS);
      const idempotence = k("activityIdempotence", `${new URL(actor).origin}\n${actor}/activities/${i}`);
      if ((await kv.get(idempotence)) !== true) await kv.set(idempotence, true, { ttl: day });
      const keyId = k("publicKey", `${actor}#main-key`);
      if ((await kv.get(keyId)) === undefined) {
        if (i % 100 === 0) await kv.set(keyId, null, { ttl: tenMinutes }).catch(rejectsNullOnly);
        else await kv.set(keyId, publicKey(i));
      }
      for (const [n, url] of [
        [0, i % 5 === 0 ? `${actor}/new/${i}` : actorUrl(i % KNOWN_ACTORS)],
        [1, i % 5 === 1 ? `${actor}/new/${i}/object` : `${actorUrl((i + 7) % KNOWN_ACTORS)}/statuses/1`],
      ]) {
        const docKey = k("remoteDocument", url);
        if ((await kv.get(docKey)) == null) await kv.set(docKey, remoteDocument(i + n), { ttl: fiveMinutes });
      }
      if (!withCas) return;
      await kv.cas(k("claim", String(i)), undefined, true, { ttl: fiveMinutes });
      const breaker = k("circuit", FAILING_HOSTS[i % FAILING_HOSTS.length]);
      for (;;) {
        const state = await kv.get(breaker);
        const failures = [...(state?.failures ?? []), new Date(1_800_000_000_000 + i).toISOString()].slice(-5);
        // Fedify reads the state into an object of its own and passes
        // that, member order its own, as the expected value.
        const expected =
          state === undefined
            ? undefined
            : { failures: state.failures, state: state.state, __fedifyCircuitBreakerStateVersion: 1 };
        const next = { state: "closed", failures, __fedifyCircuitBreakerStateVersion: 1 };
        if (await kv.cas(breaker, expected, next, { ttl: stateTtl })) break;
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

/** Sets entries (bigTableEntries) through the store itself, 64 at a time. */
export async function prefillThroughStore(kv, entries, Temporal) {
  let batch = [];
  for (const { key, value, ttlMs } of entries) {
    const ttl = ttlMs == null ? undefined : Temporal.Duration.from({ milliseconds: ttlMs });
    batch.push(kv.set(key, value, ttl && { ttl }));
    if (batch.length === 64) {
      await Promise.all(batch);
      batch = [];
    }
  }
  await Promise.all(batch);
}
