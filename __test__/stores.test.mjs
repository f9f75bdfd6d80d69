// Every fedikv store through the conformance kit, exactly as users get it
// (fedikv/testing), with fedikv's error codes checked too. Server stores
// run when their server is reachable (and must be, under CI=true); each run
// uses its own table or key prefix, dropped at the end.
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import assert from "node:assert/strict";
import { after, describe, test } from "node:test";
import { DenoKvStore, MemoryKvStore, MysqlKvStore, PostgresKvStore, RedisKvStore, SqliteKvStore } from "fedikv";
import { testKvStore } from "fedikv/testing";
import { denokvBinary, startDenokvServer } from "./support/denokv-server.mjs";
import { startRedisCluster } from "./support/redis-cluster.mjs";
import { openSqlite } from "./support/sqlite.mjs";
import { server, uniqueName, unwanted } from "../support/servers.mjs";

const dir = mkdtempSync(join(tmpdir(), "fedikv-test-"));
after(() => rmSync(dir, { recursive: true, force: true }));
let files = 0;

testKvStore(() => new MemoryKvStore(), { name: "MemoryKvStore", errorCodes: true });
testKvStore(() => new SqliteKvStore(), { name: "SqliteKvStore (:memory:)", errorCodes: true });
testKvStore(() => new SqliteKvStore(join(dir, `kv${files++}.db`)), {
  name: "SqliteKvStore (file)",
  errorCodes: true,
});
testKvStore(() => new SqliteKvStore(join(dir, "shared.db"), { tableName: `t${files++}` }), {
  name: "SqliteKvStore (file, custom table)",
  errorCodes: true,
});

// Deno KV: its own limits (64 KiB a value, 2 KiB a key) instead of the 1 MB
// round trip. On a file, expiry is exact. (Registered before the
// top-level await below, like every kit run on `dir`.)
const DENO_KV_LIMITS = { maxValueBytes: 65536, maxKeyBytes: 2048 };
testKvStore(() => new DenoKvStore(join(dir, `denokv${files++}.sqlite3`)), {
  name: "DenoKvStore (file)",
  errorCodes: true,
  ...DENO_KV_LIMITS,
});

/**
 * Runs the kit on a server store: `open(name)` makes a store on the run's
 * own table or prefix `name`; the last store drops it.
 */
function testServerStore(label, { skip }, open, options = {}) {
  if (skip) {
    describe(`KvStore conformance: ${label}`, { skip }, () => {});
    return;
  }
  const name = uniqueName("conformance");
  after(async () => {
    const kv = await open(name);
    await kv.drop();
    await kv.close();
  });
  testKvStore(() => open(name), { name: label, errorCodes: true, ...options });
}

const [redis, postgres, mysql] = await Promise.all([server("redis"), server("postgres"), server("mysql")]);

testServerStore("RedisKvStore", redis, (name) => new RedisKvStore(redis.url, { keyPrefix: `${name}::` }));
testServerStore("PostgresKvStore", postgres, (name) => new PostgresKvStore(postgres.url, { tableName: name }), {
  nul: false,
});
testServerStore("MysqlKvStore (MariaDB)", mysql, (name) => new MysqlKvStore(mysql.url, { tableName: name }));

// A Redis Cluster of 3 masters started for this run (redis-server must be
// installed; the cluster is stopped at the end).
const clusterSkip = redis.skip ?? unwanted("redis-cluster");
const cluster = clusterSkip ? null : startRedisCluster({ masters: 3 });
testServerStore(
  "RedisKvStore (Cluster of 3 masters)",
  { skip: clusterSkip },
  async (name) => new RedisKvStore((await cluster).nodes, { keyPrefix: `${name}::` }),
);
// After hooks run in the order they were added: this one after the drop.
if (cluster) after(async () => (await cluster).stop());

