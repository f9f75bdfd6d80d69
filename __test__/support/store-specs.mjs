// The stores that the reliability tests (processes, properties) run on, as
// plain descriptions that child processes can open too (see
// open-store.mjs). Server stores are skips with a reason when their server
// is unreachable (failures under CI=true, see support/servers.mjs); each
// description has a table, key prefix, file or server of its own.
import { join } from "node:path";
import { DenoKvStore } from "fedikv";
import { denokvBinary, startDenokvServer } from "./denokv-server.mjs";
import { startRedisCluster } from "./redis-cluster.mjs";
import { server, uniqueName } from "../../support/servers.mjs";

/**
 * `{ specs, stop }`: `specs` are `{ name, kind, spec, skip, graceMs }` for
 * every store several processes can share (a SQLite file and a Deno KV file
 * in `dir`, Redis, PostgreSQL, MariaDB, and with `servers` a Redis Cluster
 * of 3 masters and a denokv server started here), plus with `inProcess`
 * the stores only one process can see (memory, SQLite :memory:).
 * `graceMs` is how late the store may notice an expiry (KV Connect's
 * documented grace; 0 elsewhere). `stop()` stops what was started.
 */
export async function storeSpecs(dir, { stem, servers = false, inProcess = false }) {
  const [redis, postgres, mysql] = await Promise.all([server("redis"), server("postgres"), server("mysql")]);
  const name = uniqueName(stem);
  const specs = [];
  if (inProcess) {
    specs.push({ name: "MemoryKvStore", kind: "memory", spec: { kind: "MemoryKvStore" } });
    specs.push({
      name: "SqliteKvStore (:memory:)",
      kind: "sqlite",
      spec: { kind: "SqliteKvStore", target: ":memory:" },
    });
  }
  specs.push(
    { name: "SqliteKvStore (file)", kind: "sqlite", spec: { kind: "SqliteKvStore", target: join(dir, `${name}.db`) } },
    {
      name: "RedisKvStore",
      kind: "redis",
      skip: redis.skip,
      spec: { kind: "RedisKvStore", target: redis.url, options: { keyPrefix: `${name}::` } },
    },
  );
  const stops = [];
  const stop = () => {
    for (const stopOne of stops) stopOne();
  };
  if (servers) {
    const label = "RedisKvStore (Cluster of 3 masters)";
    if (redis.skip) {
      specs.push({ name: label, kind: "redis", skip: redis.skip });
    } else {
      const started = await startRedisCluster({ masters: 3 });
      stops.push(started.stop);
      specs.push({
        name: label,
        kind: "redis",
        spec: { kind: "RedisKvStore", target: started.nodes, options: { keyPrefix: `${name}::` } },
      });
    }
  }
  specs.push(
    {
      name: "PostgresKvStore",
      kind: "postgres",
      skip: postgres.skip,
      spec: { kind: "PostgresKvStore", target: postgres.url, options: { tableName: name } },
    },
    {
      name: "MysqlKvStore (MariaDB)",
      kind: "mysql",
      skip: mysql.skip,
      spec: { kind: "MysqlKvStore", target: mysql.url, options: { tableName: name } },
    },
  );
  specs.push({
    name: "DenoKvStore (file)",
    kind: "denokv",
    spec: { kind: "DenoKvStore", target: join(dir, `${name}.sqlite3`) },
  });
  if (servers) {
    const label = "DenoKvStore (KV Connect, denokv 0.14)";
    const denokv = denokvBinary();
    if (denokv.skip) {
      specs.push({ name: label, kind: "denokv", skip: denokv.skip });
    } else {
      // A clock of entries expiring every 250 ms wakes denokv's collector
      // about every second (see denokv-server.mjs): expired entries go in
      // seconds, though the tests allow the whole documented grace.
      const started = await startDenokvServer({ clock: { everyMs: 250, forMs: 15 * 60_000 } });
      stops.push(started.stop);
      specs.push({
        name: label,
        kind: "denokv",
        graceMs: DenoKvStore.kvConnectExpiryGraceMs,
        spec: { kind: "DenoKvStore", target: started.url, options: { accessToken: started.accessToken } },
      });
    }
  }
  return { specs, stop };
}
