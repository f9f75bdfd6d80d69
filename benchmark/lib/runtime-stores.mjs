// The pairs benchmark/runtimes.mjs compares on the runtime this runs on:
// fedikv's store beside the store that runtime's Fedify users would pick
// otherwise. Each side opens a store on a file of its own (`open(file)`)
// and fills the big table either through the store (`fill` absent) or its
// own faster way (`fill(file, entries)`, before `open`).
//
//   Deno:  DenoKvStore vs Fedify's Deno KV store on Deno.openKv (re-typed:
//          runtime-denokv.mjs says why), and SqliteKvStore vs @fedify/sqlite
//          on node:sqlite
//   Bun:   SqliteKvStore vs @fedify/sqlite on bun:sqlite
//   Node:  SqliteKvStore vs @fedify/sqlite on node:sqlite (Node 22.13+)
//
// @fedify/sqlite runs on the database as an app opens it, with SQLite's
// defaults (a rollback journal, synchronous = FULL: each write is synced);
// fedikv's SqliteKvStore puts its file in WAL mode with synchronous = NORMAL.
// That difference is part of what a user gets from either, and so is measured.
import { createRequire } from "node:module";
import { DenoKvStore, SqliteKvStore } from "../../index.js";
import { FedifyDenoKvLayout } from "./runtime-denokv.mjs";

const require = createRequire(import.meta.url);

/** "deno", "bun" or "node". */
export const RUNTIME =
  typeof globalThis.Deno !== "undefined" ? "deno" : typeof globalThis.Bun !== "undefined" ? "bun" : "node";

/** The runtime and its version, as a person names it. */
export function runtimeVersion() {
  if (RUNTIME === "deno") return `Deno ${globalThis.Deno.version.deno}`;
  if (RUNTIME === "bun") return `Bun ${globalThis.Bun.version}`;
  return `Node ${process.version}`;
}

const FEDIFY_SQLITE_VERSION = require("@fedify/sqlite/package.json").version.split("+")[0];

/** Opens an SQLite database with the runtime's own synchronous library: bun:sqlite or node:sqlite. */
async function sqliteOpener() {
  if (RUNTIME === "bun") {
    const { Database } = await import("bun:sqlite");
    return { library: "bun:sqlite", open: (path) => new Database(path) };
  }
  const { DatabaseSync } = await import("node:sqlite");
  return { library: "node:sqlite", open: (path) => new DatabaseSync(path) };
}

/**
 * Rows exactly as @fedify/sqlite's set() writes them (JSON.stringify of key
 * and value, epoch-millisecond created and expires), in one transaction:
 * its set() syncs each row, which would take minutes for 100,000.
 */
function fillFedifySqlite(db, FedifySqliteKvStore, entries) {
  new FedifySqliteKvStore(db).initialize();
  const insert = db.prepare("INSERT OR REPLACE INTO fedify_kv (key, value, created, expires) VALUES (?, ?, ?, ?)");
  const now = Date.now();
  db.exec("BEGIN");
  for (const { key, value, ttlMs } of entries) {
    insert.run(JSON.stringify(key), JSON.stringify(value), now, ttlMs == null ? null : now + ttlMs);
  }
  db.exec("COMMIT");
}

async function sqlitePair() {
  const sqlite = await sqliteOpener();
  const { SqliteKvStore: FedifySqliteKvStore } = await import("@fedify/sqlite");
  const databases = new WeakMap();
  return {
    name: "SQLite",
    alternative: {
      label: `@fedify/sqlite ${FEDIFY_SQLITE_VERSION} on ${sqlite.library}`,
      open: (file) => {
        const db = sqlite.open(file);
        const kv = new FedifySqliteKvStore(db);
        databases.set(kv, db);
        return kv;
      },
      // It has no close(): the app closes the database it gave it.
      close: (kv) => databases.get(kv).close(),
      fill: (file, entries) => {
        const db = sqlite.open(file);
        try {
          fillFedifySqlite(db, FedifySqliteKvStore, entries);
        } finally {
          db.close();
        }
      },
    },
    fedikv: {
      label: "fedikv SqliteKvStore",
      open: (file) => new SqliteKvStore(file),
      close: (kv) => kv.close(),
    },
    sqlite,
    FedifySqliteKvStore,
  };
}

/** Sets entries with Deno KV's atomic operations, 500 to a commit (its limit is 1,000 mutations). */
async function fillDenoKv(kv, entries) {
  let atomic = kv.atomic();
  let n = 0;
  for (const { key, value, ttlMs } of entries) {
    atomic.set(key, value, ttlMs == null ? undefined : { expireIn: ttlMs });
    if (++n === 500) {
      if (!(await atomic.commit()).ok) throw new Error("a Deno KV fill commit failed");
      atomic = kv.atomic();
      n = 0;
    }
  }
  if (n > 0 && !(await atomic.commit()).ok) throw new Error("a Deno KV fill commit failed");
}

function denoKvPair() {
  return {
    name: "Deno KV",
    alternative: {
      label: `Fedify's DenoKvStore on Deno.openKv (re-typed, benchmark/lib/runtime-denokv.mjs)`,
      open: async (file) => new FedifyDenoKvLayout(await globalThis.Deno.openKv(file)),
      close: (store) => store.close(),
      fill: async (file, entries) => {
        const kv = await globalThis.Deno.openKv(file);
        try {
          await fillDenoKv(kv, entries);
        } finally {
          kv.close();
        }
      },
    },
    fedikv: {
      label: "fedikv DenoKvStore (local file)",
      open: (file) => new DenoKvStore(file),
      close: (kv) => kv.close(),
    },
  };
}

/** The pairs each runtime has, by name (benchmark/runtimes.mjs names them too). */
const PAIRS = {
  deno: ["Deno KV", "SQLite"],
  bun: ["SQLite"],
  node: ["SQLite"],
};

/** The pair `name` on this runtime. */
export async function runtimePair(name) {
  if (!PAIRS[RUNTIME].includes(name)) throw new Error(`${runtimeVersion()} has no pair ${JSON.stringify(name)}`);
  return name === "Deno KV" ? denoKvPair() : await sqlitePair();
}
