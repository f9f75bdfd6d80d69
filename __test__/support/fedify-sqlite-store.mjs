// Fedify's SQLite store, for the tests that read and write its layout:
// the real @fedify/sqlite wherever it runs (on node:sqlite on Node
// 22+ and Deno, on bun:sqlite on Bun), and on Node 20, which has no
// node:sqlite for it, FedifySqliteLayout (support/fedify-sqlite.mjs): its
// storage re-typed on better-sqlite3.
//
// startFedifySqlite() runs it in a child process of its own, for tests
// that keep it open on a file fedikv has open too (see there).
import { fileURLToPath } from "node:url";
import { createRequire } from "node:module";
import { FedifySqliteLayout } from "../../support/fedify-sqlite.mjs";
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
export const FEDIFY_SQLITE =
  FedifySqliteKvStore === null
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
