// fedikv's own promises about errors, beyond the kit: classes, codes and
// messages for bad TTLs, options and paths, and the closed state.
import assert from "node:assert/strict";
import { test } from "node:test";
import { Temporal } from "@js-temporal/polyfill";
import { MemoryKvStore, SqliteKvStore } from "fedikv";
import { openSqlite } from "./support/sqlite.mjs";

const code =
  (expected, ErrorClass = Error) =>
  (error) => {
    assert.ok(error instanceof ErrorClass, `expected a ${ErrorClass.name}, got ${error}`);
    assert.equal(error.code, expected);
    assert.match(error.message, /^fedikv: /);
    return true;
  };

test("a TTL that is not a Temporal.Duration is a RangeError", async () => {
  const kv = new MemoryKvStore();
  for (const ttl of [1000, "PT1S", true, { hours: -1 }, { minutes: NaN }]) {
    await assert.rejects(kv.set(["k"], 1, { ttl }), code("ERR_FEDIKV_INVALID_TTL", RangeError));
    await assert.rejects(kv.cas(["k"], undefined, 1, { ttl }), code("ERR_FEDIKV_INVALID_TTL", RangeError));
  }
  await assert.rejects(
    kv.set(["k"], 1, { ttl: Temporal.Duration.from({ years: 1001 }) }),
    code("ERR_FEDIKV_INVALID_TTL", RangeError),
  );
  await assert.rejects(kv.set(["k"], 1, "options"), code("ERR_FEDIKV_INVALID_OPTION", TypeError));
  assert.equal(await kv.get(["k"]), undefined);
  await kv.close();
});

test("a duck-typed duration with sub-millisecond fields works", async () => {
  const kv = new MemoryKvStore();
  await kv.set(["k"], 1, { ttl: { seconds: 60, microseconds: 1 } });
  assert.equal(await kv.get(["k"]), 1);
  await kv.close();
});

test("bad SqliteKvStore arguments are a TypeError at construction", () => {
  const bad = [
    () => new SqliteKvStore(42),
    () => new SqliteKvStore("a\0b"),
    () => new SqliteKvStore(new URL("https://example.com/db")),
    () => new SqliteKvStore(":memory:", { tableName: 'kv"; DROP TABLE x; --' }),
    () => new SqliteKvStore(":memory:", { tableName: "1abc" }),
    () => new SqliteKvStore(":memory:", { tableName: 7 }),
    () => new SqliteKvStore(":memory:", { initialized: "yes" }),
    () => new SqliteKvStore(":memory:", "options"),
  ];
  for (const make of bad) assert.throws(make, code("ERR_FEDIKV_INVALID_OPTION", TypeError));
});

test("a path that cannot be opened rejects with ERR_FEDIKV_CONNECTION, naming SQLite", async () => {
  const kv = new SqliteKvStore("/nonexistent-dir/fedify.db");
  await assert.rejects(kv.get(["k"]), (error) => {
    code("ERR_FEDIKV_CONNECTION")(error);
    assert.match(error.message, /SQLite/);
    return true;
  });
  await kv.close();
});

test("closed, initialize and drop", async () => {
  const kv = new SqliteKvStore(":memory:", { tableName: "custom" });
  assert.equal(kv.closed, false);
  assert.equal(kv.tableName, "custom");
  assert.equal(kv.path, ":memory:");
  await kv.initialize();
  await kv.set(["a"], 1);
  await kv.drop();
  assert.equal(await kv.get(["a"]), undefined, "drop removed the data; the next call made a new table");
  await kv.close();
  assert.equal(kv.closed, true);
  await assert.rejects(kv.initialize(), code("ERR_FEDIKV_CLOSED"));
  await assert.rejects(kv.drop(), code("ERR_FEDIKV_CLOSED"));
});

