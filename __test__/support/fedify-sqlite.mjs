// Fedify's SQLite store, for the tests that read and write its layout:
// the real @fedify/sqlite wherever it runs (on node:sqlite on Node
// 22+ and Deno, on bun:sqlite on Bun), and on Node 20, which has no
// node:sqlite for it, FedifySqliteLayout: its storage re-typed on
// better-sqlite3 (the same table, the same SQL shapes: JSON.stringify(key)
// as the key, `now + ttl` in epoch milliseconds as `expires`, an expiry
// DELETE after every write, LIKE for prefixes, cas in a BEGIN IMMEDIATE
// transaction, on better-sqlite3's defaults (a rollback journal,
// synchronous = FULL) as a DatabaseSync has them).
//
// startFedifySqlite() runs it in a child process of its own, for tests
// that keep it open on a file fedikv has open too (see there).
import { fileURLToPath } from "node:url";
import { isDeepStrictEqual } from "node:util";
import { createRequire } from "node:module";
import { startWorker } from "./ipc-worker.mjs";
import { RUNTIME } from "./runtime.mjs";
import { openSqlite, SQLITE_LIBRARY } from "./sqlite.mjs";

const require = createRequire(import.meta.url);
const workerPath = fileURLToPath(new URL("./fedify-sqlite-worker.mjs", import.meta.url));

/** The database @fedify/sqlite is given on this runtime, or null (Node 20). */
let openDatabase = null;
if (RUNTIME === "bun") {
  const { Database } = await import("bun:sqlite");
  openDatabase = (path, busyTimeoutMs) => {
    const db = new Database(path);
    db.exec(`PRAGMA busy_timeout = ${Math.trunc(busyTimeoutMs)}`);
    return db;
  };
} else if (SQLITE_LIBRARY === "node:sqlite") {
  openDatabase = (path, busyTimeoutMs) => openSqlite(path, { busyTimeoutMs });
}
const FedifySqliteKvStore = openDatabase === null ? null : (await import("@fedify/sqlite")).SqliteKvStore;

/** What openFedifySqlite() opens here, for test names and logs. */
export const FEDIFY_SQLITE = FedifySqliteKvStore === null
  ? "Fedify's SQLite layout (re-typed on better-sqlite3: Node 20 has no node:sqlite)"
  : `@fedify/sqlite ${require("@fedify/sqlite/package.json").version.split("+")[0]} on ${RUNTIME === "bun" ? "bun:sqlite" : "node:sqlite"}`;

/**
 * Fedify's SQLite store on `path`: a KvStore (get, set, delete, cas, list)
 * with `db`, the database under it (for raw reads of its rows), and
 * `close()`. `busyTimeoutMs`: how long a statement waits for a lock.
 */
export function openFedifySqlite(path, { busyTimeoutMs = 0 } = {}) {
  if (FedifySqliteKvStore === null) return new FedifySqliteLayout(path, "fedify_kv", { timeout: busyTimeoutMs });
  const db = openDatabase(path, busyTimeoutMs);
  // Its `db` is the database it was given; it has no close() of its own.
  return Object.assign(new FedifySqliteKvStore(db), { close: () => db.close() });
}

export class FedifySqliteLayout {
  #db;
  #table;

