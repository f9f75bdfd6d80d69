// Fedify's SQLite store re-typed on better-sqlite3: FedifySqliteLayout has
// @fedify/sqlite's storage (the same table, the same SQL shapes:
// JSON.stringify(key) as the key, `now + ttl` in epoch milliseconds as
// `expires`, an expiry DELETE after every write, LIKE for prefixes, cas in
// a BEGIN IMMEDIATE transaction), on better-sqlite3's defaults (a rollback
// journal, synchronous = FULL) as a DatabaseSync has them.
//
// The benchmark's Fedify side for SQLite (benchmark/lib/backends.mjs), and
// the tests' Fedify SQLite store where @fedify/sqlite cannot run: Node 20,
// which has no node:sqlite (__test__/support/fedify-sqlite-store.mjs).
import { createRequire } from "node:module";
import { isDeepStrictEqual } from "node:util";

const require = createRequire(import.meta.url);

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
    const rows =
      prefix === undefined || prefix.length === 0
        ? this.#db
            .prepare(`SELECT key, value FROM "${this.#table}" WHERE expires IS NULL OR expires > ? ORDER BY key`)
            .all(now)
        : this.#db
            .prepare(`SELECT key, value FROM "${this.#table}"
          WHERE (key LIKE ? ESCAPE '\\' OR key = ?) AND (expires IS NULL OR expires > ?) ORDER BY key`)
            .all(`${JSON.stringify(prefix).slice(0, -1)},%`, JSON.stringify(prefix), now);
    for (const row of rows) yield { key: JSON.parse(row.key), value: JSON.parse(row.value) };
  }

  #expire() {
    this.#db.prepare(`DELETE FROM "${this.#table}" WHERE expires IS NOT NULL AND expires <= ?`).run(Date.now());
  }

  close() {
    this.#db.close();
  }
}
