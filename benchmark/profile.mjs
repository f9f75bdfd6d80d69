#!/usr/bin/env node
// One operation of one store in a loop, for a profiler to watch. The
// profiles in benchmark/profiles/ were made with
//
//   npm run build
//   bash benchmark/profile.sh redis-get     (or memory-set, sqlite-list, …)
//
// which runs this file under `perf record` and draws a flame graph.
//
//   node benchmark/profile.mjs <profile> [seconds] [concurrency]
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { Temporal } from "@js-temporal/polyfill";
import { DenoKvStore, MemoryKvStore, RedisKvStore, SqliteKvStore } from "../index.js";
import { timeOps } from "./lib/measure.mjs";
import { note } from "./lib/documents.mjs";
import { bigTableEntries, prefillThroughStore } from "./lib/workloads.mjs";

const DOC = note(0);
const dir = mkdtempSync(join(tmpdir(), "fedikv-profile-"));
const redisUrl = process.env.REDIS_URL ?? "redis://127.0.0.1:6379";

// The three kinds of operation profiled, each on a store from `open`.
const getting = (open) => ({ open, prepare: (kv) => kv.set(["doc"], DOC), op: (kv) => () => kv.get(["doc"]) });
const setting = (open) => ({ open, op: (kv) => (i) => kv.set(["doc", String(i % 1000)], DOC) });
/** A `list` of 1,000 entries among the benchmark's 100,000. */
const listing = (open) => ({
  open,
  prepare: (kv) => prefillThroughStore(kv, bigTableEntries(["p"]), Temporal),
  op: (kv) => async () => {
    for await (const _ of kv.list(["p", "list"]));
  },
});
const redis = () => new RedisKvStore(redisUrl, { keyPrefix: `profile-${process.pid}::` });

const profiles = {
  "memory-set": setting(() => new MemoryKvStore()),
  "memory-get": getting(() => new MemoryKvStore()),
  "sqlite-get": getting(() => new SqliteKvStore(join(dir, "get.db"))),
  "sqlite-set": setting(() => new SqliteKvStore(join(dir, "set.db"))),
  "sqlite-list": listing(() => new SqliteKvStore(join(dir, "list.db"))),
  "denokv-get": getting(() => new DenoKvStore(join(dir, "denokv.sqlite3"))),
  "denokv-list": listing(() => new DenoKvStore(join(dir, "denokv-list.sqlite3"))),
  "redis-get": getting(redis),
  "redis-list": listing(redis),
};

const [name, seconds = "5", concurrency = "1"] = process.argv.slice(2);
const profile = profiles[name];
if (!profile) {
  console.error(`usage: node benchmark/profile.mjs <${Object.keys(profiles).join("|")}> [seconds] [concurrency]`);
  process.exit(2);
}
const kv = profile.open();
try {
  await profile.prepare?.(kv);
  // profile.sh attaches perf when it reads this line, so setting up is not profiled.
  process.stderr.write("ready\n");
  await new Promise((resolve) => setTimeout(resolve, 300));
  const timing = await timeOps({
    concurrency: Number(concurrency),
    durationMs: 1000 * Number(seconds),
    op: profile.op(kv),
  });
  console.log(
    `${name} at concurrency ${concurrency}: ${Math.round(timing.opsPerSec).toLocaleString("en-US")} ops/s, p50 ${timing.p50Us.toFixed(1)} µs`,
  );
} finally {
  if (name.startsWith("redis")) for await (const { key } of kv.list()) await kv.delete(key);
  await kv.close();
  rmSync(dir, { recursive: true, force: true });
}
