// A child process of the multi-process tests (processes.test.mjs): opens
// the store its first argument describes (JSON, see open-store.mjs) and
// runs one task on it, printing its result as JSON on stdout. A divergence
// from what the contract allows makes it exit non-zero with the reason on
// stderr.
//
//   counter LOOPS INCREMENTS       get + cas increments of ["counter"]
//   claim KEY_JSON COUNT           COUNT concurrent cas(key, undefined, id),
//                                  fired when a line arrives on stdin (it
//                                  prints "ready" first, once connected)
//   mixed CONFIG_JSON              random operations for a while, checked
//                                  against a model (see mixed() below)
import { isDeepStrictEqual } from "node:util";
import { Temporal } from "@js-temporal/polyfill";
import { openStore } from "./open-store.mjs";

const [spec, task, ...args] = process.argv.slice(2);
const kv = openStore(JSON.parse(spec));

async function counter(loops, increments) {
  let retries = 0;
  const loop = async () => {
    for (let i = 0; i < increments; i++) {
      for (;;) {
        const current = await kv.get(["counter"]);
        if (await kv.cas(["counter"], current, (current ?? 0) + 1)) break;
        retries++;
      }
    }
  };
  await Promise.all(Array.from({ length: loops }, loop));
  return { retries };
}

async function claim(key, count) {
  // Connect first, so that every process's claims leave at the same moment.
  await kv.get(["warm-up"]);
  process.stdout.write("ready\n");
  await new Promise((resolve) => process.stdin.once("data", resolve));
  process.stdin.destroy();
  const ids = Array.from({ length: count }, (_, i) => `${process.pid}-${i}`);
  const results = await Promise.all(ids.map((id) => kv.cas(key, undefined, id)));
  return { wins: ids.filter((_, i) => results[i]) };
}

