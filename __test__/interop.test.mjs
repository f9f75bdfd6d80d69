// Same data as Fedify's own packages, checked against the real packages from
// npm, both ways, on the test servers:
//
//   @fedify/redis 1.8.7 (ioredis)   <->  RedisKvStore
//   @fedify/postgres 1.8.7 (postgres) <->  PostgresKvStore
//   @fedify/mysql 2.3.8 (mysql2)    <->  MysqlKvStore (MariaDB or MySQL)
//
// What Fedify's package writes, fedikv reads (get and list); what fedikv
// writes, Fedify's package reads; TTLs mean the same on both sides; and the
// two can share one table or key prefix at once. The raw keys, rows and TTLs
// are checked too. Each test has its own key prefix or table, dropped at the
// end. A server that is unreachable is a skip with the reason (a failure
// under CI=true), as in stores.test.mjs.
//
// Run: node --test __test__/interop.test.mjs

import assert from "node:assert/strict";
import { setTimeout as sleep } from "node:timers/promises";
import { after, before, describe, test } from "node:test";
import { Temporal } from "@js-temporal/polyfill";
import { RedisKvStore as FedifyRedisKvStore } from "@fedify/redis";
import { PostgresKvStore as FedifyPostgresKvStore } from "@fedify/postgres";
import { MysqlKvStore as FedifyMysqlKvStore } from "@fedify/mysql";
import Redis from "ioredis";
import postgres from "postgres";
import mysql from "mysql2/promise";
import { MysqlKvStore, PostgresKvStore, RedisKvStore } from "fedikv";
import { server, uniqueName } from "../support/servers.mjs";

const [redis, pg, my] = await Promise.all([server("redis"), server("postgres"), server("mysql")]);

const TIMEOUT = { timeout: 30_000 };

/**
 * Key parts that are special somewhere: the Redis separator and its escape
 * (`:`, `::`, `_:`, a part ending in `:`), Redis glob characters (`*`, `?`,
 * `[`), SQL LIKE wildcards (`%`, `_`) and escape (`\`), PostgreSQL array
 * syntax (`,`, `{}`, `"`, `NULL`, spaces), JSON escapes (control characters,
 * U+2028), non-ASCII, and empty parts. (No NUL: PostgreSQL text cannot
 * hold it.)
 */
const ODD_KEYS = [
  ["plain"],
  [":"],
  ["::"],
  ["a:"],
  ["a:", "b"],
  ["a", ":b"],
  ["a:", "", "b"],
  ["a::b", "c"],
  ["_:"],
  ["a_", "b"],
  ["*"],
  ["a*", "b"],
  ["?"],
  ["["],
  ["[a-z]"],
  ["%"],
  ["_"],
  ["\\"],
  ['"q"'],
  ["a,b"],
  ["{x}"],
  ["NULL"],
  [" sp "],
  ["line\nbreak", "\u0001", "\u2028"],
  ["ü", "🦊", "日本"],
  [""],
  ["a", ""],
  ["", ""],
  ["https://example.com/users/alice#main-key"],
];

/** Prefixes to list by: every key above, and parts that look like patterns. */
const PREFIXES = [...ODD_KEYS, ["a"], ["a:"], ["a_"], ["*"], ["["], ["%"], ["_"], [""], ["\\"], ["a", ""]];

/** JSON values of every kind. */
const VALUES = [
  true,
  false,
  0,
  -1.5,
  1e21,
  "",
  "text",
  'é🦊\u2028\n"\\',
  [],
  {},
  [1, [2, [3, null]]],
  { z: 1, a: { b: [null, "x"] } },
];

const valueFor = (key, i) => ({ key, i, nested: { list: [1, 1.5, null, true, "é🦊"], empty: {} } });

const startsWith = (key, prefix) => prefix.length <= key.length && prefix.every((part, i) => key[i] === part);

/** Entries sorted by key (Redis lists in no particular order). */
const sorted = (entries) => [...entries].sort((x, y) => (JSON.stringify(x.key) < JSON.stringify(y.key) ? -1 : 1));

async function collect(iterable) {
  const result = [];
  for await (const entry of iterable) result.push(entry);
  return result;
}

/** Waits until `ms` milliseconds after `start` (a Date.now() value). */
const sleepUntil = (start, ms) => sleep(Math.max(0, start + ms - Date.now()));

/** Checks `kv.list(prefix)` against the entries `expected` ({ key, value }) for every prefix. */
async function assertListings(kv, expected, prefixes = PREFIXES) {
  assert.deepEqual(sorted(await collect(kv.list())), sorted(expected), "list()");
  for (const prefix of prefixes) {
    assert.deepEqual(
      sorted(await collect(kv.list(prefix))),
      sorted(expected.filter((e) => startsWith(e.key, prefix))),
      `list(${JSON.stringify(prefix)})`,
    );
  }
}

// ---------------------------------------------------------------------------
// Redis
// ---------------------------------------------------------------------------

/** The Redis key @fedify/redis writes: parts with ':' as '_:', joined by '::'. */
const redisKey = (keyPrefix, key) => keyPrefix + key.map((part) => part.replaceAll(":", "_:")).join("::");

/**
 * How the `list()` of later @fedify/redis versions (1.10+, not 1.8.7) turns a
 * Redis key back into a KvKey: split on "::", then '_:' back to ':'. It is
 * wrong for a part that ends in ':' (its escape "_:" runs into the
 * separator: ["a:", "b"] -> "a_:::b" -> ["a_", ":b"]). Kept here only to show
 * that fault; fedikv must not share it.
 */
