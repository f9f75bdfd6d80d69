// Faults survived: each server store under a steady load from several
// clients while its server (one of the test's own, never the machine's
// shared services) is killed with SIGKILL and restarted, or paused with
// SIGSTOP for longer than the connect timeout and resumed.
//
// Required: no crash and no unhandled rejection; every operation resolves
// or rejects with ERR_FEDIKV_CONNECTION within connectTimeout +
// responseTimeout (+ slack for a loaded machine); the same store instance
// works again within a few seconds of the server's return; every write
// that resolved before a kill is there afterwards (servers that persist:
// PostgreSQL, MariaDB, Redis with appendonly + appendfsync always).
//
// The figures of each run are printed as test diagnostics; the README's
// Reliability table comes from them.
import assert from "node:assert/strict";
import { isDeepStrictEqual } from "node:util";
import { after, before, describe, test } from "node:test";
import { MysqlKvStore, PostgresKvStore, RedisKvStore } from "fedikv";
import { missingBinaries, startMariadb, startPostgres, startRedis } from "./support/own-servers.mjs";
import { sleep, startLoad, summarize } from "./support/load.mjs";

const CONNECT_TIMEOUT = 1000;
const RESPONSE_TIMEOUT = 1000;
/** What an operation may take: both timeouts, and slack for a busy machine. */
const BOUND = CONNECT_TIMEOUT + RESPONSE_TIMEOUT + 1000;
/** How soon after the server's return the store must work again. */
const RECOVERY_BOUND = 5000;
/** Fault-free load before and after each fault. */
const STEADY_MS = 1000;
const DOWN_MS = 1500;
/**
 * A pause longer than the connect timeout, and than BOUND: an operation
 * that waited for the server's return would break the bound.
 */
const PAUSE_MS = BOUND + 1000;
const OPTIONS = { connectTimeout: CONNECT_TIMEOUT, responseTimeout: RESPONSE_TIMEOUT };

const unhandled = [];
const onUnhandled = (reason) => unhandled.push(reason);
process.on("unhandledRejection", onUnhandled);
after(() => process.off("unhandledRejection", onUnhandled));

const BACKENDS = [
  {
    name: "Redis (appendfsync always)",
    binaries: ["redis"],
    start: () => startRedis({ appendonly: true, password: "redis-secret" }),
    open: (server, prefix) => new RedisKvStore(server.url, { ...OPTIONS, keyPrefix: `${prefix}::` }),
  },
  {
    name: "PostgreSQL",
    binaries: ["postgres"],
    start: () => startPostgres(),
    open: (server, prefix) => new PostgresKvStore(server.url, { ...OPTIONS, tableName: prefix }),
  },
  {
    name: "MariaDB",
    binaries: ["mariadb"],
    start: () => startMariadb(),
    open: (server, prefix) => new MysqlKvStore(server.url, { ...OPTIONS, tableName: prefix }),
  },
];

/** Runs the load around `fault` and checks and reports what happened. */
async function underLoad(t, kv, { fault, persistent }) {
  await kv.set(["warm"], true);
  const load = startLoad(kv, { prefix: "load" });
  await sleep(STEADY_MS);
  const faultAt = performance.now();
  const backAt = await fault();
  // Until the store works again, then a little more.
  const deadline = backAt + RECOVERY_BOUND + BOUND;
  for (;;) {
    await sleep(100);
    const recent = load.ops.filter((o) => o.end !== null && o.start > performance.now() - 600);
    if (recent.length > 10 && recent.every((o) => o.ok)) break;
    if (performance.now() > deadline) break;
  }
  await sleep(STEADY_MS);
  await load.stop();
  const figures = summarize(load.ops, { faultAt, backAt });
  t.diagnostic(JSON.stringify(figures));

  assert.deepEqual(unhandled, [], "no unhandled rejection");
  assert.deepEqual(load.wrongReads, [], "every read returned what was written");
  assert.ok(figures.failed > 0, "the fault was felt (some operations failed)");
  assert.equal(figures.failedBeforeFault, 0, "nothing failed before the fault");
  for (const o of load.ops.filter((o) => !o.ok)) {
    assert.equal(o.code, "ERR_FEDIKV_CONNECTION", `${o.op} failed with ${o.code}: ${o.message}`);
    assert.doesNotMatch(o.message, /secret/, "no password in messages");
  }
  assert.ok(figures.maxFailedLatencyMs <= BOUND, `a failed operation took ${figures.maxFailedLatencyMs} ms (bound ${BOUND})`);
  assert.ok(figures.maxLatencyMs <= BOUND, `an operation took ${figures.maxLatencyMs} ms (bound ${BOUND})`);
  assert.ok(figures.recoveryMs <= RECOVERY_BOUND, `the store worked again ${figures.recoveryMs} ms after the server's return`);
  assert.ok(figures.succeededAfterRecovery >= 20, `${figures.succeededAfterRecovery} operations succeeded after recovery`);

  if (persistent) {
    const found = new Map();
    for await (const { key, value } of kv.list(["load"])) found.set(JSON.stringify(key), value);
    const missing = [...load.acked].filter(([k, v]) => !isDeepStrictEqual(found.get(k), v));
    t.diagnostic(`acknowledged writes checked: ${load.acked.size}, missing: ${missing.length}`);
    assert.deepEqual(missing.slice(0, 5), [], `${missing.length} of ${load.acked.size} acknowledged writes are missing`);
  }
  return figures;
}

for (const backend of BACKENDS) {
  const skip = missingBinaries(...backend.binaries);
  describe(`${backend.name}: faults under load`, { skip }, () => {
    let server;
    before(async () => {
      server = await backend.start();
    });
    after(async () => {
      await server?.stop();
    });

    test("kill -9 and restart: fast failures, recovery, no acknowledged write lost", { timeout: 60_000 }, async (t) => {
      const kv = backend.open(server, "fault_kill");
      try {
        await underLoad(t, kv, {
          persistent: true,
          fault: async () => {
            await server.kill();
            await sleep(DOWN_MS);
            await server.start();
            return performance.now();
          },
        });
      } finally {
        await kv.drop().catch(() => {});
        await kv.close();
      }
    });

    test(`SIGSTOP for ${PAUSE_MS} ms (longer than the connect timeout), then SIGCONT`, { timeout: 60_000 }, async (t) => {
      const kv = backend.open(server, "fault_pause");
      try {
        await underLoad(t, kv, {
          persistent: false,
          fault: async () => {
            server.pause();
            try {
              await sleep(PAUSE_MS);
            } finally {
              server.resume();
            }
            return performance.now();
          },
        });
      } finally {
        await kv.drop().catch(() => {});
        await kv.close();
      }
    });
  });
}
