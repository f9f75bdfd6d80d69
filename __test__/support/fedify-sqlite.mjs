// The storage of @fedify/sqlite 1.8.7, on better-sqlite3: the same table,
// the same SQL shapes (JSON.stringify(key) as the key, `now + ttl` in epoch
// milliseconds as `expires`, an expiry DELETE after every write, LIKE for
// prefixes, cas in a BEGIN IMMEDIATE transaction), on better-sqlite3's
// defaults (a rollback journal, synchronous = FULL) as a DatabaseSync has them. @fedify/sqlite itself needs `node:sqlite` (Node 22),
// so tests and benchmarks on Node 20 use this stand-in to write and read
// the layout exactly as Fedify does.
//
// startFedifySqlite() runs the layout in a child process of its own, for
// tests that keep it open on a file fedikv has open too (see there).
import { fork } from "node:child_process";
import { fileURLToPath } from "node:url";
import { isDeepStrictEqual } from "node:util";
import Database from "better-sqlite3";

const workerPath = fileURLToPath(new URL("./fedify-sqlite-worker.mjs", import.meta.url));

export class FedifySqliteLayout {
  #db;
  #table;

  /** `options` go to better-sqlite3 (`timeout`: how long to wait for a lock). */
  constructor(path, tableName = "fedify_kv", options = {}) {
    this.#db = new Database(path, options);
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
 * Opens `path` with the layout in a child process (fedify-sqlite-worker.mjs)
 * and resolves, once it is open, to an object whose methods (set, get,
 * delete, cas, list, row, race, close) run there; see the worker (a TTL
 * is given to set and cas in milliseconds, not as a Temporal.Duration).
 *
 * A process of its own, as a Fedify app sharing the file would be, and
 * because it must be while fedikv has the file open: better-sqlite3 brings
 * its own copy of SQLite, and two copies in one process do not lock one
 * file against each other (POSIX locks belong to the process, and closing
 * one copy's descriptor drops the other's locks; SQLite's "How To Corrupt"
 * guide, 2.2.1). In one process, a test of both at once shows nothing, and
 * closing one side can delete the WAL the other still uses.
 */
export async function startFedifySqlite(path) {
  const child = fork(workerPath, [path], {
    // Structured clone, so that `undefined` (an absent value) crosses as itself.
    serialization: "advanced",
    stdio: ["ignore", "inherit", "inherit", "ipc"],
  });
  const pending = new Map();
  let next = 0;
  let exited = false;
  const exit = new Promise((resolve) => child.once("exit", resolve));
  child.once("exit", (code, signal) => {
    exited = true;
    for (const { reject } of pending.values()) reject(new Error(`the Fedify SQLite process exited (${signal ?? code})`));
    pending.clear();
  });
  const kill = () => exited || child.kill("SIGKILL");
  process.once("exit", kill);
  await new Promise((resolve, reject) => {
    child.once("message", resolve);
    child.once("exit", () => reject(new Error("the Fedify SQLite process did not start")));
  });
  child.on("message", ({ id, result, error }) => {
    const call = pending.get(id);
    if (call === undefined) return;
    pending.delete(id);
    if (error === undefined) call.resolve(result);
    else call.reject(Object.assign(new Error(`Fedify SQLite layout: ${error.message}`), { code: error.code }));
  });
  const call = (op) => (...args) => new Promise((resolve, reject) => {
    if (exited) return reject(new Error("the Fedify SQLite process has exited"));
    const id = next++;
    pending.set(id, { resolve, reject });
    child.send({ id, op, args });
  });
  const layout = {};
  for (const op of ["set", "get", "delete", "cas", "list", "row", "race"]) layout[op] = call(op);
  /** Closes the database and waits for the process to end. */
  layout.close = async () => {
    if (!exited) await call("close")();
    await exit;
    process.removeListener("exit", kill);
  };
  return layout;
}