const fedifyListDeserialize = (suffix) => suffix.split("::").map((part) => part.replaceAll("_:", ":"));

describe("@fedify/redis 1.8.7 <-> fedikv RedisKvStore", { skip: redis.skip }, () => {
  let client;
  const prefixes = [];
  const stores = [];

  /** A fresh key prefix, with Fedify's store and fedikv's on it. */
  function pair() {
    const keyPrefix = `${uniqueName("interop")}::`;
    prefixes.push(keyPrefix);
    const fedify = new FedifyRedisKvStore(client, { keyPrefix });
    const kv = new RedisKvStore(redis.url, { keyPrefix });
    stores.push(kv);
    return { keyPrefix, fedify, kv };
  }

  /** The raw Redis keys under `keyPrefix` (which has no glob characters). */
  async function rawKeys(keyPrefix) {
    const keys = [];
    let cursor = "0";
    do {
      const [next, batch] = await client.scan(cursor, "MATCH", `${keyPrefix}*`, "COUNT", 1000);
      keys.push(...batch);
      cursor = next;
    } while (cursor !== "0");
    return keys.sort();
  }

  before(() => {
    client = new Redis(redis.url, { maxRetriesPerRequest: 2, connectTimeout: 5000 });
  });

  after(async () => {
    for (const kv of stores) await kv.drop();
    // drop() leaves nothing under the prefix, the bare prefix (the key
    // [""]) included.
    for (const keyPrefix of prefixes) assert.deepEqual(await rawKeys(keyPrefix), [], keyPrefix);
    for (const kv of stores) await kv.close();
    await client.quit();
  });

  test("@fedify/redis 1.8.7 has get/set/delete only (no list, no cas)", () => {
    // So Fedify itself cannot read a listing back, and gets no atomic swap:
    // with @fedify/redis 1.8.7 Fedify falls back to non-atomic paths.
    assert.equal(typeof FedifyRedisKvStore.prototype.list, "undefined");
    assert.equal(typeof FedifyRedisKvStore.prototype.cas, "undefined");
  });

  test("Fedify's writes, odd key parts included, are read by fedikv (get, list)", TIMEOUT, async () => {
    const { keyPrefix, fedify, kv } = pair();
    const expected = ODD_KEYS.map((key, i) => ({ key, value: valueFor(key, i) }));
    for (const { key, value } of expected) await fedify.set(key, value);

    // The raw layout: one Redis key per entry, value = the JSON text.
    assert.deepEqual(await rawKeys(keyPrefix), ODD_KEYS.map((key) => redisKey(keyPrefix, key)).sort());
    for (const { key, value } of expected) {
      assert.equal(await client.get(redisKey(keyPrefix, key)), JSON.stringify(value));
    }

    for (const { key, value } of expected) {
      assert.deepEqual(await kv.get(key), value, `get(${JSON.stringify(key)})`);
    }
    // Listing decodes the Redis keys, and no part is a glob pattern (`*`,
    // `?`, `[` are ordinary characters in a prefix).
    await assertListings(kv, expected);

    // Values of every JSON kind, and a delete by one seen by the other.
    for (const [i, value] of VALUES.entries()) await fedify.set(["values", String(i)], value);
    for (const [i, value] of VALUES.entries()) assert.deepEqual(await kv.get(["values", String(i)]), value);
    await fedify.delete(["values", "0"]);
    assert.equal(await kv.get(["values", "0"]), undefined);
    await kv.delete(["values", "1"]);
    assert.equal(await fedify.get(["values", "1"]), undefined);
  });

  test("a part ending in ':' (Fedify's \"a_:::b\") is read right by fedikv", TIMEOUT, async () => {
    const { keyPrefix, fedify, kv } = pair();
    const keys = [["a:", "b"], ["a:", "", "b"], ["x:", ":y:"], [":", ":"], ["a:"]];
    for (const key of keys) await fedify.set(key, { key });

    const suffix = (key) => redisKey(keyPrefix, key).slice(keyPrefix.length);
    assert.equal(suffix(["a:", "b"]), "a_:::b");
    assert.equal(suffix(["a:", "", "b"]), "a_:::::b");
    // Fedify's escaping itself is unambiguous (a run of colons after "_" is
    // an escaped ':' exactly when the run is odd), and 1.8.7's get/set only
    // ever go from key to Redis key, so 1.8.7 reads its own entries back.
    for (const key of keys) assert.deepEqual(await fedify.get(key), { key });
    // The fault is in the reader of later versions (list(), 1.10+), which
    // splits on "::" first:
    assert.deepEqual(fedifyListDeserialize(suffix(["a:", "b"])), ["a_", ":b"]);
    assert.deepEqual(fedifyListDeserialize(suffix(["a:", "", "b"])), ["a_", "", ":b"]);
    assert.deepEqual(fedifyListDeserialize(suffix(["x:", ":y:"])), ["x_", "::y:"]);
    // fedikv decodes them exactly.
    for (const key of keys) assert.deepEqual(await kv.get(key), { key });
    assert.deepEqual(sorted(await collect(kv.list())), sorted(keys.map((key) => ({ key, value: { key } }))));
    assert.deepEqual(
      sorted(await collect(kv.list(["a:"]))),
      sorted([["a:", "b"], ["a:", "", "b"], ["a:"]].map((key) => ({ key, value: { key } }))),
    );
  });

  test("Fedify's TTLs (SETEX, whole seconds) are honoured by fedikv", TIMEOUT, async () => {
    const { keyPrefix, fedify, kv } = pair();
    const start = Date.now();
    await fedify.set(["ttl", "short"], "short", { ttl: Temporal.Duration.from({ seconds: 1 }) });
    await fedify.set(["ttl", "hour"], "hour", { ttl: Temporal.Duration.from({ hours: 1 }) });
    await fedify.set(["ttl", "none"], "none");

    const pttl = (key) => client.pttl(redisKey(keyPrefix, key));
    const short = await pttl(["ttl", "short"]);
    assert.ok(short > 0 && short <= 1000, `PTTL ${short}`);
    const hour = await pttl(["ttl", "hour"]);
    assert.ok(hour > 3_590_000 && hour <= 3_600_000, `PTTL ${hour}`);
    assert.equal(await pttl(["ttl", "none"]), -1);

    assert.equal(await kv.get(["ttl", "short"]), "short");
    assert.deepEqual((await collect(kv.list(["ttl"]))).map((e) => e.value).sort(), ["hour", "none", "short"]);

    await sleepUntil(start, 1200);
    assert.equal(await kv.get(["ttl", "short"]), undefined);
    assert.deepEqual((await collect(kv.list(["ttl"]))).map((e) => e.value).sort(), ["hour", "none"]);
    assert.equal(await kv.get(["ttl", "hour"]), "hour");
  });

  test("Fedify's set with a fractional-second TTL fails (SETEX wants an integer)", TIMEOUT, async () => {
    // @fedify/redis 1.8.7 passes ttl.total("second") to SETEX, so 1.5 s is
    // "SETEX key 1.5 value", which Redis refuses; nothing is written.
    const { fedify, kv } = pair();
    await assert.rejects(
      fedify.set(["frac"], 1, { ttl: Temporal.Duration.from({ milliseconds: 1500 }) }),
      /ERR value is not an integer or out of range/,
    );
    assert.equal(await kv.get(["frac"]), undefined);
    assert.equal(await fedify.get(["frac"]), undefined);
  });

  test("fedikv's writes, odd key parts and TTLs (1.5 s) included, are read by Fedify's get", TIMEOUT, async () => {
    const { keyPrefix, fedify, kv } = pair();
    const expected = ODD_KEYS.map((key, i) => ({ key, value: valueFor(key, i) }));
    for (const { key, value } of expected) await kv.set(key, value);

    // Exactly Fedify's raw layout.
    assert.deepEqual(await rawKeys(keyPrefix), ODD_KEYS.map((key) => redisKey(keyPrefix, key)).sort());
    for (const { key, value } of expected) {
      assert.equal(await client.get(redisKey(keyPrefix, key)), JSON.stringify(value));
      assert.deepEqual(await fedify.get(key), value, `Fedify get(${JSON.stringify(key)})`);
    }
    for (const [i, value] of VALUES.entries()) await kv.set(["values", String(i)], value);
    for (const [i, value] of VALUES.entries()) assert.deepEqual(await fedify.get(["values", String(i)]), value);

    // TTLs: fedikv keeps milliseconds (PEXPIRE), so 1.5 s is 1.5 s, not 1.
    const start = Date.now();
    await kv.set(["ttl", "frac"], "frac", { ttl: Temporal.Duration.from({ milliseconds: 1500 }) });
    await kv.set(["ttl", "hour"], "hour", { ttl: Temporal.Duration.from({ hours: 1 }) });
    await kv.set(["ttl", "none"], "none", { ttl: Temporal.Duration.from({ hours: 1 }) });
    await kv.set(["ttl", "none"], "none"); // a set without a TTL clears it
    const frac = await client.pttl(redisKey(keyPrefix, ["ttl", "frac"]));
    assert.ok(frac > 1000 && frac <= 1500, `PTTL ${frac}`);
    const hour = await client.pttl(redisKey(keyPrefix, ["ttl", "hour"]));
    assert.ok(hour > 3_590_000 && hour <= 3_600_000, `PTTL ${hour}`);
    assert.equal(await client.pttl(redisKey(keyPrefix, ["ttl", "none"])), -1);

    assert.equal(await fedify.get(["ttl", "frac"]), "frac");
    await sleepUntil(start, 1150);
    assert.equal(await fedify.get(["ttl", "frac"]), "frac"); // still live after 1 s
    await sleepUntil(start, 1700);
    assert.equal(await fedify.get(["ttl", "frac"]), undefined);
    assert.equal(await client.exists(redisKey(keyPrefix, ["ttl", "frac"])), 0);
    assert.equal(await fedify.get(["ttl", "hour"]), "hour");
    assert.equal(await fedify.get(["ttl", "none"]), "none");
  });

  test("sharing a prefix: fedikv's cas on values Fedify wrote", TIMEOUT, async () => {
    const { fedify, kv } = pair();
    await fedify.set(["cas"], { b: [1, 2], a: "x" });
    // JSON equality: member order does not matter.
    assert.equal(await kv.cas(["cas"], { a: "x", b: [1, 2] }, { n: 1 }), true);
    assert.deepEqual(await fedify.get(["cas"]), { n: 1 });
    assert.equal(await kv.cas(["cas"], { a: "x", b: [1, 2] }, { n: 2 }), false);
    await fedify.set(["cas"], { n: 5 });
    assert.equal(await kv.cas(["cas"], { n: 1 }, { n: 6 }), false);
    assert.equal(await kv.cas(["cas"], { n: 5 }, { n: 6 }), true);
    assert.deepEqual(await fedify.get(["cas"]), { n: 6 });
    assert.equal(await kv.cas(["cas"], { n: 6 }, undefined), true);
    assert.equal(await fedify.get(["cas"]), undefined);

    // An entry Fedify wrote with a TTL counts as absent once expired.
    await fedify.set(["cas", "ttl"], "old", { ttl: Temporal.Duration.from({ seconds: 1 }) });
    assert.equal(await kv.cas(["cas", "ttl"], undefined, "new"), false);
    await sleep(1200);
    assert.equal(await kv.cas(["cas", "ttl"], undefined, "new"), true);
    assert.equal(await fedify.get(["cas", "ttl"]), "new");

    // Fedify writing other keys while fedikv counts with cas on the prefix.
    await kv.set(["counter"], 0);
    const increment = async () => {
      for (;;) {
        const n = await kv.get(["counter"]);
        if (await kv.cas(["counter"], n, n + 1)) return;
      }
    };
    await Promise.all([
      ...Array.from({ length: 20 }, increment),
      ...Array.from({ length: 20 }, (_, i) => fedify.set(["side", String(i)], i)),
    ]);
    assert.equal(await fedify.get(["counter"]), 20);
    assert.equal((await collect(kv.list(["side"]))).length, 20);
  });
});