test("a value that is not JSON in the database rejects with ERR_FEDIKV_INVALID_DATA", async (t) => {
  const { mkdtempSync, rmSync } = await import("node:fs");
  const { join } = await import("node:path");
  const { tmpdir } = await import("node:os");
  const dir = mkdtempSync(join(tmpdir(), "fedikv-err-"));
  t.after(() => rmSync(dir, { recursive: true, force: true }));
  const path = join(dir, "kv.db");
  // One SQLite library at a time on the file (two in one process do not
  // lock it against each other): fedikv makes the table, the tests' SQLite
  // writes the row, fedikv reads it.
  const maker = new SqliteKvStore(path);
  await maker.initialize();
  await maker.close();
  const db = openSqlite(path);
  db.prepare("INSERT INTO fedify_kv VALUES (?, ?, 0, NULL)").run('["broken"]', "{not json");
  db.close();
  const kv = new SqliteKvStore(path);
  await assert.rejects(kv.get(["broken"]), code("ERR_FEDIKV_INVALID_DATA"));
  await kv.close();
});

test("list reports a stored value that is not JSON, naming its key", async (t) => {
  const { mkdtempSync, rmSync } = await import("node:fs");
  const { join } = await import("node:path");
  const { tmpdir } = await import("node:os");
  const dir = mkdtempSync(join(tmpdir(), "fedikv-err-"));
  t.after(() => rmSync(dir, { recursive: true, force: true }));
  const path = join(dir, "kv.db");
  // One SQLite library at a time on the file, as above.
  const writer = new SqliteKvStore(path);
  await writer.set(["p", "good"], 1);
  await writer.close();
  const db = openSqlite(path);
  // Text that would inject a fake entry if pages were spliced unchecked.
  db.prepare("INSERT INTO fedify_kv VALUES (?, ?, 0, NULL)").run('["p","evil"]', '1],[["p","fake"],2');
  db.close();
  const kv = new SqliteKvStore(path);
  const seen = [];
  await assert.rejects(
    async () => {
      for await (const { key } of kv.list(["p"])) seen.push(key);
    },
    (error) => {
      code("ERR_FEDIKV_INVALID_DATA")(error);
      assert.match(error.message, /\["p","evil"\]/);
      return true;
    },
  );
  assert.ok(!seen.some((key) => key[1] === "fake"), "no injected entry");
  await kv.close();
});

test("a server that is not there: ERR_FEDIKV_CONNECTION within the connect timeout, no password shown", async () => {
  const { MysqlKvStore, PostgresKvStore, RedisKvStore } = await import("fedikv");
  // Port 1 on loopback: nothing listens there.
  const stores = [
    new RedisKvStore("redis://user:hunter2@127.0.0.1:1", { connectTimeout: 500 }),
    new RedisKvStore(["redis://127.0.0.1:1", "redis://127.0.0.1:2"], { connectTimeout: 500 }),
    new PostgresKvStore("postgres://user:hunter2@127.0.0.1:1/db", { connectTimeout: 500 }),
    new MysqlKvStore("mysql://user:hunter2@127.0.0.1:1/db", { connectTimeout: 500 }),
  ];
  for (const kv of stores) {
    const started = Date.now();
    await assert.rejects(kv.get(["k"]), (error) => {
      code("ERR_FEDIKV_CONNECTION")(error);
      assert.doesNotMatch(error.message, /hunter2/);
      return true;
    });
    assert.ok(Date.now() - started < 3000, `${kv.constructor.name} gave up in ${Date.now() - started} ms`);
    await kv.close();
  }
});

