// Data written by @fedify/sqlite (the real package where the runtime runs
// it: on node:sqlite on Node 22+ and Deno, on bun:sqlite on Bun; on Node 20
// its layout re-typed, see support/fedify-sqlite.mjs) is read by
// SqliteKvStore, and the other way round, TTLs included, also with both
// open on one file at once and writing at the same time.
//
// Only one SQLite library has the file open at any moment in this process:
// while both are open, Fedify's side runs in a child process (see
// startFedifySqlite), as it would in a real deployment. Two copies of SQLite
// in one process do not lock against each other, so a test of both at once
// there would show nothing and could corrupt the WAL.
import assert from "node:assert/strict";
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { after, test } from "node:test";
import { setTimeout as sleep } from "node:timers/promises";
import { Temporal } from "@js-temporal/polyfill";
import { SqliteKvStore } from "../index.js";
import { collect, ODD_PARTS } from "fedikv/testing";
import { busyRetry, FEDIFY_SQLITE, openFedifySqlite, startFedifySqlite } from "./support/fedify-sqlite-store.mjs";

const dir = mkdtempSync(join(tmpdir(), "fedikv-compat-"));
after(() => rmSync(dir, { recursive: true, force: true }));

const VALUES = [
  { "@context": "https://www.w3.org/ns/activitystreams", type: "Note", content: "<p>héllo</p>" },
  [1, 2, [3]],
  "text with \u0000 NUL and \u2028",
  1e308,
  null,
  true,
];

test(`SqliteKvStore reads what ${FEDIFY_SQLITE} wrote`, async () => {
  const path = join(dir, "from-fedify.db");
  const fedify = openFedifySqlite(path);
  for (const [i, part] of ODD_PARTS.entries()) {
    await fedify.set(["_fedify", "odd", part], VALUES[i % VALUES.length]);
  }
  await fedify.set(["_fedify", "ttl", "short"], 1, {
    ttl: Temporal.Duration.from({ milliseconds: 150, microseconds: 500 }),
  });
  await fedify.set(["_fedify", "ttl", "long"], 2, { ttl: Temporal.Duration.from({ hours: 1 }) });
  fedify.close();

  const kv = new SqliteKvStore(path);
  for (const [i, part] of ODD_PARTS.entries()) {
    assert.deepEqual(await kv.get(["_fedify", "odd", part]), VALUES[i % VALUES.length]);
  }
  assert.equal(await kv.get(["_fedify", "ttl", "short"]), 1);
  assert.equal((await collect(kv.list(["_fedify", "odd"]))).length, ODD_PARTS.length);
  await sleep(300);
  assert.equal(await kv.get(["_fedify", "ttl", "short"]), undefined, "Fedify's fractional expiry is honoured");
  assert.equal(await kv.get(["_fedify", "ttl", "long"]), 2);
  assert.deepEqual(
    (await collect(kv.list(["_fedify", "ttl"]))).map((e) => e.key),
    [["_fedify", "ttl", "long"]],
  );
  await kv.close();
});

test(`${FEDIFY_SQLITE} reads what SqliteKvStore wrote`, async () => {
  const path = join(dir, "from-fedikv.db");
  const kv = new SqliteKvStore(path);
  for (const [i, part] of ODD_PARTS.entries()) {
    await kv.set(["_fedify", "odd", part], VALUES[i % VALUES.length]);
  }
  await kv.set(["_fedify", "ttl", "short"], 1, { ttl: Temporal.Duration.from({ milliseconds: 150 }) });
  await kv.set(["_fedify", "ttl", "long"], 2, { ttl: Temporal.Duration.from({ hours: 1 }) });
  await kv.close();

  const fedify = openFedifySqlite(path);
  for (const [i, part] of ODD_PARTS.entries()) {
    assert.deepEqual(await fedify.get(["_fedify", "odd", part]), VALUES[i % VALUES.length]);
  }
  // The raw rows are exactly @fedify/sqlite's: JSON.stringify(key), JSON text, epoch ms.
  const row = fedify.db
    .prepare("SELECT * FROM fedify_kv WHERE key = ?")
    .get(JSON.stringify(["_fedify", "ttl", "long"]));
  assert.equal(row.value, "2");
  assert.equal(typeof row.created, "number");
  assert.ok(Math.abs(row.expires - row.created - 3_600_000) <= 1, `expires ${row.expires} created ${row.created}`);
  assert.equal(await fedify.get(["_fedify", "ttl", "short"]), 1);
  await sleep(300);
  assert.equal(await fedify.get(["_fedify", "ttl", "short"]), undefined);
  assert.equal((await collect(fedify.list(["_fedify", "odd"]))).length, ODD_PARTS.length);
  fedify.close();
});

test(`both share one file at once, from two processes (${FEDIFY_SQLITE})`, async () => {
  const path = join(dir, "shared.db");
  const kv = new SqliteKvStore(path);
  await kv.set(["from", "fedikv"], { n: 1 });
  const fedify = await startFedifySqlite(path);
  try {
    await fedify.set(["from", "fedify"], { n: 2 });
    assert.deepEqual(await fedify.get(["from", "fedikv"]), { n: 1 });
    assert.deepEqual(await kv.get(["from", "fedify"]), { n: 2 });
    assert.equal(await kv.cas(["from", "fedify"], { n: 2 }, { n: 3 }), true);
    assert.deepEqual(await fedify.get(["from", "fedify"]), { n: 3 });
    await fedify.delete(["from", "fedikv"]);
    assert.equal(await kv.get(["from", "fedikv"]), undefined);
  } finally {
    await fedify.close();
    await kv.close();
  }
});

