// cas stays atomic across processes: 4 child processes × 5 loops × 25
// increments of one counter end at exactly 500, on every store that
// processes can share (a SQLite file, a Deno KV file, a denokv server
// started for this run, and each shared server).
import assert from "node:assert/strict";
import { execFile } from "node:child_process";
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { after, describe, test } from "node:test";
import { fileURLToPath } from "node:url";
import { promisify } from "node:util";
import { denokvBinary, startDenokvServer } from "./support/denokv-server.mjs";
import { openStore } from "./support/open-store.mjs";
import { server, uniqueName } from "./support/servers.mjs";

const run = promisify(execFile);
const worker = fileURLToPath(new URL("./support/counter-worker.mjs", import.meta.url));
const dir = mkdtempSync(join(tmpdir(), "fedikv-procs-"));
after(() => rmSync(dir, { recursive: true, force: true }));

const [redis, postgres, mysql] = await Promise.all([server("redis"), server("postgres"), server("mysql")]);
const denokv = denokvBinary();
const denokvServer = denokv.skip ? null : await startDenokvServer();
after(() => denokvServer?.stop());
const specs = [
  { name: "SqliteKvStore (file)", spec: { kind: "SqliteKvStore", target: join(dir, "counter.db") } },
  { name: "DenoKvStore (file)", spec: { kind: "DenoKvStore", target: join(dir, "counter.sqlite3") } },
  {
    name: "DenoKvStore (KV Connect)",
    skip: denokv.skip,
    spec: { kind: "DenoKvStore", target: denokvServer?.url, options: { accessToken: denokvServer?.accessToken } },
  },
  { name: "RedisKvStore", skip: redis.skip, spec: { kind: "RedisKvStore", target: redis.url, options: { keyPrefix: `${uniqueName("procs")}::` } } },
  { name: "PostgresKvStore", skip: postgres.skip, spec: { kind: "PostgresKvStore", target: postgres.url, options: { tableName: uniqueName("procs") } } },
  { name: "MysqlKvStore", skip: mysql.skip, spec: { kind: "MysqlKvStore", target: mysql.url, options: { tableName: uniqueName("procs") } } },
];

describe("cas across processes", () => {
  for (const { name, spec, skip } of specs) {
    test(`${name}: 4 processes × 5 loops × 25 increments end at exactly 500`, { skip, timeout: 180_000 }, async () => {
      const kv = openStore(spec);
      try {
        await kv.delete(["counter"]);
        const outputs = await Promise.all(Array.from({ length: 4 }, () =>
          run(process.execPath, [worker, JSON.stringify(spec), "5", "25"], { timeout: 170_000 })
        ));
        const retries = outputs.reduce((sum, { stdout }) => sum + JSON.parse(stdout).retries, 0);
        assert.equal(await kv.get(["counter"]), 500);
        assert.ok(retries > 0, "the processes did race");
      } finally {
        await kv.drop?.();
        await kv.close();
      }
    });
  }
});