// ---------------------------------------------------------------------------
// PostgreSQL
// ---------------------------------------------------------------------------

describe("@fedify/postgres 1.8.7 <-> fedikv PostgresKvStore", { skip: pg.skip }, () => {
  let sql;
  const stores = [];

  /** A fresh table, with Fedify's store and fedikv's on it. */
  function pair(options = {}) {
    const tableName = uniqueName("interop");
    const fedify = new FedifyPostgresKvStore(sql, { tableName });
    const kv = new PostgresKvStore(pg.url, { tableName, ...options });
    stores.push(kv);
    return { tableName, fedify, kv };
  }

  const persistence = async (tableName) =>
    (await sql`SELECT relpersistence FROM pg_class WHERE oid = to_regclass(${`"${tableName}"`})`)[0]?.relpersistence;

  before(() => {
    sql = postgres(pg.url, { max: 4, onnotice: () => {}, connect_timeout: 5, idle_timeout: 1 });
  });

  after(async () => {
    for (const kv of stores) {
      await kv.drop();
      await kv.close();
    }
    await sql.end({ timeout: 5 });
  });

  test("Fedify's writes, odd key parts included, are read by fedikv (get, list)", TIMEOUT, async () => {
    const { tableName, fedify, kv } = pair();
    const expected = ODD_KEYS.map((key, i) => ({ key, value: valueFor(key, i) }));
    for (const { key, value } of expected) await fedify.set(key, value);
    const rows = await sql`SELECT key, value FROM ${sql(tableName)} ORDER BY key`;
    assert.deepEqual(sorted(rows.map((r) => ({ key: r.key, value: r.value }))), sorted(expected));

    for (const { key, value } of expected) {
      assert.deepEqual(await kv.get(key), value, `get(${JSON.stringify(key)})`);
    }
    await assertListings(kv, expected);

    for (const [i, value] of VALUES.entries()) await fedify.set(["values", String(i)], value);
    for (const [i, value] of VALUES.entries()) assert.deepEqual(await kv.get(["values", String(i)]), value);
    await fedify.delete(["values", "0"]);
    assert.equal(await kv.get(["values", "0"]), undefined);
    await kv.delete(["values", "1"]);
    assert.equal(await fedify.get(["values", "1"]), undefined);
  });

  test("Fedify's set of a null value fails (sql.json(null) is SQL NULL)", TIMEOUT, async () => {
    // @fedify/postgres 1.8.7 binds sql.json(null), which postgres.js sends as
    // SQL NULL: the NOT NULL constraint of `value` refuses it (23502).
    // fedikv stores JSON null, and Fedify reads that back as null.
    const { fedify, kv } = pair();
    await assert.rejects(fedify.set(["null"], null), (e) => e.code === "23502");
    await kv.set(["null"], null);
    assert.equal(await fedify.get(["null"]), null);
    assert.equal(await kv.get(["null"]), null);
  });

  test(
    "Fedify's overwrite keeps the row's old `created`, so its new TTL counts from the first write",
    TIMEOUT,
    async () => {
      // @fedify/postgres 1.8.7's set updates only value and ttl ON CONFLICT,
      // not created: a TTL set on an entry written two hours earlier is
      // measured from then, and a one-hour TTL is dead on arrival (its own
      // expiry DELETE removes the row). fedikv's set restarts `created`, so
      // the same overwrite through fedikv lives its hour, for both readers.
      const { tableName, fedify, kv } = pair();
      const backdate = (key) =>
        sql`UPDATE ${sql(tableName)} SET created = now() - interval '2 hours' WHERE key = ${key}`;
      const hour = Temporal.Duration.from({ hours: 1 });

      await kv.set(["by", "fedify"], "old");
      await backdate(["by", "fedify"]);
      await fedify.set(["by", "fedify"], "new", { ttl: hour });
      assert.equal(await fedify.get(["by", "fedify"]), undefined);
      assert.equal(await kv.get(["by", "fedify"]), undefined);

      await fedify.set(["by", "fedikv"], "old");
      await backdate(["by", "fedikv"]);
      await kv.set(["by", "fedikv"], "new", { ttl: hour });
      assert.equal(await fedify.get(["by", "fedikv"]), "new");
      assert.equal(await kv.get(["by", "fedikv"]), "new");
    },
  );

  test("Fedify's TTLs (ISO 8601 duration text) are honoured by fedikv", TIMEOUT, async () => {
    const { tableName, fedify, kv } = pair();
    const start = Date.now();
    const ttls = {
      frac: Temporal.Duration.from({ milliseconds: 1500 }),
      hour: Temporal.Duration.from({ hours: 1 }),
      day: Temporal.Duration.from({ days: 1 }),
      month: Temporal.Duration.from({ months: 1 }),
      mixed: Temporal.Duration.from({ minutes: 2, seconds: 3, milliseconds: 4 }),
    };
    for (const [name, ttl] of Object.entries(ttls)) await fedify.set(["ttl", name], name, { ttl });
    await fedify.set(["ttl", "none"], "none");

    // Fedify sends ttl.toString(); PostgreSQL reads the ISO text as an interval.
    const raw = Object.fromEntries(
      (await sql`SELECT key[2] AS name, ttl::text FROM ${sql(tableName)}`).map((r) => [r.name, r.ttl]),
    );
    assert.deepEqual(raw, {
      frac: "00:00:01.5",
      hour: "01:00:00",
      day: "1 day",
      month: "1 mon",
      mixed: "00:02:03.004",
      none: null,
    });

    assert.equal(await kv.get(["ttl", "frac"]), "frac");
    const all = ["day", "frac", "hour", "mixed", "month", "none"];
    assert.deepEqual(
      (await collect(kv.list(["ttl"]))).map((e) => e.value),
      all,
    );
    await sleepUntil(start, 1150);
    assert.equal(await kv.get(["ttl", "frac"]), "frac");
    await sleepUntil(start, 1700);
    assert.equal(await kv.get(["ttl", "frac"]), undefined);
    assert.deepEqual(
      (await collect(kv.list(["ttl"]))).map((e) => e.value),
      all.filter((n) => n !== "frac"),
    );
  });

  test("fedikv's writes, odd key parts and TTLs (1.5 s) included, are read by Fedify's get", TIMEOUT, async () => {
    const { tableName, fedify, kv } = pair();
    const expected = ODD_KEYS.map((key, i) => ({ key, value: valueFor(key, i) }));
    for (const { key, value } of expected) await kv.set(key, value);
    const rows = await sql`SELECT key, value, ttl FROM ${sql(tableName)}`;
    assert.deepEqual(sorted(rows.map((r) => ({ key: r.key, value: r.value }))), sorted(expected));
    assert.ok(rows.every((r) => r.ttl === null));
    for (const { key, value } of expected) {
      assert.deepEqual(await fedify.get(key), value, `Fedify get(${JSON.stringify(key)})`);
    }
    for (const [i, value] of VALUES.entries()) await kv.set(["values", String(i)], value);
    for (const [i, value] of VALUES.entries()) assert.deepEqual(await fedify.get(["values", String(i)]), value);

    const start = Date.now();
    await kv.set(["ttl", "frac"], "frac", { ttl: Temporal.Duration.from({ milliseconds: 1500 }) });
    await kv.set(["ttl", "day"], "day", { ttl: Temporal.Duration.from({ days: 1 }) });
    const ttl = async (name) =>
      (await sql`SELECT extract(epoch FROM ttl)::float8 AS s FROM ${sql(tableName)} WHERE key = ${["ttl", name]}`)[0]
        ?.s;
    assert.equal(await ttl("frac"), 1.5);
    assert.equal(await ttl("day"), 86_400);

    assert.equal(await fedify.get(["ttl", "frac"]), "frac");
    await sleepUntil(start, 1150);
    assert.equal(await fedify.get(["ttl", "frac"]), "frac");
    await sleepUntil(start, 1700);
    assert.equal(await fedify.get(["ttl", "frac"]), undefined);
    assert.equal(await fedify.get(["ttl", "day"]), "day");
  });

  test("sharing a table: fedikv's cas on values Fedify wrote, both writing at once", TIMEOUT, async () => {
    const { fedify, kv } = pair();
    await fedify.set(["cas"], { b: [1, 2], a: "x" });
    assert.equal(await kv.cas(["cas"], { a: "x", b: [1, 2] }, { n: 1 }), true);
    assert.deepEqual(await fedify.get(["cas"]), { n: 1 });
    assert.equal(await kv.cas(["cas"], { a: "x", b: [1, 2] }, { n: 2 }), false);
    await fedify.set(["cas"], { n: 5 });
    assert.equal(await kv.cas(["cas"], { n: 1 }, { n: 6 }), false);
    assert.equal(await kv.cas(["cas"], { n: 5 }, { n: 6 }), true);
    assert.deepEqual(await fedify.get(["cas"]), { n: 6 });
    assert.equal(await kv.cas(["cas"], { n: 6 }, undefined), true);
    assert.equal(await fedify.get(["cas"]), undefined);

    // A row Fedify wrote with a TTL counts as absent once expired (the row
    // is still there until someone purges it).
    await fedify.set(["cas", "ttl"], "old", { ttl: Temporal.Duration.from({ seconds: 1 }) });
    assert.equal(await kv.cas(["cas", "ttl"], undefined, "new"), false);
    await sleep(1200);
    assert.equal(await kv.cas(["cas", "ttl"], "old", "newer"), false);
    assert.equal(await kv.cas(["cas", "ttl"], undefined, "new"), true);
    assert.equal(await fedify.get(["cas", "ttl"]), "new");

    // Fedify writing (each set followed by its table-wide expiry DELETE)
    // while fedikv counts with cas in the same table.
    await fedify.set(["counter"], 0);
    const increment = async () => {
      for (;;) {
        const n = await kv.get(["counter"]);
        if (await kv.cas(["counter"], n, n + 1)) return;
      }
    };
    await Promise.all([
      ...Array.from({ length: 20 }, increment),
      ...Array.from({ length: 20 }, (_, i) =>
        fedify.set(["side", String(i)], i, { ttl: Temporal.Duration.from({ hours: 1 }) }),
      ),
    ]);
    assert.equal(await fedify.get(["counter"]), 20);
    assert.equal((await collect(kv.list(["side"]))).length, 20);
  });

  test("table made by Fedify (UNLOGGED) then used by fedikv, and the other way round", TIMEOUT, async () => {
    // @fedify/postgres 1.8.7 creates its table UNLOGGED. fedikv, without
    // `unlogged: true`, turns an existing unlogged table into a logged one
    // (ALTER TABLE … SET LOGGED) the first time it touches it; with
    // `unlogged: true` it leaves it as it is. Fedify's CREATE UNLOGGED TABLE
    // IF NOT EXISTS leaves a table fedikv made (logged) alone. The data
    // survives either way, and both stores keep working on it.
    const first = pair();
    await first.fedify.set(["from", "fedify"], 1);
    assert.equal(await persistence(first.tableName), "u");
    assert.equal(await first.kv.get(["from", "fedify"]), 1);
    assert.equal(await persistence(first.tableName), "p");
    await first.kv.set(["from", "fedikv"], 2);
    assert.deepEqual(
      (await collect(first.kv.list(["from"]))).map((e) => e.key[1]),
      ["fedify", "fedikv"],
    );
    assert.equal(await first.fedify.get(["from", "fedikv"]), 2);

    const keep = pair({ unlogged: true });
    await keep.fedify.set(["from", "fedify"], 1);
    assert.equal(await keep.kv.get(["from", "fedify"]), 1);
    assert.equal(await persistence(keep.tableName), "u");

    const other = pair();
    await other.kv.set(["from", "fedikv"], 2);
    assert.equal(await persistence(other.tableName), "p");
    await other.fedify.set(["from", "fedify"], 1);
    assert.equal(await other.fedify.get(["from", "fedikv"]), 2);
    assert.equal(await persistence(other.tableName), "p");

    // Both made the same columns.
    const columns = (tableName) => sql`
      SELECT column_name, data_type, udt_name, is_nullable, column_default
      FROM information_schema.columns WHERE table_name = ${tableName} ORDER BY ordinal_position`;
    const primaryKey = async (tableName) =>
      (
        await sql`
      SELECT a.attname FROM pg_index i JOIN pg_attribute a ON a.attrelid = i.indrelid AND a.attnum = ANY(i.indkey)
      WHERE i.indrelid = to_regclass(${`"${tableName}"`}) AND i.indisprimary`
      ).map((r) => r.attname);
    const byFedify = await columns(first.tableName);
    assert.equal(byFedify.length, 4);
    assert.deepEqual([...(await columns(other.tableName))], [...byFedify]);
    assert.deepEqual(await primaryKey(other.tableName), ["key"]);
    assert.deepEqual(await primaryKey(first.tableName), ["key"]);
  });
});

