// The stores that the reliability tests (processes, properties, hostile
// data) run on, as plain descriptions that child processes can open too
// (see open-store.mjs). Server stores are skips with a reason when their
// server is unreachable (failures under CI=true, see servers.mjs); each
// description has a table or key prefix of its own.
import { join } from "node:path";
import { startRedisCluster } from "./redis-cluster.mjs";
import { server, uniqueName } from "./servers.mjs";

/**
 * `{ specs, stop }`: `specs` are `{ name, kind, spec, skip }` for every store
 * several processes can share (a SQLite file in `dir`, Redis, PostgreSQL,
 * MariaDB, and with `cluster` a Redis Cluster of 3 masters started here),
 * plus with `inProcess` the stores only one process can see (memory, SQLite
 * :memory:). `stop()` stops the cluster.
 */
export async function storeSpecs(dir, { stem, cluster = false, inProcess = false }) {
  const [redis, postgres, mysql] = await Promise.all([server("redis"), server("postgres"), server("mysql")]);
  const name = uniqueName(stem);
  const specs = [];
  if (inProcess) {
    specs.push({ name: "MemoryKvStore", kind: "memory", spec: { kind: "MemoryKvStore" } });
    specs.push({ name: "SqliteKvStore (:memory:)", kind: "sqlite", spec: { kind: "SqliteKvStore", target: ":memory:" } });
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
  let stop = () => {};
  if (cluster) {
    const label = "RedisKvStore (Cluster of 3 masters)";
    if (redis.skip) {
      specs.push({ name: label, kind: "redis", skip: redis.skip });
    } else {
      const started = await startRedisCluster({ masters: 3 });
      stop = started.stop;
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
  return { specs, stop };
}