/** A small seeded generator (mulberry32), so that a failure can be replayed. */
function random(seed) {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

/**
 * Random set/get/delete/cas/list on this worker's own keys (under
 * [ns, "w" + worker]) for `ms` milliseconds, each result checked against a
 * model of those keys; short TTLs are checked only where the answer is
 * certain (a margin either side of the expiry, and after it the store's
 * `graceMs`, KV Connect's). Besides, every 8th step
 * increments the shared [ns, "counter"] of all workers with get + cas, and
 * every 16th claims the next of the shared keys [ns, "claims", n] with
 * cas(key, undefined, worker). Prints the model, the increments and the
 * claims won, for the parent to check the final state against.
 */
async function mixed({ ns, worker, seed, ms, keys: keyCount, graceMs = 0 }) {
  const rand = random(seed);
  const pick = (list) => list[Math.floor(rand() * list.length)];
  const MARGIN = 40;
  const own = [ns, `w${worker}`];
  const keys = Array.from({ length: keyCount }, (_, i) =>
    i % 3 === 2 ? [...own, `k${i - 1}`, "child"] : [...own, `k${i}`],
  );
  // key text → { value, earliest, latest } (expiry window in epoch ms, or
  // Infinity); absent keys have no entry.
  const model = new Map();
  const counts = { set: 0, get: 0, delete: 0, cas: 0, list: 0, increments: 0, claims: 0, uncertain: 0 };
  const claimsWon = [];
  let nextClaim = 0;
  const fail = (message) => {
    throw new Error(`worker ${worker} (seed ${seed}): ${message}`);
  };
  const newValue = () => {
    const value = {
      w: worker,
      n: Math.floor(rand() * 1e6),
      s: [..."é😀:_%*"].slice(0, Math.floor(rand() * 7)).join(""),
    };
    return rand() < 0.5 ? value : { s: value.s, n: value.n, w: worker };
  };
  const newTtl = () => {
    const r = rand();
    if (r < 0.5) return null;
    if (r < 0.8) return Math.floor(rand() * 200) + 20;
    return 3_600_000;
  };
  /** What the key holds: "present" (with entry), "absent" or "unsure". */
  const state = (k, at) => {
    const entry = model.get(JSON.stringify(k));
    if (entry === undefined) return ["absent"];
    if (at.end < entry.earliest - MARGIN) return ["present", entry];
    if (at.start > entry.latest + graceMs + MARGIN) return ["absent"];
    return ["unsure", entry];
  };
  const write = (k, value, ttlMs, start, end) => {
    if (value === undefined) model.delete(JSON.stringify(k));
    else {
      model.set(JSON.stringify(k), {
        value: JSON.parse(JSON.stringify(value)),
        earliest: ttlMs === null ? Infinity : start + ttlMs,
        latest: ttlMs === null ? Infinity : end + ttlMs,
      });
    }
  };
  const timed = async (action) => {
    const start = Date.now();
    const result = await action();
    return { result, at: { start, end: Date.now() } };
  };
  const ttlOption = (ttlMs) => (ttlMs === null ? undefined : { ttl: Temporal.Duration.from({ milliseconds: ttlMs }) });

  const stop = Date.now() + ms;
  for (let step = 1; Date.now() < stop; step++) {
    if (step % 8 === 0) {
      for (;;) {
        const current = await kv.get([ns, "counter"]);
        if (await kv.cas([ns, "counter"], current, (current ?? 0) + 1)) break;
      }
      counts.increments++;
    }
    if (step % 16 === 0) {
      // Claims race with the other workers', for keys none of them wrote.
      for (let n = nextClaim; n < nextClaim + 3; n++) {
        if (await kv.cas([ns, "claims", String(n)], undefined, worker)) claimsWon.push(n);
      }
      nextClaim += 1 + Math.floor(rand() * 2);
      counts.claims++;
    }
    const k = pick(keys);
    const op = pick(["set", "set", "get", "get", "delete", "cas", "cas", "cas", "list"]);
    counts[op]++;
    if (op === "set") {
      const value = newValue();
      const ttlMs = newTtl();
      const { at } = await timed(() => kv.set(k, value, ttlOption(ttlMs)));
      write(k, value, ttlMs, at.start, at.end);
    } else if (op === "delete") {
      await kv.delete(k);
      model.delete(JSON.stringify(k));
    } else if (op === "get") {
      const { result, at } = await timed(() => kv.get(k));
      const [s, entry] = state(k, at);
      if (s === "present" && !isDeepStrictEqual(result, entry.value))
        fail(`get ${JSON.stringify(k)} gave ${JSON.stringify(result)}, not ${JSON.stringify(entry.value)}`);
      if (s === "absent" && result !== undefined)
        fail(`get ${JSON.stringify(k)} gave ${JSON.stringify(result)}, expected nothing`);
      if (s === "unsure") {
        counts.uncertain++;
        if (result !== undefined && !isDeepStrictEqual(result, entry.value))
          fail(`get ${JSON.stringify(k)} gave ${JSON.stringify(result)}`);
      }
    } else if (op === "cas") {
      const [before, entry] = state(k, { start: Date.now(), end: Date.now() });
      const kind = pick(["current", "absent", "other"]);
      const expected = kind === "current" ? entry?.value : kind === "absent" ? undefined : newValue();
      const value = rand() < 0.15 ? undefined : newValue();
      const ttlMs = newTtl();
      const { result, at } = await timed(() => kv.cas(k, expected, value, ttlOption(ttlMs)));
      const [s, now] = state(k, at);
      const matches = (live) =>
        expected === undefined
          ? live === undefined
          : live !== undefined && isDeepStrictEqual(live, JSON.parse(JSON.stringify(expected)));
      if (s === "unsure") {
        counts.uncertain++;
        // Either the entry was there (and the answer is whether it matched)
        // or it had expired (and the answer is whether absent matched).
        if (result !== matches(now.value) && result !== matches(undefined))
          fail(`cas ${JSON.stringify(k)} answered ${result}`);
        if (result) write(k, value, ttlMs, at.start, at.end);
        else if (matches(now.value)) model.delete(JSON.stringify(k)); // so it had expired
      } else {
        const live = s === "present" ? now.value : undefined;
        if (result !== matches(live))
          fail(`cas ${JSON.stringify(k)} (${kind}, ${before}) answered ${result} with ${JSON.stringify(live)} stored`);
        if (result) write(k, value, ttlMs, at.start, at.end);
      }
    } else {
      const prefix = rand() < 0.5 ? own : k;
      const { result: entries, at } = await timed(async () => {
        const out = [];
        for await (const entry of kv.list(prefix)) out.push(entry);
        return out;
      });
      const seen = new Map(entries.map((e) => [JSON.stringify(e.key), e.value]));
      if (seen.size !== entries.length) fail(`list ${JSON.stringify(prefix)} gave a key twice`);
      for (const [text, value] of seen) {
        const key = JSON.parse(text);
        if (!prefix.every((p, i) => key[i] === p)) fail(`list ${JSON.stringify(prefix)} gave ${text}`);
        const [s, entry] = state(key, at);
        if (s === "absent") fail(`list ${JSON.stringify(prefix)} gave ${text}, which is not there`);
        if (!isDeepStrictEqual(value, entry.value))
          fail(`list gave ${text} = ${JSON.stringify(value)}, not ${JSON.stringify(entry.value)}`);
      }
      for (const k2 of keys) {
        if (!prefix.every((p, i) => k2[i] === p)) continue;
        if (state(k2, at)[0] === "present" && !seen.has(JSON.stringify(k2)))
          fail(`list ${JSON.stringify(prefix)} missed ${JSON.stringify(k2)}`);
      }
    }
  }
  return { counts, model: [...model], claimsWon };
}

let result;
if (task === "counter") result = await counter(Number(args[0]), Number(args[1]));
else if (task === "claim") result = await claim(JSON.parse(args[0]), Number(args[1]));
else if (task === "mixed") result = await mixed(JSON.parse(args[0]));
else throw new Error(`no task ${task}`);
await kv.close();
process.stdout.write(`${JSON.stringify(result)}\n`);
