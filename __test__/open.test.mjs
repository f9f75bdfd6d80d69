// openKvStore (one URL for any store), listWithExpiry, and migrate() as an
// app calls it: the memory → MySQL move goes through here, since a
// MemoryKvStore lives in one process and the `fedikv` command cannot reach
// it (cli.test.mjs checks that the command says so).
import assert from "node:assert/strict";
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { after, describe, test } from "node:test";
import * as fedikv from "fedikv";
import {
  listWithExpiry,
  MemoryKvStore,
  migrate,
  MysqlKvStore,
  openKvStore,
  PostgresKvStore,
  RedisKvStore,
  SqliteKvStore,
} from "fedikv";
import { assertSameEntries, EXPIRED, LIVE, seed, snapshot, withParam } from "./support/migration.mjs";
import { server, uniqueName } from "../support/servers.mjs";

const dir = mkdtempSync(join(tmpdir(), "fedikv-open-"));
const mysql = await server("mysql");
after(() => rmSync(dir, { recursive: true, force: true }));

const invalid = (pattern) => (error) => {
  assert.ok(error instanceof TypeError, `expected a TypeError, got ${error}`);
  assert.equal(error.code, "ERR_FEDIKV_INVALID_OPTION");
  assert.match(error.message, pattern);
  // The message lists what would have worked.
  for (const form of [
    "memory:",
    "sqlite:",
    "redis://",
    "redis+cluster://",
    "postgres://",
    "mysql://",
    "denokv:",
    "http(s)://",
  ]) {
    assert.ok(error.message.includes(form), `the message names ${form}: ${error.message}`);
  }
  return true;
};