// Deno KV through KV Connect, on a denokv 0.14 server started for this run, with the
// documented expiry grace (62 s: KV Connect cannot tell expired entries, and
// denokv collects them lazily). The server's file gets a clock of entries
// expiring every 250 ms (see support/denokv-server.mjs), so its collector
// wakes about every second instead of every minute and the expiry tests,
// which poll until the entry is gone, take seconds; they would still pass a
// server that took the whole grace.
const denokv = denokvBinary();
if (denokv.skip) {
  describe("KvStore conformance: DenoKvStore (KV Connect)", { skip: denokv.skip }, () => {});
} else {
  const denokvServer = startDenokvServer({ clock: { everyMs: 250, forMs: 15 * 60_000 } });
  after(async () => (await denokvServer).stop());
  testKvStore(
    async () => {
      const { url, accessToken } = await denokvServer;
      return new DenoKvStore(url, { accessToken });
    },
    {
      name: "DenoKvStore (KV Connect, denokv 0.14)",
      errorCodes: true,
      ttlGraceMs: DenoKvStore.kvConnectExpiryGraceMs,
      ...DENO_KV_LIMITS,
    },
  );
}

// list() asks for the next page before it hands out this one (a page is 256
// entries): a caller that stops in the first page and closes the store at
// once leaves that page unread, with no error and no unhandled rejection,
// even when that page fails; one that goes on gets the first page, then the
// error.
const leftPrefix = `${uniqueName("left")}::`;
async function dropLeft() {
  const kv = new RedisKvStore(redis.url, { keyPrefix: leftPrefix });
  await kv.drop();
  await kv.close();
}

/** Runs `body` and gives the unhandled rejections seen until 100 ms after it. */
async function unhandledDuring(body) {
  const unhandled = [];
  const onUnhandled = (reason) => unhandled.push(reason);
  process.on("unhandledRejection", onUnhandled);
  try {
    await body();
    await new Promise((resolve) => setTimeout(resolve, 100));
  } finally {
    process.off("unhandledRejection", onUnhandled);
  }
  return unhandled;
}

describe("a listing left in its first page", () => {
  const stores = [
    ["MemoryKvStore", () => new MemoryKvStore()],
    ["SqliteKvStore", () => new SqliteKvStore(join(dir, `left${files++}.db`))],
    ["RedisKvStore", () => new RedisKvStore(redis.url, { keyPrefix: leftPrefix }), redis.skip, dropLeft],
  ];
  for (const [name, open, skip = false, cleanup] of stores) {
    test(name, { skip }, async () => {
      const kv = open();
      const unhandled = await unhandledDuring(async () => {
        try {
          await Promise.all(Array.from({ length: 600 }, (_, i) => kv.set(["left", String(i).padStart(3, "0")], i)));
          let all = 0;
          for await (const _ of kv.list(["left"])) all++;
          assert.equal(all, 600);
          const taken = [];
          for await (const entry of kv.list(["left"])) {
            taken.push(entry.value);
            if (taken.length === 3) break;
          }
          assert.equal(taken.length, 3);
          // Closed while the second page may still be on its way.
          const iterator = kv.list(["left"])[Symbol.asyncIterator]();
          assert.equal(typeof (await iterator.next()).value.value, "number");
          await kv.close();
          await iterator.return();
        } finally {
          await kv.close();
        }
      });
      assert.deepEqual(unhandled, []);
      if (cleanup) await cleanup();
    });
  }

  test("SqliteKvStore, its second page failing", async () => {
    // A row that is not JSON, in the second page, written before fedikv
    // opens the file (the tests' own SQLite: support/sqlite.mjs).
    const path = join(dir, `left${files++}.db`);
    const db = openSqlite(path);
    db.exec(
      "CREATE TABLE fedify_kv (key TEXT PRIMARY KEY, value TEXT NOT NULL, created INTEGER NOT NULL, expires INTEGER)",
    );
    const insert = db.prepare("INSERT INTO fedify_kv VALUES (?, ?, 0, NULL)");
    for (let i = 0; i < 600; i++) {
      insert.run(JSON.stringify(["left", String(i).padStart(3, "0")]), i === 300 ? "{not json" : String(i));
    }
    db.close();
    const kv = new SqliteKvStore(path);
    const unhandled = await unhandledDuring(async () => {
      try {
        const taken = [];
        for await (const entry of kv.list(["left"])) {
          taken.push(entry.value);
          if (taken.length === 3) break;
        }
        assert.deepEqual(taken, [0, 1, 2]);
        let reached = 0;
        await assert.rejects(
          async () => {
            for await (const _ of kv.list(["left"])) reached++;
          },
          (error) => error.code === "ERR_FEDIKV_INVALID_DATA",
        );
        assert.ok(reached >= 256, `the first page came before the error (${reached} entries)`);
      } finally {
        await kv.close();
      }
    });
    assert.deepEqual(unhandled, []);
  });
});
