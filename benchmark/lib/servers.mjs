// The server backends of the benchmark: fedikv's store, Fedify's package on
// the same server, and the server's own ceiling measured with its own tool
// (and, for a Redis listing, a bare SCAN loop: benchmark/lib/limits.mjs).
import { execFile } from "node:child_process";
import { promisify } from "node:util";
import { RedisKvStore as FedifyRedisKvStore } from "@fedify/redis";
import { PostgresKvStore as FedifyPostgresKvStore } from "@fedify/postgres";
import Redis from "ioredis";
import postgres from "postgres";
import { MysqlKvStore, PostgresKvStore, RedisKvStore } from "../../index.js";
import { server, uniqueName } from "../../support/servers.mjs";
import { note } from "./documents.mjs";
import { redisScanLimits } from "./limits.mjs";

const run = promisify(execFile);

/** Closes the client a Fedify store was made with, along with the store. */
function withClose(store, close) {
  store.close = close;
  return store;
}

/** Redis keys as both @fedify/redis and fedikv write them. */
const redisKey = (prefix, key) => prefix + key.map((p) => p.replaceAll(":", "_:")).join("::");

export async function serverBackends() {
  const [redis, pg, mysql] = await Promise.all([server("redis"), server("postgres"), server("mysql")]);
  const list = [];
  const tables = [];

  if (!redis.skip) {
    const prefix = `${uniqueName("bench")}::`;
    // Entries written straight to Redis in a pipeline, exactly as either store writes them.
    const prefill = async (_kv, entries) => {
      const client = new Redis(redis.url);
      let pipeline = client.pipeline();
      let n = 0;
      for (const { key, value, ttlMs } of entries) {
        if (ttlMs == null) pipeline.set(redisKey(prefix, key), JSON.stringify(value));
        else pipeline.set(redisKey(prefix, key), JSON.stringify(value), "PX", ttlMs);
        if (++n % 1000 === 0) {
          await pipeline.exec();
          pipeline = client.pipeline();
        }
      }
      await pipeline.exec();
      await client.quit();
    };
    list.push({
      name: "Redis",
      fedikv: { label: "fedikv RedisKvStore", open: () => new RedisKvStore(redis.url, { keyPrefix: prefix }), prefill },
      fedify: {
        label: "@fedify/redis 1.8.7 (ioredis)",
        open: () => {
          const client = new Redis(redis.url);
          return withClose(
            new FedifyRedisKvStore(client, { keyPrefix: prefix }),
            async () => void (await client.quit()),
          );
        },
        prefill,
      },
      ceiling: redisCeiling(redis.url),
      bigTableLimits: bareScan(redis.url, prefix),
      // A listing scans the whole key space: each big table starts from an
      // empty prefix, so that it lists 1,000 of 100,000 keys, not of the
      // earlier runs' and workloads' too.
      beforeBigTable: () => dropPrefix(redis.url, prefix),
      cleanup: () => dropPrefix(redis.url, prefix),
    });
  }

  if (!pg.skip) {
    const table = (side) => {
      const name = uniqueName(`bench_${side}`);
      tables.push(name);
      return name;
    };
    const fedikvTable = table("fedikv");
    const fedifyTable = table("fedify");
    // 100,000 rows in one INSERT … SELECT unnest(), in @fedify/postgres's layout.
    const prefillTable = (name) => async (kv, entries) => {
      if (kv.initialize) await kv.initialize();
      const sql = postgres(pg.url, { onnotice: () => {} });
      const rows = [...entries];
      for (let i = 0; i < rows.length; i += 10_000) {
        const chunk = rows.slice(i, i + 10_000);
        await sql`INSERT INTO ${sql(name)} (key, value, ttl)
          SELECT k::text[], v::jsonb, t::interval FROM unnest(
            ${chunk.map((r) => `{${r.key.map((p) => JSON.stringify(p)).join(",")}}`)}::text[],
            ${chunk.map((r) => JSON.stringify(r.value))}::text[],
            ${chunk.map((r) => (r.ttlMs == null ? null : `${r.ttlMs} milliseconds`))}::text[]
          ) AS x(k, v, t)
          ON CONFLICT (key) DO NOTHING`;
      }
      await sql.end();
    };
    const plainPg = withSslmodeDisable(pg.url);
    list.push({
      name: "PostgreSQL",
      fedikv: {
        // Unlogged like the table @fedify/postgres 1.8.7 creates, so that both
        // sides run with the same durability; and over the same transport:
        // postgres.js speaks plain TCP unless told otherwise, where fedikv
        // (like libpq) takes TLS whenever the server offers it.
        label: "fedikv PostgresKvStore (unlogged, sslmode=disable)",
        open: () => new PostgresKvStore(plainPg, { tableName: fedikvTable, unlogged: true }),
        prefill: prefillTable(fedikvTable),
      },
      fedify: {
        label: "@fedify/postgres 1.8.7 (postgres.js)",
        open: () => {
          const sql = postgres(pg.url, { max: 10, onnotice: () => {} });
          return withClose(new FedifyPostgresKvStore(sql, { tableName: fedifyTable }), () => sql.end());
        },
        prefill: prefillTable(fedifyTable),
      },
      ceiling: pgbenchCeiling(pg.url),
      // Each repetition starts from an empty table: the big-table workloads
      // fill it again.
      cleanup: async () => {
        const sql = postgres(pg.url, { onnotice: () => {} });
        for (const name of tables) await sql`DROP TABLE IF EXISTS ${sql(name)}`;
        await sql.end();
      },
    });
  }

  if (!mysql.skip) {
    const tableName = uniqueName("bench");
    list.push({
      name: "MariaDB",
      fedikv: { label: "fedikv MysqlKvStore", open: () => new MysqlKvStore(mysql.url, { tableName }) },
      // @fedify/mysql 2.3.8 cannot write on MariaDB (its `CAST(? AS JSON)`
      // is a parse error there), so there is no Fedify side to compare.
      fedify: null,
      ceiling: mysqlslapCeiling(mysql.url),
      cleanup: async () => {
        const kv = new MysqlKvStore(mysql.url, { tableName });
        await kv.drop();
        await kv.close();
      },
    });
  }
  return { list, skipped: [redis, pg, mysql].filter((s) => s.skip).map((s) => s.skip) };
}

