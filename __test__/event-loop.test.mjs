// Redis's second connection, the one the JS thread drives itself (Node's
// event loop watches its socket; src/local.rs, src/redis/pipe.rs): get, set
// and delete go through it once it is up. These check what only it can get
// wrong: the database of the URL, worker threads (each its own event loop,
// torn down with the worker), and a process that must exit while a store is
// open and idle. Only Node has the libuv it needs: on Deno and Bun the
// store must not open that connection at all, and work as well without it.
import assert from "node:assert/strict";
import { spawnSync } from "node:child_process";
import { describe, test } from "node:test";
import { fileURLToPath } from "node:url";
import { Worker } from "node:worker_threads";
import { Redis } from "ioredis";
import { RedisKvStore } from "../index.js";
import { server } from "../support/servers.mjs";
import { evalArgs, RUNTIME } from "./support/runtime.mjs";

const REDIS = await server("redis");
const index = fileURLToPath(new URL("../index.js", import.meta.url));
const up = () => new Promise((resolve) => setTimeout(resolve, 200));

/** The connections Redis has open on database `db`. */
async function connectionsOn(admin, db) {
  const list = await admin.client("LIST");
  return list.split("\n").filter((line) => line.includes(` db=${db} `)).length;
}

describe("Redis: the connection the JS thread drives", { skip: REDIS.skip }, () => {
  const connections = RUNTIME === "node" ? 2 : 1;
  test(`uses the URL's database${RUNTIME === "node" ? ", beside the other connection" : " (one connection: no event-loop connection off Node)"}`, async () => {
    const url = new URL(REDIS.url);
    url.pathname = "/7";
    const admin = new Redis(REDIS.url);
    const other = new Redis(url.toString());
    const kv = new RedisKvStore(url.toString(), { keyPrefix: `el-${process.pid}::` });
    try {
      const before = await connectionsOn(admin, 7);
      await kv.get(["warm"]); // makes the first connection, starts the second
      await up();
      assert.equal(await connectionsOn(admin, 7), before + connections);
      for (let i = 0; i < 50; i++) await kv.set(["n", String(i)], { i });
      const got = await Promise.all(Array.from({ length: 50 }, (_, i) => kv.get(["n", String(i)])));
      assert.deepEqual(
        got,
        Array.from({ length: 50 }, (_, i) => ({ i })),
      );
      assert.equal(await other.get(`el-${process.pid}::n::7`), '{"i":7}');
      assert.equal(await admin.get(`el-${process.pid}::n::7`), null, "not in database 0");
      await kv.delete(["n", "7"]);
      assert.equal(await other.get(`el-${process.pid}::n::7`), null);
    } finally {
      const keys = await other.keys(`el-${process.pid}::*`);
      if (keys.length > 0) await other.del(...keys);
      await kv.close();
      admin.disconnect();
      other.disconnect();
    }
  });

  test("in worker threads: each answers on its own loop; ending or terminating one leaves the rest", {
    timeout: 60_000,
  }, async () => {
    const source = `
      const { parentPort, workerData } = require("node:worker_threads");
      const { RedisKvStore } = require(workerData.index);
      (async () => {
        const kv = new RedisKvStore(workerData.url, { keyPrefix: workerData.prefix });
        await kv.get(["warm"]);
        await new Promise((r) => setTimeout(r, 200));
        let sum = 0;
        for (let i = 0; i < 200; i++) {
          await kv.set(["k", String(i % 10)], i);
          sum += await kv.get(["k", String(i % 10)]);
        }
        parentPort.postMessage(sum);
        if (workerData.busy) {
          // Keeps calls in flight until terminated.
          for (;;) await Promise.all(Array.from({ length: 16 }, (_, i) => kv.get(["k", String(i % 10)])));
        }
        // Ends without close(): the worker's loop must still be let go.
      })();
    `;
    const start = (n, busy) => {
      const worker = new Worker(source, {
        eval: true,
        workerData: { index, url: REDIS.url, prefix: `elw-${process.pid}-${n}::`, busy },
      });
      const message = new Promise((resolve, reject) => {
        worker.once("message", resolve);
        worker.once("error", reject);
      });
      const exit = new Promise((resolve) => worker.once("exit", resolve));
      return { worker, message, exit };
    };
    const expected = Array.from({ length: 200 }, (_, i) => i).reduce((a, b) => a + b);
    const mine = new RedisKvStore(REDIS.url, { keyPrefix: `elm-${process.pid}::` });
    try {
      const workers = [start(1, false), start(2, true), start(3, false)];
      assert.deepEqual(await Promise.all(workers.map((w) => w.message)), [expected, expected, expected]);
      await workers[1].worker.terminate();
      assert.deepEqual(await Promise.all([workers[0].exit, workers[2].exit]), [0, 0]);
      await mine.set(["after"], "workers");
      assert.equal(await mine.get(["after"]), "workers");
    } finally {
      await mine.close();
    }
  });

  test("a process exits when its open store is idle, and stays while a call is pending", { timeout: 30_000 }, () => {
    const script = `
      const { RedisKvStore } = require(${JSON.stringify(index)});
      const kv = new RedisKvStore(${JSON.stringify(REDIS.url)}, { keyPrefix: "elx-${process.pid}::" });
      (async () => {
        await kv.get(["warm"]);
        await new Promise((r) => setTimeout(r, 200));
        await kv.set(["k"], 1);
        // The last call is not awaited: the process must wait for it.
        kv.get(["k"]).then((v) => console.log("answer", v));
      })();
    `;
    const child = spawnSync(process.execPath, evalArgs(script), { encoding: "utf8", timeout: 20_000 });
    assert.equal(child.signal, null, "exits by itself");
    assert.equal(child.status, 0, child.stderr);
    assert.equal(child.stdout.trim(), "answer 1");
  });
});
