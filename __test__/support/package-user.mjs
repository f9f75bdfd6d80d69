// Run inside a fresh folder where the packed fedikv was installed from its
// tarballs: uses the package exactly as an app would, by its name.
import assert from "node:assert/strict";
import { createRequire } from "node:module";
import { createFederation } from "@fedify/fedify";
import { Temporal } from "@js-temporal/polyfill";
import { DenoKvStore, MemoryKvStore, SqliteKvStore } from "fedikv";
import { testKvStore } from "fedikv/testing";

const require = createRequire(import.meta.url);
assert.equal(require("fedikv").SqliteKvStore, SqliteKvStore, "CommonJS and ESM agree");
assert.equal(require("fedikv/testing").testKvStore, testKvStore, "the kit is exported");

for (const kv of [new SqliteKvStore("./app.db"), new MemoryKvStore(), new DenoKvStore("./app.kv")]) {
  const federation = createFederation({ kv });
  assert.ok(federation);
  await kv.set(["_fedify", "check"], { ok: true }, { ttl: Temporal.Duration.from({ minutes: 1 }) });
  assert.deepEqual(await kv.get(["_fedify", "check"]), { ok: true });
  assert.equal(await kv.cas(["_fedify", "check"], { ok: true }, 1), true);
  const listed = [];
  for await (const entry of kv.list(["_fedify"])) listed.push(entry);
  assert.deepEqual(listed, [{ key: ["_fedify", "check"], value: 1 }]);
  await kv.close();
}
console.log("package works");
