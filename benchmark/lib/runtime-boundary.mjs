// What the asynchronous boundary costs on this runtime, where the store
// fedikv is compared with is synchronous and in-process (@fedify/sqlite on
// bun:sqlite or node:sqlite): one read of a 1.5 KB note, one at a time,
// from the cheapest call an async store can make to the statement itself.
//
// - an async function that returns at once, awaited: the harness's floor,
//   the cost of a call, a Promise and an await, and nothing else;
// - fedikv's MemoryKvStore get: its native side answers synchronously, so
//   this is fedikv's floor: the key and value conversions, the napi call
//   and the Promise it returns;
// - fedikv's SqliteKvStore get and @fedify/sqlite's get, awaited, as an app
//   calls them;
// - the SELECT @fedify/sqlite runs, prepared once and called synchronously
//   with a JSON.parse, no Promise at all: what its get would cost without
//   an async method around it (and without the prepare per call and the
//   Temporal.Now it does).
import { MemoryKvStore } from "../../index.js";
import { note } from "./documents.mjs";
import { timeOps } from "./measure.mjs";

const KEYS = 1000;
const keyOf = (i) => ["bench", "doc", String(i % KEYS)];

function* notes() {
  for (let i = 0; i < KEYS; i++) yield { key: keyOf(i), value: note(i), ttlMs: null };
}

/** Calls `fn(i)` in a plain loop for `durationMs`; calls per second. */
function syncRate(fn, durationMs) {
  let calls = 0;
  const started = performance.now();
  let now = started;
  while (now - started < durationMs) {
    for (let j = 0; j < 100; j++) fn(calls++);
    now = performance.now();
  }
  return calls / ((now - started) / 1000);
}

/**
 * Rows `{ label, opsPerSec }` for `pair` (runtime-stores.mjs's SQLite pair),
 * its files made by `file()`.
 */
export async function measureAsyncBoundary(pair, file, durationMs) {
  const rate = async (op) => (await timeOps({ concurrency: 1, durationMs, op })).opsPerSec;
  const rows = [];

  rows.push({ label: "an async function returning at once, awaited", opsPerSec: await rate(async () => {}) });

  const memory = new MemoryKvStore();
  for (const { key, value } of notes()) await memory.set(key, value);
  rows.push({ label: "fedikv MemoryKvStore get (hit)", opsPerSec: await rate((i) => memory.get(keyOf(i))) });
  await memory.close();

  const fedikv = pair.fedikv.open(file());
  for (const { key, value } of notes()) await fedikv.set(key, value);
  rows.push({ label: "fedikv SqliteKvStore get (hit)", opsPerSec: await rate((i) => fedikv.get(keyOf(i))) });
  await pair.fedikv.close(fedikv);

  const path = file();
  pair.alternative.fill(path, notes());
  const alternative = pair.alternative.open(path);
  rows.push({
    label: `${pair.alternative.label} get (hit), awaited`,
    opsPerSec: await rate((i) => alternative.get(keyOf(i))),
  });
  pair.alternative.close(alternative);

  const db = pair.sqlite.open(path);
  const select = db.prepare('SELECT value FROM "fedify_kv" WHERE key = ? AND (expires IS NULL OR expires > ?)');
  const encoded = Array.from({ length: KEYS }, (_, i) => JSON.stringify(keyOf(i)));
  rows.push({
    label: `its SELECT on ${pair.sqlite.library}, prepared once, + JSON.parse, synchronous`,
    opsPerSec: syncRate((i) => JSON.parse(select.get(encoded[i % KEYS], Date.now()).value), durationMs),
  });
  db.close();
  return rows;
}
