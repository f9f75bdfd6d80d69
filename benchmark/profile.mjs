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

const profiles = {
  "memory-set": { open: () => new MemoryKvStore(), op: (kv) => (i) => kv.set(["doc", String(i % 1000)], DOC) },
  "memory-get": {
    open: () => new MemoryKvStore(),
    prepare: (kv) => kv.set(["doc"], DOC),
    op: (kv) => () => kv.get(["doc"]),
  },
  "sqlite-get": {
    open: () => new SqliteKvStore(join(dir, "get.db")),
    prepare: (kv) => kv.set(["doc"], DOC),
    op: (kv) => () => kv.get(["doc"]),
  },
  "sqlite-set": {
    open: () => new SqliteKvStore(join(dir, "set.db")),
    op: (kv) => (i) => kv.set(["doc", String(i % 1000)], DOC),
  },
  "denokv-get": {
    open: () => new DenoKvStore(join(dir, "denokv.sqlite3")),
    prepare: (kv) => kv.set(["doc"], DOC),
    op: (kv) => () => kv.get(["doc"]),
  },
  "denokv-list": {
    open: () => new DenoKvStore(join(dir, "denokv-list.sqlite3")),
    prepare: (kv) => prefillThroughStore(kv, bigTableEntries(["p"]), Temporal),
    op: (kv) => async () => {
      for await (const _ of kv.list(["p", "list"]));
    },
  },
  "redis-list": {
    open: () => new RedisKvStore(redisUrl, { keyPrefix: `profile-${process.pid}::` }),
    prepare: (kv) => prefillThroughStore(kv, bigTableEntries(["p"]), Temporal),
    op: (kv) => async () => {
      for await (const _ of kv.list(["p", "list"]));
    },
  },
  "redis-get": {
    open: () => new RedisKvStore(redisUrl, { keyPrefix: `profile-${process.pid}::` }),
    prepare: (kv) => kv.set(["doc"], DOC),
    op: (kv) => () => kv.get(["doc"]),
  },
  "sqlite-list": {
    open: () => new SqliteKvStore(join(dir, "list.db")),
    prepare: (kv) => prefillThroughStore(kv, bigTableEntries(["p"]), Temporal),
    op: (kv) => async () => {
      for await (const _ of kv.list(["p", "list"]));
    },
  },
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
