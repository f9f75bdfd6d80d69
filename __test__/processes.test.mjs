// Concurrency across processes, on every store that processes can share
// (a SQLite file, a Deno KV file, a denokv server over KV Connect, Redis, a
// Redis Cluster of 3 masters, PostgreSQL, MariaDB), with child processes
// running support/store-worker.mjs:
// - cas is linearizable: 8 processes × 4 loops × 16 get + cas increments
//   of one counter end at exactly 512;
// - of 50 claims cas(key, undefined, id) from 5 processes, fired together,
//   exactly one wins: on an absent key, and on a key whose value has just
//   expired (the same in one process, for every store, memory included);
// - a bounded mixed load: 4 processes doing random set/get/delete/cas/list
//   for a few seconds, each on its own keys checked against a model, plus a
//   shared counter and shared claims, with the final state checked here.
import assert from "node:assert/strict";
import { spawn } from "node:child_process";
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { after, describe, test } from "node:test";
import { setTimeout as sleep } from "node:timers/promises";
import { fileURLToPath } from "node:url";
import { isDeepStrictEqual } from "node:util";
import { Temporal } from "@js-temporal/polyfill";
import { openStore } from "./support/open-store.mjs";
import { storeSpecs } from "./support/store-specs.mjs";
import { scriptArgs } from "./support/runtime.mjs";

const workerPath = fileURLToPath(new URL("./support/store-worker.mjs", import.meta.url));
const dir = mkdtempSync(join(tmpdir(), "fedikv-procs-"));
after(() => rmSync(dir, { recursive: true, force: true }));
const { specs, stop } = await storeSpecs(dir, { stem: "procs", servers: true, inProcess: true });
after(stop);

/** Mixed-load size, for `FEDIKV_MIXED_MS=60000` runs by hand. */
const MIXED_MS = Number(process.env.FEDIKV_MIXED_MS ?? 4000);

/**
 * Starts a worker; `ready` resolves when it printed "ready" (claim),
 * `result` to the JSON it printed last. It is killed if still running
 * when `timeout` ms are over.
 */
function startWorker(spec, task, args, timeout = 120_000) {
  const child = spawn(process.execPath, scriptArgs(workerPath, JSON.stringify(spec), task, ...args.map(String)), {
    stdio: ["pipe", "pipe", "pipe"],
  });
  let stdout = "";
  let stderr = "";
  let onReady;
  const ready = new Promise((resolve) => (onReady = resolve));
  child.stdout.on("data", (chunk) => {
    stdout += chunk;
    if (stdout.startsWith("ready\n")) onReady();
  });
  child.stderr.on("data", (chunk) => (stderr += chunk));
  const timer = setTimeout(() => child.kill("SIGKILL"), timeout);
  const result = new Promise((resolve, reject) => {
    child.on("exit", (code, signal) => {
      clearTimeout(timer);
      if (code !== 0) {
        reject(new Error(`worker ${task} exited with ${code ?? signal}:\n${stderr}`));
        return;
      }
      resolve(JSON.parse(stdout.trim().split("\n").at(-1)));
    });
  });
  // A failed start must not leave `ready` waiting forever.
  result.catch(() => onReady());
  return { child, ready, result, go: () => child.stdin.end("go\n") };
}

const ms = (milliseconds) => ({ ttl: Temporal.Duration.from({ milliseconds }) });

const IN_PROCESS_CLAIMS =
  "of 50 concurrent claims in one process on a key whose value has just expired, exactly one wins";

/**
 * Sets `key` with a TTL of 100 ms and waits until the store no longer sees
 * it (at once past the TTL, except through KV Connect: within its grace).
 */
async function setToExpire(kv, key, graceMs = 0) {
  await kv.set(key, "old", ms(100));
  await sleep(200);
  const deadline = Date.now() + graceMs + 5000;
  while ((await kv.get(key)) !== undefined) {
    assert.ok(Date.now() < deadline, "the value expired");
    await sleep(100);
  }
}

async function claimsInOneProcess(spec, graceMs) {
  const kv = openStore(spec);
  const key = ["claim-expired", String(Date.now())];
  try {
    await kv.get(["warm-up"]);
    await setToExpire(kv, key, graceMs);
    const results = await Promise.all(Array.from({ length: 50 }, (_, i) => kv.cas(key, undefined, i)));
    assert.equal(results.filter(Boolean).length, 1);
    assert.equal(await kv.get(key), results.indexOf(true));
  } finally {
    await kv.close();
  }
}

async function dropAndClose(kv) {
  await kv.drop?.();
  await kv.close();
}

