// The backends the benchmark compares: for each, fedikv's store, Fedify's
// own store for that backend, and, where there is one, the ceiling of the
// engine or server itself.
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import Database from "better-sqlite3";
import { MemoryKvStore as FedifyMemoryKvStore } from "@fedify/fedify";
import { MemoryKvStore, SqliteKvStore } from "../../index.js";
import { FedifySqliteLayout } from "../../support/fedify-sqlite.mjs";
import { note } from "./documents.mjs";

/** Sets entries through the store itself, 64 at a time. */
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

export function backends() {
  const dir = mkdtempSync(join(tmpdir(), "fedikv-bench-"));
  let files = 0;
  return {
    cleanup: () => rmSync(dir, { recursive: true, force: true }),
    list: [
      {
        name: "memory",
        fedikv: { label: "fedikv MemoryKvStore", open: () => new MemoryKvStore() },
        fedify: { label: "@fedify/fedify MemoryKvStore", open: () => new FedifyMemoryKvStore() },
      },
      {
        name: "SQLite",
        fedikv: { label: "fedikv SqliteKvStore", open: () => new SqliteKvStore(join(dir, `fedikv-${files++}.db`)) },
        fedify: {
          label: "Fedify's SQLite layout (better-sqlite3)",
          open: () => new FedifySqliteLayout(join(dir, `fedify-${files++}.db`)),
          // Rows exactly as its set() writes them, in one transaction (its
          // set() fsyncs each row, which would take minutes for 100,000).
          prefill: (kv, entries) => {
            const insert = kv.db.prepare(
              "INSERT OR REPLACE INTO fedify_kv (key, value, created, expires) VALUES (?, ?, ?, ?)",
            );
            const now = Date.now();
            kv.db.transaction(() => {
              for (const { key, value, ttlMs } of entries) {
                insert.run(JSON.stringify(key), JSON.stringify(value), now, ttlMs == null ? null : now + ttlMs);
              }
            })();
          },
        },
        ceiling: sqliteCeiling(join(dir, "ceiling.db")),
      },
    ],
  };
}

/**
 * The SQLite engine itself: better-sqlite3 prepared statements on a WAL
 * table of the same layout, no JSON, no validation.
 */
function sqliteCeiling(path) {
  return {
    label: "SQLite engine (better-sqlite3, WAL, prepared)",
    measure: async (timeOps, { durationMs }) => {
      const db = new Database(path);
      db.pragma("journal_mode = WAL");
      db.pragma("synchronous = NORMAL");
      db.exec(
        "CREATE TABLE IF NOT EXISTS kv (key TEXT PRIMARY KEY, value TEXT NOT NULL, created INTEGER NOT NULL, expires INTEGER)",
      );
      const text = JSON.stringify(note(0));
      const set = db.prepare(
        "INSERT INTO kv VALUES (?, ?, 0, NULL) ON CONFLICT(key) DO UPDATE SET value = excluded.value",
      );
      const get = db.prepare("SELECT value FROM kv WHERE key = ? AND (expires IS NULL OR expires > ?)");
      for (let i = 0; i < 1000; i++) set.run(`["doc","${i}"]`, text);
      const rate = async (op) => (await timeOps({ concurrency: 1, durationMs, op })).opsPerSec;
      // One connection, synchronous: concurrency 64 would measure the same.
      const result = {
        "get (hit, 1.5 KB)": { 1: await rate(async (i) => get.get(`["doc","${i % 1000}"]`, 0)) },
        "set (1.5 KB)": { 1: await rate(async (i) => set.run(`["doc","${i % 1000}"]`, text)) },
      };
      db.close();
      return result;
    },
  };
}