// ---------------------------------------------------------------------------
// MySQL / MariaDB
// ---------------------------------------------------------------------------

/**
 * The statements of @fedify/mysql 2.3.8's set() (node_modules/@fedify/mysql/
 * dist/kv.js), word for word but for one change: `CAST(? AS JSON)` is a
 * plain `?`, because MariaDB cannot parse CAST … AS JSON (see the
 * ER_PARSE_ERROR test). The key is JSON.stringify([...key]), the value
 * JSON.stringify(value), the TTL the duration's total seconds (fractions
 * kept) added to NOW(6); then Fedify's table-wide expiry DELETE.
 */
async function fedifyShapedSet(pool, tableName, key, value, ttl) {
  const serializedKey = JSON.stringify([...key]);
  const jsonValue = JSON.stringify(value);
  if (ttl != null) {
    const ttlSeconds = ttl.total({ unit: "second", relativeTo: Temporal.Now.plainDateTimeISO() });
    await pool.query(
      `INSERT INTO \`${tableName}\` (\`key\`, \`value\`, \`expires\`)
         VALUES (?, ?,
                 DATE_ADD(NOW(6), INTERVAL ? SECOND))
         ON DUPLICATE KEY UPDATE
           \`value\` = VALUES(\`value\`),
           \`expires\` = VALUES(\`expires\`)`,
      [serializedKey, jsonValue, ttlSeconds],
    );
  } else {
    await pool.query(
      `INSERT INTO \`${tableName}\` (\`key\`, \`value\`, \`expires\`)
         VALUES (?, ?, NULL)
         ON DUPLICATE KEY UPDATE
           \`value\` = VALUES(\`value\`),
           \`expires\` = NULL`,
      [serializedKey, jsonValue],
    );
  }
  await pool.query(`DELETE FROM \`${tableName}\`
       WHERE \`expires\` IS NOT NULL AND \`expires\` < NOW(6)`);
}

