// The tests' own SQLite, for raw reads and writes of a file beside fedikv:
// node:sqlite's DatabaseSync where the runtime has it (Node 22+, Deno,
// Bun), better-sqlite3 on Node 20, which has no node:sqlite (and
// better-sqlite3 loads on no other runtime: it is built for Node's ABI).
// Each is a copy of SQLite of its own: on a file fedikv has open, use it
// only from another process (ipc-worker.mjs explains why).
import { createRequire } from "node:module";

const require = createRequire(import.meta.url);

let DatabaseSync = null;
try {
  ({ DatabaseSync } = await import("node:sqlite"));
} catch {
  // Node 20.
}

/** The library behind openSqlite() on this runtime. */
export const SQLITE_LIBRARY = DatabaseSync === null ? "better-sqlite3" : "node:sqlite";

/**
 * Opens `path`: an object with `prepare(sql)` (whose statements have
 * `run`, `get` and `all`), `exec(sql)` and `close()`, the API both
 * libraries share. `busyTimeoutMs` is how long a statement waits for a
 * lock another process holds.
 */
export function openSqlite(path, { readonly = false, busyTimeoutMs = 0 } = {}) {
  const db =
    DatabaseSync === null
      ? new (require("better-sqlite3"))(path, { readonly, fileMustExist: readonly })
      : new DatabaseSync(path, { readOnly: readonly });
  db.exec(`PRAGMA busy_timeout = ${Math.trunc(busyTimeoutMs)}`);
  return db;
}

/** Whether `error` is SQLite's SQLITE_BUSY (a lock held too long), from either library or bun:sqlite. */
export function isSqliteBusy(error) {
  return String(error?.code).startsWith("SQLITE_BUSY") || (error?.errcode & 0xff) === 5 || (error?.errno & 0xff) === 5;
}

/**
 * A read-only connection to `path` in a child process of its own
 * (sqlite-reader-worker.mjs), for raw reads of a file that fedikv (another
 * copy of SQLite) has open in this process: resolves to { all, get, close }.
 */
export async function startSqliteReader(path) {
  const { startWorker } = await import("./ipc-worker.mjs");
  const script = new URL("./sqlite-reader-worker.mjs", import.meta.url).pathname;
  return startWorker(script, [path], { name: "SQLite reader", ops: ["all", "get"] });
}
