#!/usr/bin/env node
// A first, quick measurement: get and set of a ~1.5 KB JSON-LD document at
// concurrency 1 and get at concurrency 64, for fedikv's in-process stores
// beside Fedify's MemoryKvStore and Fedify's SQLite layout (on better-sqlite3).
// Prints a Markdown table of operations per second and fedikv/Fedify ratios.
//
//   node benchmark/quick.mjs
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { MemoryKvStore as FedifyMemoryKvStore } from "@fedify/fedify";
import { MemoryKvStore, SqliteKvStore } from "../index.js";
import { FedifySqliteLayout } from "../__test__/support/fedify-sqlite.mjs";

const doc = {
  "@context": ["https://www.w3.org/ns/activitystreams", "https://w3id.org/security/v1"],
  id: "https://example.com/users/alice/statuses/1",
  type: "Note",
  attributedTo: "https://example.com/users/alice",
  to: ["https://www.w3.org/ns/activitystreams#Public"],
  content: "<p>" + "Hello, fediverse! ".repeat(70) + "</p>",
  published: "2026-11-25T00:00:00Z",
};

async function rate(n, concurrency, op) {
  const started = performance.now();
  await Promise.all(
    Array.from({ length: concurrency }, async (_, w) => {
      for (let i = w; i < n; i += concurrency) await op(i);
    }),
  );
  return n / ((performance.now() - started) / 1000);
}

async function measure(kv, n) {
  for (let i = 0; i < 100; i++) await kv.set(["bench", String(i)], doc);
  const key = (i) => ["bench", String(i % 100)];
  return {
    "get c1": await rate(n, 1, (i) => kv.get(key(i))),
    "set c1": await rate(n, 1, (i) => kv.set(key(i), doc)),
    "get c64": await rate(n, 64, (i) => kv.get(key(i))),
  };
}

const dir = mkdtempSync(join(tmpdir(), "fedikv-bench-"));
const pairs = [
  ["memory", () => new FedifyMemoryKvStore(), () => new MemoryKvStore(), 20_000],
  ["SQLite file", () => new FedifySqliteLayout(join(dir, "fedify.db")), () => new SqliteKvStore(join(dir, "fedikv.db")), 5_000],
];
const rows = ["| backend | operation | Fedify (ops/s) | fedikv (ops/s) | fedikv / Fedify |", "|---|---|---:|---:|---:|"];
for (const [name, fedify, fedikv, n] of pairs) {
  const a = await measure(fedify(), n);
  const store = fedikv();
  const b = await measure(store, n);
  await store.close();
  for (const op of Object.keys(a)) {
    rows.push(`| ${name} | ${op} | ${a[op].toFixed(0)} | ${b[op].toFixed(0)} | ${(b[op] / a[op]).toFixed(2)}× |`);
  }
}
rmSync(dir, { recursive: true, force: true });
console.log(rows.join("\n"));