  /** `options` go to better-sqlite3 (`timeout`: how long to wait for a lock). */
  constructor(path, tableName = "fedify_kv", options = {}) {
    this.#db = new (require("better-sqlite3"))(path, options);
    this.#table = tableName;
    this.#db.exec(`
      CREATE TABLE IF NOT EXISTS "${tableName}" (
        key TEXT PRIMARY KEY,
        value TEXT NOT NULL,
        created INTEGER NOT NULL,
        expires INTEGER
      );
      CREATE INDEX IF NOT EXISTS "idx_${tableName}_expires" ON "${tableName}" (expires);
    `);
  }

  get db() {
    return this.#db;
  }

  async get(key) {
    const row = this.#db
      .prepare(`SELECT value FROM "${this.#table}" WHERE key = ? AND (expires IS NULL OR expires > ?)`)
      .get(JSON.stringify(key), Date.now());
    return row === undefined ? undefined : JSON.parse(row.value);
  }

  async set(key, value, options) {
    if (value === undefined) return;
    const now = Date.now();
    // Fedify adds ttl.total("milliseconds"), which may have a fraction.
    const expires = options?.ttl === undefined ? null : now + options.ttl.total({ unit: "milliseconds" });
    this.#db
      .prepare(`INSERT INTO "${this.#table}" (key, value, created, expires) VALUES (?, ?, ?, ?)
        ON CONFLICT(key) DO UPDATE SET value = excluded.value, expires = excluded.expires`)
      .run(JSON.stringify(key), JSON.stringify(value), now, expires);
    this.#expire();
  }

  // As @fedify/sqlite's cas: BEGIN IMMEDIATE, read the live value, compare
  // with a deep equality (es-toolkit's isEqual there; node:util's here), write.
  async cas(key, expected, value, options) {
    const now = Date.now();
    const expires = options?.ttl === undefined ? null : now + options.ttl.total({ unit: "milliseconds" });
    this.#db.exec("BEGIN IMMEDIATE");
    try {
      const row = this.#db
        .prepare(`SELECT value FROM "${this.#table}" WHERE key = ? AND (expires IS NULL OR expires > ?)`)
        .get(JSON.stringify(key), now);
      const current = row === undefined ? undefined : JSON.parse(row.value);
      if (!isDeepStrictEqual(current, expected)) {
        this.#db.exec("ROLLBACK");
        return false;
      }
      if (value === undefined) {
        this.#db.prepare(`DELETE FROM "${this.#table}" WHERE key = ?`).run(JSON.stringify(key));
      } else {
        this.#db
          .prepare(`INSERT INTO "${this.#table}" (key, value, created, expires) VALUES (?, ?, ?, ?)
            ON CONFLICT(key) DO UPDATE SET value = excluded.value, expires = excluded.expires`)
          .run(JSON.stringify(key), JSON.stringify(value), now, expires);
      }
      this.#db.exec("COMMIT");
    } catch (error) {
      this.#db.exec("ROLLBACK");
      throw error;
    }
    this.#expire();
    return true;
  }

  async delete(key) {
    this.#db.prepare(`DELETE FROM "${this.#table}" WHERE key = ?`).run(JSON.stringify(key));
    this.#expire();
  }

  async *list(prefix) {
    const now = Date.now();
    const rows = prefix === undefined || prefix.length === 0
      ? this.#db
        .prepare(`SELECT key, value FROM "${this.#table}" WHERE expires IS NULL OR expires > ? ORDER BY key`)
        .all(now)
      : this.#db
        .prepare(`SELECT key, value FROM "${this.#table}"
          WHERE (key LIKE ? ESCAPE '\\' OR key = ?) AND (expires IS NULL OR expires > ?) ORDER BY key`)
        .all(JSON.stringify(prefix).slice(0, -1) + ",%", JSON.stringify(prefix), now);
    for (const row of rows) yield { key: JSON.parse(row.key), value: JSON.parse(row.value) };
  }

  #expire() {
    this.#db.prepare(`DELETE FROM "${this.#table}" WHERE expires IS NOT NULL AND expires <= ?`).run(Date.now());
  }

  close() {
    this.#db.close();
  }
}

/**
 * A `retry(action)` that runs `action` again as long as it fails with an
 * error `isBusy` accepts (a lock another process held too long: nothing was
 * written), counting those in `retry.count`; both sides of the
 * sqlite-compat race use one.
 */
export function busyRetry(isBusy) {
  const retry = async (action) => {
    for (;;) {
      try {
        return await action();
      } catch (error) {
        if (!isBusy(error)) throw error;
        retry.count++;
      }
    }
  };
  retry.count = 0;
  return retry;
}

/**
 * Opens `path` with openFedifySqlite() in a child process (fedify-sqlite-worker.mjs)
 * and resolves, once it is open, to an object whose methods (set, get,
 * delete, cas, list, row, race, close) run there; see the worker (a TTL
 * is given to set and cas in milliseconds, not as a Temporal.Duration).
 *
 * A process of its own, as a Fedify app sharing the file would be, and
 * because it must be while fedikv has the file open: its SQLite library
 * brings its own copy of SQLite (see ipc-worker.mjs).
 */
export function startFedifySqlite(path) {
  return startWorker(workerPath, [path], {
    name: "Fedify SQLite layout",
    ops: ["set", "get", "delete", "cas", "list", "row", "race"],
  });
}