for (const { name, spec, skip, graceMs = 0 } of specs.filter(
  (s) => s.spec?.kind !== "MemoryKvStore" && s.spec?.target !== ":memory:",
)) {
  describe(`across processes: ${name}`, { skip, timeout: 300_000 }, () => {
    after(async () => {
      if (!skip) await dropAndClose(openStore(spec));
    });

    test("8 processes × 4 loops × 16 cas increments end at exactly 512", async () => {
      const kv = openStore(spec);
      try {
        await kv.delete(["counter"]);
        const outputs = await Promise.all(
          Array.from({ length: 8 }, () => startWorker(spec, "counter", [4, 16]).result),
        );
        assert.equal(await kv.get(["counter"]), 512);
        const retries = outputs.reduce((sum, { retries }) => sum + retries, 0);
        assert.ok(retries > 0, "the processes did race");
      } finally {
        await kv.close();
      }
    });

    for (const expired of [false, true]) {
      const what = expired ? "a key whose value has just expired" : "an absent key";
      test(`of 50 claims from 5 processes at once on ${what}, exactly one wins`, async () => {
        const kv = openStore(spec);
        const key = ["claim", String(expired), String(Date.now())];
        try {
          const workers = Array.from({ length: 5 }, () => startWorker(spec, "claim", [JSON.stringify(key), 10]));
          await Promise.all(workers.map((w) => w.ready));
          if (expired) await setToExpire(kv, key, graceMs);
          for (const w of workers) w.go();
          const wins = (await Promise.all(workers.map((w) => w.result))).flatMap((r) => r.wins);
          assert.equal(wins.length, 1, `winners: ${wins}`);
          assert.equal(await kv.get(key), wins[0]);
        } finally {
          await kv.close();
        }
      });
    }

    test(IN_PROCESS_CLAIMS, () => claimsInOneProcess(spec, graceMs));

    test(`mixed load: 4 processes × ${MIXED_MS} ms of random operations, checked against a model`, async () => {
      const kv = openStore(spec);
      const ns = `mixed-${Date.now().toString(36)}`;
      const seed = Number(process.env.FEDIKV_MIXED_SEED ?? Math.floor(Math.random() * 2 ** 31));
      try {
        const outputs = await Promise.all(
          Array.from(
            { length: 4 },
            (_, worker) =>
              startWorker(
                spec,
                "mixed",
                [JSON.stringify({ ns, worker, seed: seed + worker, ms: MIXED_MS, keys: 12, graceMs })],
                MIXED_MS + 120_000,
              ).result,
          ),
        );
        const MARGIN = 40;
        // Each worker's keys hold what its model says (where certain).
        for (const [worker, { model }] of outputs.entries()) {
          const own = [ns, `w${worker}`];
          const listed = new Map();
          for await (const { key, value } of kv.list(own)) listed.set(JSON.stringify(key), value);
          // Entries whose TTL cannot have run out before the listing ended.
          const listedBy = Date.now();
          const expected = new Map(model);
          for (const [text, value] of listed) {
            const entry = expected.get(text);
            assert.ok(entry, `seed ${seed}: ${text} is listed but worker ${worker} did not leave it`);
            assert.ok(isDeepStrictEqual(value, entry.value), `seed ${seed}: ${text}`);
          }
          for (const [text, { value, earliest }] of expected) {
            // JSON wrote Infinity (no TTL) as null.
            if (earliest === null || earliest > listedBy + MARGIN) {
              assert.ok(isDeepStrictEqual(listed.get(text), value), `seed ${seed}: ${text} is missing`);
            }
          }
        }
        // The shared counter counts every increment.
        const increments = outputs.reduce((sum, o) => sum + o.counts.increments, 0);
        assert.equal(await kv.get([ns, "counter"]), increments > 0 ? increments : undefined);
        // Each shared claim went to exactly one worker, the one it names.
        const owners = new Map();
        for (const [worker, { claimsWon }] of outputs.entries()) {
          for (const n of claimsWon) {
            assert.ok(!owners.has(n), `seed ${seed}: claim ${n} won by workers ${owners.get(n)} and ${worker}`);
            owners.set(n, worker);
          }
        }
        let claimed = 0;
        for await (const { key, value } of kv.list([ns, "claims"])) {
          assert.equal(value, owners.get(Number(key[2])), `seed ${seed}: claim ${key[2]}`);
          claimed++;
        }
        assert.equal(claimed, owners.size);
        const total = { ops: 0 };
        for (const { counts } of outputs) {
          for (const [op, n] of Object.entries(counts)) total[op] = (total[op] ?? 0) + n;
          total.ops += counts.set + counts.get + counts.delete + counts.cas + counts.list;
        }
        // For the README's figures.
        console.log(`# ${name}: mixed load ${JSON.stringify(total)}, ${owners.size} claims, seed ${seed}`);
      } finally {
        await kv.close();
      }
    });
  });
}

// Single-process stores race in one process (so do the others, above):
// the kit races 50 claims on an absent key; here the key held a value that
// has just expired.
for (const { name, spec } of specs.filter((s) => s.spec?.kind === "MemoryKvStore" || s.spec?.target === ":memory:")) {
  test(`${name}: ${IN_PROCESS_CLAIMS}`, () => claimsInOneProcess(spec));
}