test("bad server store options are a TypeError at construction", async () => {
  const { MysqlKvStore, PostgresKvStore, RedisKvStore } = await import("fedikv");
  const bad = [
    () => new RedisKvStore("http://localhost"),
    () => new RedisKvStore([]),
    () => new RedisKvStore("redis://localhost", { keyPrefix: "a*" }),
    () => new RedisKvStore("redis://localhost", { keyPrefix: "" }),
    () => new RedisKvStore("redis://localhost", { connectTimeout: -1 }),
    () => new PostgresKvStore("not a url"),
    () => new PostgresKvStore("postgres://localhost/db", { tableName: "x; DROP TABLE y" }),
    () => new PostgresKvStore("postgres://localhost/db", { maxConnections: 0 }),
    () => new MysqlKvStore("postgres://localhost/db"),
    () => new MysqlKvStore("mysql://localhost/db", { tableName: "a".repeat(51) }),
    () => new MysqlKvStore(42),
    () => new PostgresKvStore("postgres://localhost/db", { responseTimeout: -1 }),
    () => new MysqlKvStore("mysql://localhost/db", { responseTimeout: "10s" }),
    () => new RedisKvStore("redis://localhost", { responseTimeout: Number.NaN }),
  ];
  for (const make of bad) assert.throws(make, code("ERR_FEDIKV_INVALID_OPTION", TypeError));
});

test("Redis: list reports a foreign value that is not JSON, with no injected entry", { timeout: 30_000 }, async (t) => {
  const { server, uniqueName } = await import("../support/servers.mjs");
  const redis = await server("redis");
  if (redis.skip) return t.skip(redis.skip);
  const { RedisKvStore } = await import("fedikv");
  const { default: Redis } = await import("ioredis");
  const prefix = `${uniqueName("err")}::`;
  const kv = new RedisKvStore(redis.url, { keyPrefix: prefix });
  const client = new Redis(redis.url);
  try {
    await kv.set(["p", "good"], 1);
    await client.set(`${prefix}p::evil`, '1],[["p","fake"],2');
    const seen = [];
    await assert.rejects(
      async () => {
        for await (const { key } of kv.list(["p"])) seen.push(key);
      },
      (error) => {
        code("ERR_FEDIKV_INVALID_DATA")(error);
        assert.match(error.message, /\["p","evil"\]/);
        return true;
      },
    );
    assert.ok(!seen.some((key) => key[1] === "fake"), "no injected entry");
  } finally {
    try {
      await kv.drop();
    } finally {
      await kv.close();
      await client.quit();
    }
  }
});

test("every error code is in one list (the addon's), and index.d.ts and the README list exactly those, with their classes", async () => {
  const { readFileSync, readdirSync } = await import("node:fs");
  const { createRequire } = await import("node:module");
  const root = new URL("../", import.meta.url);
  const read = (path) => readFileSync(new URL(path, root), "utf8");
  const { errorCodes } = createRequire(import.meta.url)("../binding.js");
  // The one code the addon cannot list: it is thrown when the addon does not load.
  const expected = new Map([...errorCodes().map((c) => [c.code, c.className]), ["ERR_FEDIKV_LOAD", "Error"]]);

  const types = read("index.d.ts");
  const union = types.match(/export type FedikvErrorCode =([^;]*);/)[1];
  assert.deepEqual(
    new Set(union.match(/ERR_FEDIKV_[A-Z_]+/g)),
    new Set(expected.keys()),
    "index.d.ts: FedikvErrorCode",
  );
  const documented = new Map(
    [...types.matchAll(/^ \* - `(ERR_FEDIKV_[A-Z_]+)`( \(`(\w+)`\))?/gm)].map((m) => [m[1], m[3] ?? "Error"]),
  );
  assert.deepEqual(documented, expected, "index.d.ts: the doc list of FedikvErrorCode, with classes");

  const readme = new Map(
    [...read("README.md").matchAll(/^\| `(ERR_FEDIKV_[A-Z_]+)` \| `(\w+)` \|/gm)].map((m) => [m[1], m[2]]),
  );
  assert.deepEqual(readme, expected, "README.md: the table of errors, with classes");

  // Every code the JS layer raises is one of them.
  for (const dir of ["lib", "bin"]) {
    for (const file of readdirSync(new URL(dir, root))) {
      for (const [used] of read(`${dir}/${file}`).matchAll(/ERR_FEDIKV_[A-Z_]+(?=['"`])/g)) {
        assert.ok(expected.has(used), `${dir}/${file} uses ${used}, which is in no list`);
      }
    }
  }
});
