// Data written the way @fedify/sqlite writes it is read by SqliteKvStore,
// and the other way round, also with both open on one file at once.
import assert from "node:assert/strict";
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { after, test } from "node:test";
import { setTimeout as sleep } from "node:timers/promises";
import { Temporal } from "@js-temporal/polyfill";
import { SqliteKvStore } from "../index.js";
import { collect, ODD_PARTS } from "fedikv/testing";
import { FedifySqliteLayout } from "./support/fedify-sqlite.mjs";

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

test("SqliteKvStore reads what Fedify's SQLite layout wrote", async () => {
  const path = join(dir, "from-fedify.db");
  const fedify = new FedifySqliteLayout(path);
  for (const [i, part] of ODD_PARTS.entries()) {
    await fedify.set(["_fedify", "odd", part], VALUES[i % VALUES.length]);
  }
  await fedify.set(["_fedify", "ttl", "short"], 1, { ttl: Temporal.Duration.from({ milliseconds: 150, microseconds: 500 }) });
  await fedify.set(["_fedify", "ttl", "long"], 2, { ttl: Temporal.Duration.from({ hours: 1 }) });

  const kv = new SqliteKvStore(path);
  for (const [i, part] of ODD_PARTS.entries()) {
    assert.deepEqual(await kv.get(["_fedify", "odd", part]), VALUES[i % VALUES.length]);
  }
  assert.equal(await kv.get(["_fedify", "ttl", "short"]), 1);
  assert.equal((await collect(kv.list(["_fedify", "odd"]))).length, ODD_PARTS.length);
  await sleep(300);
  assert.equal(await kv.get(["_fedify", "ttl", "short"]), undefined, "Fedify's fractional expiry is honoured");
  assert.equal(await kv.get(["_fedify", "ttl", "long"]), 2);
  assert.deepEqual((await collect(kv.list(["_fedify", "ttl"]))).map((e) => e.key), [["_fedify", "ttl", "long"]]);
  await kv.close();
  fedify.close();
});

test("Fedify's SQLite layout reads what SqliteKvStore wrote", async () => {
  const path = join(dir, "from-fedikv.db");
  const kv = new SqliteKvStore(path);
  for (const [i, part] of ODD_PARTS.entries()) {
    await kv.set(["_fedify", "odd", part], VALUES[i % VALUES.length]);
  }
  await kv.set(["_fedify", "ttl", "short"], 1, { ttl: Temporal.Duration.from({ milliseconds: 150 }) });
  await kv.set(["_fedify", "ttl", "long"], 2, { ttl: Temporal.Duration.from({ hours: 1 }) });

  const fedify = new FedifySqliteLayout(path);
  for (const [i, part] of ODD_PARTS.entries()) {
    assert.deepEqual(await fedify.get(["_fedify", "odd", part]), VALUES[i % VALUES.length]);
  }
  // The raw rows are exactly @fedify/sqlite's: JSON.stringify(key), JSON text, epoch ms.
  const row = fedify.db.prepare("SELECT * FROM fedify_kv WHERE key = ?").get(JSON.stringify(["_fedify", "ttl", "long"]));
  assert.equal(row.value, "2");
  assert.equal(typeof row.created, "number");
  assert.ok(Math.abs(row.expires - row.created - 3_600_000) <= 1, `expires ${row.expires} created ${row.created}`);
  assert.equal(await fedify.get(["_fedify", "ttl", "short"]), 1);
  await sleep(300);
  assert.equal(await fedify.get(["_fedify", "ttl", "short"]), undefined);
  assert.equal((await collect(fedify.list(["_fedify", "odd"]))).length, ODD_PARTS.length);
  await kv.close();
  fedify.close();
});

test("both share one file at once", async () => {
  const path = join(dir, "shared.db");
  const kv = new SqliteKvStore(path);
  const fedify = new FedifySqliteLayout(path);
  await kv.set(["from", "fedikv"], { n: 1 });
  await fedify.set(["from", "fedify"], { n: 2 });
  assert.deepEqual(await fedify.get(["from", "fedikv"]), { n: 1 });
  assert.deepEqual(await kv.get(["from", "fedify"]), { n: 2 });
  assert.equal(await kv.cas(["from", "fedify"], { n: 2 }, { n: 3 }), true);
  assert.deepEqual(await fedify.get(["from", "fedify"]), { n: 3 });
  await fedify.delete(["from", "fedikv"]);
  assert.equal(await kv.get(["from", "fedikv"]), undefined);
  await kv.close();
  fedify.close();
});
