// Every fedikv store through the conformance kit, exactly as users get it
// (fedikv/testing), with fedikv's error codes checked too. Server stores
// run when their server is reachable (and must be, under CI=true); each run
// uses its own table or key prefix, dropped at the end.
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { after, describe } from "node:test";
import { MemoryKvStore, MysqlKvStore, PostgresKvStore, RedisKvStore, SqliteKvStore } from "fedikv";
import { testKvStore } from "fedikv/testing";
import { startRedisCluster } from "./support/redis-cluster.mjs";
import { server, uniqueName } from "./support/servers.mjs";

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
const cluster = redis.skip ? null : startRedisCluster({ masters: 3 });
testServerStore(
  "RedisKvStore (Cluster of 3 masters)",
  redis,
  async (name) => new RedisKvStore((await cluster).nodes, { keyPrefix: `${name}::` }),
);
// After hooks run in the order they were added: this one after the drop.
if (cluster) after(async () => (await cluster).stop());
