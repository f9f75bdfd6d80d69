#!/usr/bin/env node
// WorkersKvStore beside the REST API itself, on the tests' local Worker
// (support/workers-kv/: miniflare, real KV bindings), in one run:
//
//   - fedikv: the store's calls, all made at once, as `migrate` and Fedify
//     make them;
//   - bulk by hand: the fewest requests that do the same work (fetch, the
//     bulk endpoints at their limits, 8 at once): the ceiling;
//   - one request a call: what a client without batching sends (fetch,
//     64 at once).
//
// Each side reports its time and its requests. Against Cloudflare the
// requests are what counts: its API allows a user 1,200 per 5 minutes
// (4 a second), so the last column is how long that limit alone holds
// each side up. There is no Fedify store to set beside it: Fedify's
// WorkersKvStore runs only inside a Worker.
//
//   node benchmark/workerskv.mjs [--entries 2000] [--reps 3]
//
// Needs a release build (`npm run build`) and Node 24 (`npm run runtimes`).
// Writes benchmark/results/workerskv.json and workerskv.md. It is a
// benchmark, not a test: it asserts nothing about speed.
import { mkdirSync, writeFileSync } from "node:fs";
import os from "node:os";
import { dirname, join } from "node:path";
import { fileURLToPath } from "node:url";
import { parseArgs } from "node:util";
import { Temporal } from "@js-temporal/polyfill";
import { WorkersKvStore } from "../index.js";
import { startWorkersKv } from "../support/workers-kv/start.mjs";
import { summarize } from "./lib/measure.mjs";
import { fmt } from "./lib/report.mjs";

const { values: args } = parseArgs({
  options: {
    entries: { type: "string", default: "2000" },
    reps: { type: "string", default: "3" },
    out: { type: "string", default: join(dirname(fileURLToPath(import.meta.url)), "results") },
  },
});
const N = Number(args.entries);
const REPS = Number(args.reps);
/** Cloudflare's API rate limit: 1,200 requests per 5 minutes to a user. */
const RATE_LIMIT_PER_SEC = 1200 / 300;

const emulator = await startWorkersKv();
if (emulator.skip) {
  console.error(`benchmark/workerskv.mjs: ${emulator.skip}`);
  process.exit(1);
}

/** fetch on the REST API of `namespace`: the answer's envelope. */
async function rest(namespace, method, path, body) {
  const url = `${emulator.apiUrl}/accounts/${emulator.accountId}/storage/kv/namespaces/${namespace}${path}`;
  const response = await fetch(url, {
    method,
    headers: { authorization: `Bearer ${emulator.apiToken}`, "content-type": "application/json" },
    body: body === undefined ? undefined : JSON.stringify(body),
  });
  const answer = await response.json();
  if (!answer.success) throw new Error(`${method} ${path}: ${JSON.stringify(answer.errors)}`);
  return answer;
}

/** `jobs` run `width` at a time. */
async function pooled(jobs, width) {
  let next = 0;
  await Promise.all(
    Array.from({ length: width }, async () => {
      while (next < jobs.length) await jobs[next++]();
    }),
  );
}

const chunks = (items, size) =>
  Array.from({ length: Math.ceil(items.length / size) }, (_, i) => items.slice(i * size, (i + 1) * size));

const keys = Array.from({ length: N }, (_, i) => ["_fedify", "bench", String(i).padStart(6, "0")]);
const value = (i) => ({ "@context": "https://www.w3.org/ns/activitystreams", id: `https://a.example/${i}`, n: i });
const names = keys.map((k) => JSON.stringify(k));
const expiresIn = 86_400_000;

/**
 * Each workload: its three sides, each `(namespace, store) => work`, on a
 * namespace that `prepare` filled (or not).
 */
