// The child process of startFedifySqlite() (fedify-sqlite-store.mjs): Fedify's
// SQLite store (openFedifySqlite) on the file named by its first argument,
// doing what its parent asks over IPC (advanced serialization, so
// `undefined` crosses as itself; a TTL crosses as milliseconds). Errors go
// back with their SQLite library's code.
import { Temporal } from "@js-temporal/polyfill";
import { busyRetry, openFedifySqlite } from "./fedify-sqlite-store.mjs";
import { serve } from "./ipc-worker.mjs";
import { isSqliteBusy } from "./sqlite.mjs";

const [path] = process.argv.slice(2);
// A busy timeout longer than any test here runs: fedikv in the parent holds
// the write lock for one statement or one cas at a time, so waiting always
// ends well before it. (better-sqlite3 waits 5 s by default; node:sqlite's
// DatabaseSync, which @fedify/sqlite is given, waits not at all unless the
// app passes `timeout`: an app sharing a file with other processes must.)
const fedify = openFedifySqlite(path, { busyTimeoutMs: 30_000 });

const pause = new Int32Array(new SharedArrayBuffer(4));

const ops = {
  set: (key, value, ttlMs) => fedify.set(key, value, ttlOption(ttlMs)),
  get: (key) => fedify.get(key),
  delete: (key) => fedify.delete(key),
  cas: (key, expected, value, ttlMs) => fedify.cas(key, expected, value, ttlOption(ttlMs)),
  async list(prefix) {
    const entries = [];
    for await (const entry of fedify.list(prefix)) entries.push(entry);
    return entries;
  },
  /** The raw row of `key` as the layout stored it (value, created, expires), or undefined. */
  row: (key) => fedify.db.prepare("SELECT * FROM fedify_kv WHERE key = ?").get(JSON.stringify(key)),
  /**
   * The Fedify side of sqlite-compat.test.mjs's race: sets [...prefix, i]
   * to { by: "fedify", i } for i in 0..count, and after each set increments
   * the number at `counter` as Fedify code would, with get + the layout's
   * cas (a BEGIN IMMEDIATE transaction), again until its cas wins; it
   * waits `pauseMs` between the get and the cas, as an app that does some
   * work on the value would, so that fedikv's writes land in between.
   * Resolves to the counter values this side wrote (so the parent can check
   * that no increment was lost or made twice, and that the two processes
   * took turns), how many of its cas lost to the other side, and how many
   * gets and sets failed with SQLITE_BUSY even after the busy timeout and
   * were tried again. A cas is not tried again on SQLITE_BUSY: the layout's
   * expiry DELETE runs after its commit, so the error would not say whether
   * the increment was made; it fails the test instead.
   */
  async race({ prefix, count, counter, pauseMs = 0 }) {
    const wins = [];
    let casLost = 0;
    const retryBusy = busyRetry(isSqliteBusy);
    for (let i = 0; i < count; i++) {
      await retryBusy(() => fedify.set([...prefix, String(i)], { by: "fedify", i }));
      for (;;) {
        const current = await retryBusy(() => fedify.get(counter));
        const next = (current ?? 0) + 1;
        // A synchronous wait, as the SQLite library's calls are.
        Atomics.wait(pause, 0, 0, pauseMs);
        if (await fedify.cas(counter, current, next)) {
          wins.push(next);
          break;
        }
        casLost++;
      }
    }
    return { wins, casLost, busy: retryBusy.count };
  },
};

function ttlOption(ttlMs) {
  return ttlMs === undefined ? undefined : { ttl: Temporal.Duration.from({ milliseconds: ttlMs }) };
}

serve(ops, () => fedify.close());