describe("@fedify/mysql 2.3.8 <-> fedikv MysqlKvStore", { skip: my.skip }, () => {
  let pool;
  let version;
  const stores = [];

  /** A fresh table (made by Fedify's initialize()), with both stores on it. */
  async function pair({ initialize = true } = {}) {
    const tableName = uniqueName("interop");
    const fedify = new FedifyMysqlKvStore(pool, { tableName });
    const kv = new MysqlKvStore(my.url, { tableName });
    stores.push(kv);
    if (initialize) await fedify.initialize();
    return { tableName, fedify, kv };
  }

  before(async () => {
    pool = mysql.createPool({ uri: my.url, connectionLimit: 4, connectTimeout: 5000 });
    version = (await pool.query("SELECT VERSION() AS v"))[0][0].v;
  });

  after(async () => {
    for (const kv of stores) {
      await kv.drop();
      await kv.close();
    }
    await pool?.end();
  });

  test("@fedify/mysql 2.3.8 set and cas fail on MariaDB with ER_PARSE_ERROR (CAST(? AS JSON))", TIMEOUT, async (t) => {
    // Every write of @fedify/mysql goes through `CAST(? AS JSON)`, which
    // MySQL 8 accepts and MariaDB (10.11 here) does not parse: set (with or
    // without a TTL) and cas reject with ER_PARSE_ERROR (1064, SQLSTATE
    // 42000) and write nothing. Its initialize, get, list and delete work.
    // Should a server accept it (MySQL 8), fedikv must read what it wrote.
    const { fedify, kv } = await pair();
    const mariadb = /mariadb/i.test(version);
    const attempts = [
      ["set", ["probe", "set"], () => fedify.set(["probe", "set"], { a: 1 })],
      [
        "set with a TTL",
        ["probe", "ttl"],
        () => fedify.set(["probe", "ttl"], { a: 2 }, { ttl: Temporal.Duration.from({ hours: 1 }) }),
      ],
      ["cas", ["probe", "cas"], () => fedify.cas(["probe", "cas"], undefined, { a: 3 })],
    ];
    const failures = [];
    for (const [what, key, attempt] of attempts) {
      let error;
      let result;
      try {
        result = await attempt();
      } catch (e) {
        error = e;
      }
      if (error !== undefined) {
        assert.equal(error.code, "ER_PARSE_ERROR", `${what}: ${error.message}`);
        assert.equal(error.errno, 1064);
        assert.equal(error.sqlState, "42000");
        assert.match(error.message, /near 'JSON\)/);
        assert.equal(await kv.get(key), undefined, `${what} wrote nothing`);
        failures.push(what);
      } else {
        if (what === "cas") assert.equal(result, true);
        const value = what === "set" ? { a: 1 } : what === "cas" ? { a: 3 } : { a: 2 };
        assert.deepEqual(await kv.get(key), value, `fedikv reads what Fedify's ${what} wrote`);
      }
    }
    t.diagnostic(
      `${version}: ${failures.length > 0 ? `failed with ER_PARSE_ERROR: ${failures.join(", ")}` : "Fedify's writes succeeded"}`,
    );
    if (mariadb && failures.length < attempts.length) {
      t.diagnostic(`this MariaDB (${version}) parsed CAST(? AS JSON) for some writes`);
    }
  });

  test("fedikv's writes, odd key parts included, are read by Fedify's get and list", TIMEOUT, async () => {
    const { tableName, fedify, kv } = await pair();
    const expected = ODD_KEYS.map((key, i) => ({ key, value: valueFor(key, i) }));
    for (const { key, value } of expected) await kv.set(key, value);

    // The key column is JSON.stringify(key), byte for byte.
    const [rows] = await pool.query(`SELECT \`key\`, \`expires\` FROM \`${tableName}\``);
    assert.deepEqual(rows.map((r) => r.key).sort(), ODD_KEYS.map((key) => JSON.stringify(key)).sort());
    assert.ok(rows.every((r) => r.expires === null));

    for (const { key, value } of expected) {
      assert.deepEqual(await fedify.get(key), value, `Fedify get(${JSON.stringify(key)})`);
    }
    // Fedify's list (LIKE with %, _ and \ escaped) agrees with fedikv's.
    await assertListings(fedify, expected);
    await assertListings(kv, expected);

    for (const [i, value] of [null, ...VALUES].entries()) await kv.set(["values", String(i)], value);
    for (const [i, value] of [null, ...VALUES].entries()) {
      assert.deepEqual(await fedify.get(["values", String(i)]), value);
    }
    await fedify.delete(["values", "0"]);
    assert.equal(await kv.get(["values", "0"]), undefined);
  });

  test("fedikv's TTLs (1.5 s included) are honoured by Fedify's get and list", TIMEOUT, async () => {
    const { tableName, fedify, kv } = await pair();
    const start = Date.now();
    await kv.set(["ttl", "frac"], "frac", { ttl: Temporal.Duration.from({ milliseconds: 1500 }) });
    await kv.set(["ttl", "day"], "day", { ttl: Temporal.Duration.from({ days: 1 }) });
    await kv.set(["ttl", "none"], "none");

    // `expires` is NOW(6) + the TTL on the server's clock, as Fedify's.
    const [rows] = await pool.query(
      `SELECT JSON_VALUE(\`key\`, '$[1]') AS name, TIMESTAMPDIFF(MICROSECOND, NOW(6), \`expires\`) AS left_us
       FROM \`${tableName}\``,
    );
    const left = Object.fromEntries(rows.map((r) => [r.name, r.left_us == null ? null : Number(r.left_us)]));
    assert.ok(left.frac > 1_000_000 && left.frac <= 1_500_000, `frac: ${left.frac} µs`);
    assert.ok(left.day > 86_390_000_000 && left.day <= 86_400_000_000, `day: ${left.day} µs`);
    assert.equal(left.none, null);

    assert.equal(await fedify.get(["ttl", "frac"]), "frac");
    await sleepUntil(start, 1150);
    assert.equal(await fedify.get(["ttl", "frac"]), "frac");
    assert.deepEqual(
      (await collect(fedify.list(["ttl"]))).map((e) => e.value),
      ["day", "frac", "none"],
    );
    await sleepUntil(start, 1700);
    assert.equal(await fedify.get(["ttl", "frac"]), undefined);
    assert.deepEqual(
      (await collect(fedify.list(["ttl"]))).map((e) => e.value),
      ["day", "none"],
    );
  });

  test("rows in @fedify/mysql's set() shape (minus the CAST) are read by fedikv, TTLs included", TIMEOUT, async () => {
    const { tableName, fedify, kv } = await pair();
    const expected = ODD_KEYS.map((key, i) => ({ key, value: valueFor(key, i) }));
    for (const { key, value } of expected) await fedifyShapedSet(pool, tableName, key, value);
    for (const { key, value } of expected) {
      assert.deepEqual(await kv.get(key), value, `get(${JSON.stringify(key)})`);
    }
    await assertListings(kv, expected);
    // (and Fedify's own reader agrees)
    await assertListings(fedify, expected, [[], ["a:"], ["%"], ["_"], ["\\"]]);

    for (const [i, value] of [null, ...VALUES].entries()) {
      await fedifyShapedSet(pool, tableName, ["values", String(i)], value);
    }
    for (const [i, value] of [null, ...VALUES].entries()) {
      assert.deepEqual(await kv.get(["values", String(i)]), value);
    }

    const start = Date.now();
    await fedifyShapedSet(pool, tableName, ["ttl", "frac"], "frac", Temporal.Duration.from({ milliseconds: 1500 }));
    await fedifyShapedSet(pool, tableName, ["ttl", "hour"], "hour", Temporal.Duration.from({ hours: 1 }));
    await fedifyShapedSet(pool, tableName, ["ttl", "month"], "month", Temporal.Duration.from({ months: 1 }));
    assert.equal(await kv.get(["ttl", "frac"]), "frac");
    await sleepUntil(start, 1150);
    assert.equal(await kv.get(["ttl", "frac"]), "frac");
    assert.deepEqual(
      (await collect(kv.list(["ttl"]))).map((e) => e.value),
      ["frac", "hour", "month"],
    );
    await sleepUntil(start, 1700);
    assert.equal(await kv.get(["ttl", "frac"]), undefined);
    assert.deepEqual(
      (await collect(kv.list(["ttl"]))).map((e) => e.value),
      ["hour", "month"],
    );
  });

  test("sharing a table: fedikv's cas on rows in Fedify's shape, Fedify's delete on fedikv's", TIMEOUT, async () => {
    const { tableName, fedify, kv } = await pair();
    await fedifyShapedSet(pool, tableName, ["cas"], { b: [1, 2], a: "x" });
    assert.equal(await kv.cas(["cas"], { a: "x", b: [1, 2] }, { n: 1 }), true);
    assert.deepEqual(await fedify.get(["cas"]), { n: 1 });
    assert.equal(await kv.cas(["cas"], { a: "x", b: [1, 2] }, { n: 2 }), false);
    await fedifyShapedSet(pool, tableName, ["cas"], { n: 5 });
    assert.equal(await kv.cas(["cas"], { n: 1 }, { n: 6 }), false);
    assert.equal(await kv.cas(["cas"], { n: 5 }, { n: 6 }), true);
    assert.deepEqual(await fedify.get(["cas"]), { n: 6 });
    await fedify.delete(["cas"]);
    assert.equal(await kv.get(["cas"]), undefined);

    await fedifyShapedSet(pool, tableName, ["cas", "ttl"], "old", Temporal.Duration.from({ seconds: 1 }));
    assert.equal(await kv.cas(["cas", "ttl"], undefined, "new"), false);
    await sleep(1200);
    assert.equal(await kv.cas(["cas", "ttl"], "old", "newer"), false);
    assert.equal(await kv.cas(["cas", "ttl"], undefined, "new"), true);
    assert.equal(await fedify.get(["cas", "ttl"]), "new");

    // Rows written in Fedify's shape while fedikv counts with cas.
    await kv.set(["counter"], 0);
    const increment = async () => {
      for (;;) {
        const n = await kv.get(["counter"]);
        if (await kv.cas(["counter"], n, n + 1)) return;
      }
    };
    await Promise.all([
      ...Array.from({ length: 20 }, increment),
      ...Array.from({ length: 20 }, (_, i) => fedifyShapedSet(pool, tableName, ["side", String(i)], i)),
    ]);
    assert.equal(await fedify.get(["counter"]), 20);
    assert.equal((await collect(kv.list(["side"]))).length, 20);
  });

  test("the table fedikv creates is the one Fedify creates", TIMEOUT, async () => {
    const byFedify = await pair();
    const byFedikv = await pair({ initialize: false });
    await byFedikv.kv.initialize();
    // Fedify's initialize() on fedikv's table: CREATE TABLE IF NOT EXISTS is
    // a no-op and the duplicate index name is the error it expects.
    await byFedikv.fedify.initialize();
    const ddl = async (tableName) =>
      (await pool.query(`SHOW CREATE TABLE \`${tableName}\``))[0][0]["Create Table"].replaceAll(tableName, "T");
    assert.equal(await ddl(byFedikv.tableName), await ddl(byFedify.tableName));
    await byFedikv.kv.set(["k"], "v");
    assert.equal(await byFedikv.fedify.get(["k"]), "v");
  });
});