/** Deletes every key under the prefix. */
async function dropPrefix(url, prefix) {
  const kv = new RedisKvStore(url, { keyPrefix: prefix });
  await kv.drop();
  await kv.close();
}

/**
 * The bare SCAN loops of benchmark/lib/limits.mjs with the pattern fedikv's
 * listing sends: the store prefix and the encoded list prefix, then `*`
 * (neither has a glob character to escape here).
 */
function bareScan(url, prefix) {
  const scan = redisScanLimits(url);
  return {
    after: scan.after,
    measure: ({ ns, ...rest }) =>
      scan.measure({ ...rest, pattern: `${redisKey(prefix, [...ns, "list"])}*`, expected: 1000 }),
  };
}

/** `redis-benchmark` GET and SET of a 1.5 KB value, 1 and 50 clients. */
function redisCeiling(url) {
  const { hostname, port } = new URL(url);
  return {
    label: "redis-benchmark (GET/SET, 1.5 KB values)",
    measure: async () => {
      const rate = async (clients, test) => {
        const { stdout } = await run(
          "redis-benchmark",
          [
            "-h",
            hostname,
            "-p",
            port || "6379",
            "-c",
            String(clients),
            "-n",
            String(clients === 1 ? 20000 : 200000),
            "-d",
            String(JSON.stringify(note(0)).length),
            "-t",
            test,
            "--csv",
          ],
          { timeout: 120_000 },
        );
        const line = stdout
          .trim()
          .split("\n")
          .find((l) => l.startsWith(`"${test.toUpperCase()}"`));
        return Number(JSON.parse(`[${line}]`)[1]);
      };
      return {
        "get (hit, 1.5 KB)": { 1: await rate(1, "get"), 64: await rate(50, "get") },
        "set (1.5 KB)": { 1: await rate(1, "set"), 64: await rate(50, "set") },
      };
    },
  };
}

/** The URL with `sslmode=disable`, unless it says a mode of its own. */
function withSslmodeDisable(url) {
  const parsed = new URL(url);
  if (!parsed.searchParams.has("sslmode")) parsed.searchParams.set("sslmode", "disable");
  return parsed.toString();
}

/**
 * `pgbench -S` (primary-key selects) at 1 and 64 clients, on its own
 * database, over plain TCP like both stores (libpq would take TLS).
 */
function pgbenchCeiling(url) {
  const { hostname, port, username } = new URL(url);
  const args = ["-h", hostname, "-p", port || "5432", "-U", username || "postgres"];
  return {
    label: "pgbench -S (primary-key SELECT, sslmode=disable)",
    measure: async () => {
      await run("psql", [...args, "-d", "postgres", "-c", "CREATE DATABASE fedikv_pgbench"]).catch(() => {});
      await run("pgbench", [...args, "-i", "-q", "-s", "1", "fedikv_pgbench"], { timeout: 120_000 });
      const tps = async (clients) => {
        const { stdout } = await run(
          "pgbench",
          [...args, "-S", "-n", "-c", String(clients), "-j", "2", "-T", "5", "fedikv_pgbench"],
          {
            timeout: 60_000,
            env: { ...process.env, PGSSLMODE: "disable" },
          },
        );
        return Number(/tps = ([\d.]+)/.exec(stdout)[1]);
      };
      const result = { "get (hit, 1.5 KB)": { 1: await tps(1), 64: await tps(64) } };
      await run("psql", [...args, "-d", "postgres", "-c", "DROP DATABASE fedikv_pgbench"]).catch(() => {});
      return result;
    },
  };
}

/** `mysqlslap` primary-key SELECTs at 1 and 64 clients. */
function mysqlslapCeiling(url) {
  const { hostname, port, username, pathname } = new URL(url);
  const db = pathname.slice(1) || "test";
  return {
    label: "mysqlslap (primary-key SELECT)",
    measure: async () => {
      const table = uniqueName("slap");
      const base = ["-h", hostname, "-P", port || "3306", "-u", username || "root"];
      await run("mysql", [
        ...base,
        db,
        "-e",
        `CREATE TABLE ${table} (k INT PRIMARY KEY, v TEXT); INSERT INTO ${table} VALUES (1, REPEAT('x', 1500))`,
      ]);
      const rate = async (clients) => {
        const queries = clients === 1 ? 20000 : 200000;
        const started = performance.now();
        await run(
          "mysqlslap",
          [
            ...base,
            `--create-schema=${db}`,
            `--concurrency=${clients}`,
            "--iterations=1",
            `--number-of-queries=${queries}`,
            `--query=SELECT v FROM ${table} WHERE k = 1`,
          ],
          { timeout: 300_000 },
        );
        return queries / ((performance.now() - started) / 1000);
      };
      const result = { "get (hit, 1.5 KB)": { 1: await rate(1), 64: await rate(64) } };
      await run("mysql", [...base, db, "-e", `DROP TABLE ${table}`]);
      return result;
    },
  };
}