describe("openKvStore", () => {
  test("each URL form opens its store; options and query options pass through", async () => {
    const cases = [
      ["memory:", MemoryKvStore],
      ["sqlite::memory:", SqliteKvStore, { path: ":memory:", tableName: "fedify_kv" }],
      [`sqlite:${join(dir, "a.db")}`, SqliteKvStore, { path: join(dir, "a.db") }],
      [`sqlite://${join(dir, "b.db")}`, SqliteKvStore, { path: join(dir, "b.db") }],
      [join(dir, "c.db"), SqliteKvStore, { path: join(dir, "c.db") }],
      ["./relative.db", SqliteKvStore, { path: "./relative.db" }],
      [
        `sqlite:${join(dir, "d.db")}?tableName=from_url`,
        SqliteKvStore,
        { path: join(dir, "d.db"), tableName: "from_url" },
      ],
      ["redis://127.0.0.1:6379/0", RedisKvStore, { keyPrefix: "fedify::" }],
      ["rediss://user:pw@redis.example:6380", RedisKvStore],
      ["redis://127.0.0.1:6379?keyPrefix=app::", RedisKvStore, { keyPrefix: "app::" }],
      ["redis://10.0.0.1:7000,10.0.0.2:7000,10.0.0.3:7000", RedisKvStore],
      ["redis+cluster://10.0.0.1:7000", RedisKvStore],
      ["postgres://postgres@127.0.0.1/test", PostgresKvStore, { tableName: "fedify_kv_v2" }],
      ["postgresql://postgres@127.0.0.1/test?tableName=kv&sslmode=disable", PostgresKvStore, { tableName: "kv" }],
      ["mysql://root@127.0.0.1/test", MysqlKvStore, { tableName: "fedify_kv" }],
      ["mariadb://root@127.0.0.1/test?tableName=kv2", MysqlKvStore, { tableName: "kv2" }],
    ];
    for (const [url, Class, props = {}] of cases) {
      const store = openKvStore(url);
      assert.ok(store instanceof Class, `${url} → ${store.constructor.name}`);
      for (const [name, value] of Object.entries(props)) assert.equal(store[name], value, `${url}: ${name}`);
      await store.close();
    }
    // Options given win over the URL's, and reach the constructor.
    const store = openKvStore(`sqlite:${join(dir, "e.db")}?tableName=from_url`, { tableName: "from_options" });
    assert.equal(store.tableName, "from_options");
    await store.set(["k"], 1);
    await store.close();
    assert.throws(() => openKvStore("sqlite::memory:", { tableName: "bad name" }), {
      code: "ERR_FEDIKV_INVALID_OPTION",
      message: /table name/,
    });
    assert.throws(() => openKvStore("redis://127.0.0.1", { keyPrefix: "" }), { code: "ERR_FEDIKV_INVALID_OPTION" });
    // A URL object works as its text does.
    const fromUrl = openKvStore(new URL("postgres://postgres@127.0.0.1/test"));
    assert.ok(fromUrl instanceof PostgresKvStore);
    await fromUrl.close();
  });

  test("Deno KV forms open a DenoKvStore when this build has one", {
    skip: fedikv.DenoKvStore === undefined && "DenoKvStore is not in this build",
  }, async () => {
    const file = openKvStore(`denokv:${join(dir, "deno.sqlite3")}`);
    assert.ok(file instanceof fedikv.DenoKvStore);
    await file.set(["k"], { deno: true });
    assert.deepEqual(await file.get(["k"]), { deno: true });
    await file.close();
    const remote = openKvStore("https://kv.example/db", { accessToken: "token" });
    assert.ok(remote instanceof fedikv.DenoKvStore);
    await remote.close();
  });

  test("an unknown scheme or a malformed URL is a TypeError listing the forms, password masked", () => {
    assert.throws(() => openKvStore("ftp://example.com/x"), invalid(/unknown scheme ftp/));
    assert.throws(
      () => openKvStore("mongodb://u:hunter2@h/db"),
      (error) => {
        invalid(/unknown scheme mongodb/)(error);
        assert.ok(!error.message.includes("hunter2"), error.message);
        return true;
      },
    );
    assert.throws(
      () => openKvStore("postgres://u:hunter2@[::1/db"),
      (error) => {
        invalid(/malformed URL/)(error);
        assert.ok(!error.message.includes("hunter2"), error.message);
        return true;
      },
    );
    assert.throws(
      () => openKvStore("redis://:hunter2@a:7000,,b:7000"),
      (error) => {
        invalid(/empty host/)(error);
        assert.ok(!error.message.includes("hunter2"), error.message);
        return true;
      },
    );
    assert.throws(() => openKvStore("redis:localhost"), invalid(/malformed Redis URL/));
    assert.throws(() => openKvStore("sqlite:"), invalid(/no file path/));
    assert.throws(() => openKvStore("sqlite://host/x.db"), invalid(/no file path/));
    assert.throws(() => openKvStore("memory:x"), invalid(/memory:/));
    assert.throws(() => openKvStore(""), invalid(/empty URL/));
    for (const bad of [42, null, undefined, ["redis://a"]]) {
      assert.throws(() => openKvStore(bad), invalid(/needs a URL string/));
    }
    assert.throws(() => openKvStore("memory:", "options"), { code: "ERR_FEDIKV_INVALID_OPTION" });
  });
});

describe("listWithExpiry", () => {
  test("yields each entry with its expiry instant, null when permanent", async () => {
    const store = new SqliteKvStore();
    const setAt = Date.now();
    await seed(store);
    const entries = [];
    for await (const entry of listWithExpiry(store, ["app"])) entries.push(entry);
    assert.deepEqual(
      entries.map((e) => e.key),
      LIVE.filter(([k]) => k[0] === "app")
        .map(([k]) => k)
        .sort((a, b) => (JSON.stringify(a) < JSON.stringify(b) ? -1 : 1)),
    );
    for (const { key, expiresAt } of entries) {
      const ttl = LIVE.find(([k]) => JSON.stringify(k) === JSON.stringify(key))[2];
      if (ttl === null) assert.equal(expiresAt, null);
      else assert.ok(Math.abs(expiresAt - (setAt + ttl)) < 1000, `${key}: ${expiresAt - setAt - ttl}`);
    }
    // The plain listing is unchanged: key and value only.
    for await (const entry of store.list(["app"])) assert.deepEqual(Object.keys(entry), ["key", "value"]);
    await store.close();
  });

  test("refuses what is not a fedikv store, and bad prefixes", () => {
    assert.throws(() => listWithExpiry({ list() {} }), { code: "ERR_FEDIKV_INVALID_OPTION" });
    assert.throws(() => listWithExpiry(new MemoryKvStore(), "app"), { code: "ERR_FEDIKV_INVALID_KEY" });
  });
});