/** Keys each side writes in the race, and so increments each side makes. */
const RACE_COUNT = 300;
/** Concurrent loops on fedikv's side (the child's calls are synchronous). */
const RACE_LOOPS = 3;

/**
 * fedikv's side of the race, the mirror of the worker's `race`: sets
 * ["race", "fedikv", i] and after each set increments `counter` with get +
 * cas, in RACE_LOOPS concurrent loops. ERR_FEDIKV_BUSY (another process held
 * the lock longer than the store waits) is tried again: nothing was written.
 */
async function fedikvRace(kv, counter) {
  const wins = [];
  let casLost = 0;
  const retryBusy = busyRetry((error) => error?.code === "ERR_FEDIKV_BUSY");
  // Fedify's side starts once its process got the message, which can take
  // longer than fedikv's whole side (Deno, Bun): start with its first write.
  while ((await retryBusy(() => kv.get(["race", "fedify", "0"]))) === undefined) await sleep(1);
  const loop = async (first) => {
    for (let i = first; i < RACE_COUNT; i += RACE_LOOPS) {
      await retryBusy(() => kv.set(["race", "fedikv", String(i)], { by: "fedikv", i }));
      for (;;) {
        const current = await retryBusy(() => kv.get(counter));
        const next = (current ?? 0) + 1;
        if (await retryBusy(() => kv.cas(counter, current, next))) {
          wins.push(next);
          // Some work between increments, as an app would do: without it
          // fedikv's loops can win every cas until they are done, and the
          // other side's (which waits between its get and its cas) none.
          await sleep(1);
          break;
        }
        casLost++;
      }
    }
  };
  await Promise.all(Array.from({ length: RACE_LOOPS }, (_, first) => loop(first)));
  return { wins, casLost, busy: retryBusy.count };
}

test(`both write at once from two processes: ${RACE_COUNT} keys each, and cas increments of one counter (${FEDIFY_SQLITE})`, async () => {
  const path = join(dir, "race.db");
  const counter = ["race", "counter"];
  const kv = new SqliteKvStore(path);
  // fedikv opens the file first, so that it is in WAL mode before Fedify's
  // side opens it (the mode is kept in the file).
  await kv.initialize();
  const fedify = await startFedifySqlite(path);
  try {
    const [theirs, ours] = await Promise.all([
      fedify.race({ prefix: ["race", "fedify"], count: RACE_COUNT, counter, pauseMs: 1 }),
      fedikvRace(kv, counter),
    ]);

    // Every key of both sides, as both sides see it.
    const expected = [];
    for (const by of ["fedify", "fedikv"]) {
      for (let i = 0; i < RACE_COUNT; i++) expected.push({ key: ["race", by, String(i)], value: { by, i } });
    }
    const byKey = (a, b) => JSON.stringify(a.key).localeCompare(JSON.stringify(b.key));
    expected.sort(byKey);
    const notCounter = (e) => e.key[1] !== "counter";
    assert.deepEqual(
      (await collect(kv.list(["race"]))).filter(notCounter).sort(byKey),
      expected,
      "as fedikv lists them",
    );
    assert.deepEqual(
      (await fedify.list(["race"])).filter(notCounter).sort(byKey),
      expected,
      `as ${FEDIFY_SQLITE} lists them`,
    );

    // No increment was lost or made twice: the counter values the two
    // sides' winning cas wrote are exactly 1..total. (The child pauses
    // between its get and its cas, so some of its cas find that fedikv's
    // got in between: the conflict this checks is really met.)
    const total = 2 * RACE_COUNT;
    assert.equal(await kv.get(counter), total);
    assert.equal(await fedify.get(counter), total);
    const written = [...theirs.wins, ...ours.wins].sort((a, b) => a - b);
    assert.deepEqual(
      written,
      Array.from({ length: total }, (_, i) => i + 1),
    );

    // And the two processes did write at the same time: neither made all
    // of its increments before the other's first (else they only took
    // turns as a whole, and the race showed nothing).
    const range = (wins) => `${Math.min(...wins)}..${Math.max(...wins)}`;
    assert.ok(
      Math.min(...theirs.wins) < Math.max(...ours.wins) && Math.min(...ours.wins) < Math.max(...theirs.wins),
      `the increments did not interleave: Fedify's ${range(theirs.wins)}, fedikv's ${range(ours.wins)}`,
    );
    // How finely, for the log: how often the winner changed from one value to the next.
    const fedikvWon = new Set(ours.wins);
    let turns = 0;
    for (let n = 2; n <= total; n++) if (fedikvWon.has(n) !== fedikvWon.has(n - 1)) turns++;
    console.log(
      `# race: ${turns} turns between the processes; cas lost: Fedify ${theirs.casLost}, fedikv ${ours.casLost}; busy retries: Fedify ${theirs.busy}, fedikv ${ours.busy}`,
    );
  } finally {
    await fedify.close();
    await kv.close();
  }
});
