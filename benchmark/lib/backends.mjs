// The backends the benchmark compares: for each, fedikv's store, Fedify's
// own store for that backend, and the limits of what the store must do
// (benchmark/lib/limits.mjs): the engine itself, or V8's JSON.
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { MemoryKvStore as FedifyMemoryKvStore } from "@fedify/fedify";
import { MemoryKvStore, SqliteKvStore } from "../../index.js";
import { FedifySqliteLayout } from "../../support/fedify-sqlite.mjs";
import { memoryLimits, sqliteLimits } from "./limits.mjs";

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
        limits: memoryLimits(),
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
        limits: sqliteLimits((name) => join(dir, `limit-${name}-${files++}.db`)),
      },
    ],
  };
}