describe("migrate()", () => {
  test("memory → SQLite file: values, TTLs, no expired entry, the count check; merge is idempotent", async () => {
    const source = new MemoryKvStore();
    await seed(source);
    const target = new SqliteKvStore(join(dir, "migrated.db"));
    const progress = [];
    const result = await migrate(source, target, { batchSize: 2, onProgress: (p) => progress.push(p) });
    assert.equal(result.copied, LIVE.length);
    assert.equal(result.withTtl, LIVE.filter(([, , ttl]) => ttl !== null).length);
    assert.equal(result.total, LIVE.length);
    assert.deepEqual([result.sourceCount, result.targetCount, result.ok], [LIVE.length, LIVE.length, true]);
    assert.deepEqual(
      progress.map((p) => p.done),
      [2, 4, 6, 6],
    );
    const copied = await snapshot(target);
    assertSameEntries(copied, await snapshot(source));
    assert.equal(await target.get(EXPIRED[0]), undefined);

    await assert.rejects(migrate(source, target), { code: "ERR_FEDIKV_NOT_EMPTY" });
    const again = await migrate(source, target, { merge: true });
    assert.deepEqual([again.copied, again.unchanged, again.ok], [0, LIVE.length, true]);
    assertSameEntries(await snapshot(target), copied);

    // A dry run writes nothing; a prefix limits the copy.
    const other = new MemoryKvStore();
    const dry = await migrate(source, other, { dryRun: true });
    assert.equal(dry.copied, LIVE.length);
    assert.equal((await snapshot(other)).size, 0);
    const some = await migrate(source, other, { prefix: ["app"] });
    assert.equal(some.copied, LIVE.filter(([k]) => k[0] === "app").length);
    assert.deepEqual(
      [...(await snapshot(other)).keys()].every((k) => k.startsWith('["app"')),
      true,
    );
    await Promise.all([source.close(), target.close(), other.close()]);
  });

  test("refuses what it cannot do", async () => {
    const store = new MemoryKvStore();
    await assert.rejects(migrate(store, store), { code: "ERR_FEDIKV_INVALID_OPTION" });
    await assert.rejects(migrate(store, { set() {} }), { code: "ERR_FEDIKV_INVALID_OPTION" });
    await assert.rejects(migrate(store, new MemoryKvStore(), { batchSize: 0 }), { code: "ERR_FEDIKV_INVALID_OPTION" });
    await assert.rejects(migrate(store, new MemoryKvStore(), { prefix: "app" }), { code: "ERR_FEDIKV_INVALID_KEY" });
  });

  test("memory → MySQL (MariaDB): values, TTLs within a second, expired not copied, a second run changes nothing", {
    skip: mysql.skip,
  }, async () => {
    const source = new MemoryKvStore();
    await seed(source);
    const url = withParam(mysql.url, "tableName", uniqueName("migrate"));
    const target = openKvStore(url);
    assert.ok(target instanceof MysqlKvStore);
    try {
      const result = await migrate(source, target);
      assert.deepEqual([result.copied, result.ok], [LIVE.length, true]);
      const expected = await snapshot(source);
      const copied = await snapshot(target);
      assertSameEntries(copied, expected);
      assert.equal(await target.get(EXPIRED[0]), undefined);
      const again = await migrate(source, target, { merge: true });
      assert.deepEqual([again.copied, again.unchanged], [0, LIVE.length]);
      assertSameEntries(await snapshot(target), copied);
    } finally {
      await target.drop();
      await Promise.all([source.close(), target.close()]);
    }
  });
});