const workloads = {
  [`write ${N} entries with a TTL`]: {
    fedikv: (_, kv) =>
      Promise.all(
        keys.map((k, i) => kv.set(k, value(i), { ttl: Temporal.Duration.from({ milliseconds: expiresIn }) })),
      ),
    bulk: (ns) =>
      pooled(
        chunks([...names.keys()], 10_000).map((batch) => () => {
          const expires = Date.now() + expiresIn;
          return rest(
            ns,
            "PUT",
            "/bulk",
            batch.map((i) => ({
              key: names[i],
              value: JSON.stringify(value(i)),
              expiration_ttl: expiresIn / 1000,
              metadata: { expires },
            })),
          );
        }),
        8,
      ),
    single: (ns) =>
      pooled(
        names.map(
          (key, i) => () =>
            rest(ns, "PUT", "/bulk", [
              {
                key,
                value: JSON.stringify(value(i)),
                expiration_ttl: expiresIn / 1000,
                metadata: { expires: Date.now() + expiresIn },
              },
            ]),
        ),
        64,
      ),
  },
  [`read ${N} entries`]: {
    prepare: true,
    fedikv: (_, kv) => Promise.all(keys.map((k) => kv.get(k))),
    bulk: (ns) =>
      pooled(
        chunks(names, 100).map(
          (batch) => () => rest(ns, "POST", "/bulk/get", { keys: batch, type: "text", withMetadata: true }),
        ),
        8,
      ),
    single: (ns) =>
      pooled(
        names.map((key) => () => rest(ns, "POST", "/bulk/get", { keys: [key], type: "text", withMetadata: true })),
        64,
      ),
  },
  [`list ${N} entries`]: {
    prepare: true,
    fedikv: async (_, kv) => {
      let n = 0;
      for await (const _entry of kv.list(["_fedify", "bench"])) n++;
      if (n !== N) throw new Error(`listed ${n} of ${N}`);
    },
    bulk: async (ns) => {
      let cursor = "";
      do {
        const page = await rest(
          ns,
          "GET",
          `/keys?prefix=${encodeURIComponent('["_fedify","bench",')}&limit=1000${cursor ? `&cursor=${encodeURIComponent(cursor)}` : ""}`,
        );
        await pooled(
          chunks(
            page.result.map((k) => k.name),
            100,
          ).map((batch) => () => rest(ns, "POST", "/bulk/get", { keys: batch, type: "text", withMetadata: true })),
          8,
        );
        cursor = page.result_info.cursor;
      } while (cursor);
    },
  },
};

/** A namespace of its own, filled with the N entries when `prepare`. */
async function namespaceFor(prepare) {
  const ns = await emulator.newNamespace();
  if (prepare) {
    await workloads[`write ${N} entries with a TTL`].bulk(ns);
  }
  return ns;
}

const results = {};
for (const [name, workload] of Object.entries(workloads)) {
  results[name] = {};
  for (const side of ["fedikv", "bulk", "single"]) {
    if (workload[side] === undefined) continue;
    const times = [];
    let requests = 0;
    for (let rep = 0; rep < REPS; rep++) {
      const ns = await namespaceFor(workload.prepare);
      const kv = new WorkersKvStore({
        accountId: emulator.accountId,
        apiToken: emulator.apiToken,
        apiUrl: emulator.apiUrl,
        namespaceId: ns,
      });
      await emulator.resetRequests();
      const started = performance.now();
      await workload[side](ns, kv);
      times.push(performance.now() - started);
      requests = (await emulator.requests()).total;
      await kv.close();
    }
    results[name][side] = { ms: summarize(times), requests };
    console.error(`${name}, ${side}: ${fmt(results[name][side].ms.median)} ms, ${requests} requests`);
  }
}
await emulator.stop();

const SIDES = { fedikv: "fedikv", bulk: "bulk by hand (the ceiling)", single: "one request a call" };
const lines = [
  "# WorkersKvStore beside the REST API",
  "",
  `${new Date().toISOString().slice(0, 10)}, ${os.cpus().length} cores, Node ${process.version}, the tests' local Worker (miniflare) on Node 24; ${N} entries, median of ${REPS} runs (min–max). Made by \`node benchmark/workerskv.mjs\`.`,
  "",
  "| workload | side | time (ms) | requests | fedikv's time ÷ this | at 1,200 requests / 5 min |",
  "|---|---|---|---|---|---|",
];
for (const [name, sides] of Object.entries(results)) {
  for (const [side, r] of Object.entries(sides)) {
    const ratio = sides.fedikv.ms.median / r.ms.median;
    lines.push(
      `| ${name} | ${SIDES[side]} | ${fmt(r.ms.median)} (${fmt(r.ms.min)}–${fmt(r.ms.max)}) | ${r.requests} | ${side === "fedikv" ? "" : `${ratio.toFixed(2)}×`} | ${fmt(r.requests / RATE_LIMIT_PER_SEC)} s |`,
    );
  }
}
mkdirSync(args.out, { recursive: true });
writeFileSync(join(args.out, "workerskv.json"), `${JSON.stringify({ entries: N, reps: REPS, results }, null, 2)}\n`);
writeFileSync(join(args.out, "workerskv.md"), `${lines.join("\n")}\n`);
console.log(lines.join("\n"));
