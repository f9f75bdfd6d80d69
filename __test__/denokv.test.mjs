// DenoKvStore beside Deno's own KV: on Deno, Deno.openKv() itself; on Node
// and Bun, Deno's client for them, the npm package @deno/kv 0.14.0 (on a
// file it runs Deno's denokv_sqlite through its napi addon; through KV
// Connect, its own TypeScript client on fetch), in a process of its own as a
// Deno app would be (support/deno-app.mjs says why it must be), both ways: what one writes,
// the other reads, TTLs included, on a local Deno KV file and on a denokv
// 0.14 server started for this run. Values a Deno app may store that JSON
// cannot express are refused with a code, never a crash. Also: the
// constructor's checks, the access token, and an unreachable server.
//
// Run: node --test __test__/denokv.test.mjs

import assert from "node:assert/strict";
import { randomUUID } from "node:crypto";
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { pathToFileURL } from "node:url";
import { setTimeout as sleep } from "node:timers/promises";
import { after, describe, test } from "node:test";
import { Temporal } from "@js-temporal/polyfill";
import { DenoKvStore } from "fedikv";
import { DENO_APP, rawExpiries, startDenoApp } from "./support/deno-app.mjs";
import { denokvBinary, startDenokvServer } from "./support/denokv-server.mjs";

const dir = mkdtempSync(join(tmpdir(), "fedikv-denokv-"));
after(() => rmSync(dir, { recursive: true, force: true }));

const GRACE_MS = DenoKvStore.kvConnectExpiryGraceMs;
const TIMEOUT = { timeout: 30_000 };
// A test that may wait out the whole KV Connect expiry grace.
const GRACE_TIMEOUT = { timeout: GRACE_MS + 30_000 };

const denokv = denokvBinary();
// A clock of expiring entries keeps the server's collector waking about
// every second (see support/denokv-server.mjs); the tests still allow the
// whole grace.
const server = denokv.skip ? null : await startDenokvServer({ clock: { everyMs: 250, forMs: 10 * 60_000 } });
after(() => server?.stop());

const ms = (milliseconds) => Temporal.Duration.from({ milliseconds });

async function collect(iterable) {
  const result = [];
  for await (const entry of iterable) result.push(entry);
  return result;
}

/**
 * Polls `isDone()` every 50 ms; resolves to how many times it said no, or
 * fails once `limitMs` have passed.
 */
async function waitFor(isDone, limitMs, what) {
  const started = Date.now();
  let no = 0;
  while (!(await isDone())) {
    if (Date.now() - started > limitMs) assert.fail(`${what}: not within ${limitMs} ms`);
    no++;
    await sleep(50);
  }
  return no;
}

/** Key parts that are special somewhere, NUL and non-BMP characters included. */
const ODD_PARTS = [
  "plain",
  "",
  ":",
  "a:b",
  "%",
  "_",
  "*",
  "[",
  "\\",
  '"',
  "\n",
  "\u0000",
  "a\u0000b",
  "\u2028",
  "é",
  "日本",
  "🦊",
];

/** JSON values of every kind. */
const VALUES = [
  null,
  true,
  false,
  0,
  -1,
  1.5,
  2 ** 31,
  -(2 ** 31) - 1,
  1e21,
  5e-324,
  Number.MAX_SAFE_INTEGER,
  "",
  "text",
  "é",
  "ÿ",
  "Ā",
  "🦊",
  'a\u0000b\u2028"\\',
  "x".repeat(5000),
  "é".repeat(3000),
  "🦊".repeat(1000),
  [],
  {},
  [1, "two", [3, [null]], { four: 4 }],
  { z: 1, a: { b: [null, "x"] }, "": 0, 1: "index-like" },
  { nested: { deeper: { deepest: [true, false, null] } } },
];

/** Values Deno stores that JSON reads otherwise: [value, what JSON.parse(JSON.stringify(value)) is]. */
const JSON_READS_OTHERWISE = [
  [{ a: undefined, b: 1 }, { b: 1 }],
  [
    [undefined, 1],
    [null, 1],
  ],
  [
    // biome-ignore lint/suspicious/noSparseArray: a hole is what this case is about
    [1, , 3],
    [1, null, 3],
  ],
  [
    [NaN, Infinity, -Infinity, -0],
    [null, null, null, 0],
  ],
  [-0, 0],
];

/**
 * Where the two clients meet: a new Deno KV file per test, or the test
 * server (each test under a key prefix of its own). `deno()` starts the
 * Deno app there; `grace` is how late the store may expire entries.
 */
const TARGETS = {
  "a Deno KV file": {
    open() {
      const path = join(dir, `kv-${randomUUID()}.sqlite3`);
      return { path, grace: 0, fedikv: new DenoKvStore(path), deno: () => startDenoApp(path) };
    },
  },
  "KV Connect (denokv 0.14)": {
    skip: denokv.skip,
    open() {
      const { url, accessToken } = server;
      return {
        grace: GRACE_MS,
        fedikv: new DenoKvStore(url, { accessToken }),
        deno: () => startDenoApp(url, { accessToken }),
      };
    },
  },
};

for (const [name, { skip, open }] of Object.entries(TARGETS)) {
  describe(`DenoKvStore <-> ${DENO_APP} on ${name}`, { skip }, () => {
    let target, deno, kv, ns;

    /** A key under this test's own prefix. */
    const k = (...parts) => [...ns, ...parts];

    const setUp = async () => {
      target = open();
      kv = target.fedikv;
      deno = await target.deno();
      ns = ["interop", randomUUID()];
    };
    const tearDown = async () => {
      for (const { key } of await deno.list(ns)) await deno.delete(key);
      await deno.close();
      await kv.close();
    };

    const it = (title, options, fn) =>
      test(title, options, async (t) => {
        await setUp();
        try {
          await fn(t);
        } finally {
          await tearDown();
        }
      });

    it("what @deno/kv writes, DenoKvStore reads: get and list, in Deno's key order", TIMEOUT, async () => {
      const written = [];
      for (const [i, part] of ODD_PARTS.entries()) {
        const key = k("odd", part);
        await deno.set(key, VALUES[i % VALUES.length]);
        written.push({ key, value: VALUES[i % VALUES.length] });
      }
      for (const [i, value] of VALUES.entries()) {
        await deno.set(k("value", String(i).padStart(2, "0")), value);
        written.push({ key: k("value", String(i).padStart(2, "0")), value });
      }
      for (const { key, value } of written) assert.deepEqual(await kv.get(key), value, JSON.stringify(key));
      // The same entries, in the same order, from both.
      const fromDeno = await deno.list(ns);
      // Deno's own prefix listing leaves the prefix key out; fedikv's takes it in.
      await deno.set(ns, "the prefix itself");
      const fromFedikv = await collect(kv.list(ns));
      assert.deepEqual(fromFedikv, [{ key: ns, value: "the prefix itself" }, ...fromDeno]);
      assert.equal(fromDeno.length, written.length);
      for (const [value, asJson] of JSON_READS_OTHERWISE) {
        await deno.set(k("otherwise"), value);
        assert.deepEqual(await kv.get(k("otherwise")), asJson, `${String(value)} as JSON`);
      }
    });

    it("what DenoKvStore writes, @deno/kv reads, as the same values and keys", TIMEOUT, async () => {
      const written = [];
      for (const [i, part] of ODD_PARTS.entries()) {
        written.push({ key: k("odd", part), value: VALUES[i % VALUES.length] });
      }
      for (const [i, value] of VALUES.entries()) {
        written.push({ key: k("value", String(i).padStart(2, "0")), value });
      }
      for (const { key, value } of written) await kv.set(key, value);
      for (const { key, value } of written) {
        const entry = await deno.get(key);
        assert.deepEqual(entry.value, value, JSON.stringify(key));
        assert.match(entry.versionstamp, /^[0-9a-f]{20}$/);
      }
      assert.deepEqual(await deno.list(ns), await collect(kv.list(ns)));
      await kv.delete(k("odd", ":"));
      assert.equal((await deno.get(k("odd", ":"))).value, null);
    });

    it("both at once: cas and Deno's versionstamp checks see each other's writes", TIMEOUT, async (t) => {
      const key = k("counter");
      await deno.set(key, { n: 0, by: "deno" });
      assert.equal(await kv.cas(key, { by: "deno", n: 0 }, { n: 1, by: "fedikv" }), true);
      assert.equal(await kv.cas(key, { n: 0, by: "deno" }, { n: 9 }), false);
      const entry = await deno.get(key);
      assert.deepEqual(entry.value, { n: 1, by: "fedikv" });
      await kv.set(key, { n: 2 });
      // Deno's check on the versionstamp it read fails: fedikv wrote since.
      assert.equal(await deno.checkAndSet(key, entry.versionstamp, { n: 99 }), false);
      assert.equal(await deno.checkAndSet(key, (await deno.get(key)).versionstamp, { n: 3 }), true);
      assert.deepEqual(await kv.get(key), { n: 3 });
      // Racing increments from both clients end at the exact total.
      await kv.set(key, 0);
      const viaFedikv = async () => {
        for (let i = 0; i < 25; i++) {
          for (;;) {
            const current = await kv.get(key);
            if (await kv.cas(key, current, current + 1)) break;
          }
        }
      };
      const [, , denoLocked] = await Promise.all([viaFedikv(), viaFedikv(), deno.increment(key, 2, 25)]);
      if (denoLocked > 0) {
        t.diagnostic(`@deno/kv's commit failed with "database is locked" ${denoLocked} times (retried)`);
      }
      assert.equal(await kv.get(key), 100);
      assert.equal((await deno.get(key)).value, 100);
    });

    it("TTLs: @deno/kv's expireIn is the entry's TTL for DenoKvStore", GRACE_TIMEOUT, async () => {
      await deno.set(k("short"), "short", { expireIn: 800 });
      const since = Date.now();
      await deno.set(k("long"), "long", { expireIn: 3_600_000 });
      assert.equal(await kv.get(k("short")), "short");
      assert.deepEqual(
        (await collect(kv.list(ns))).map((e) => e.value),
        ["long", "short"],
      );
      await sleep(since + 900 - Date.now());
      const stillThere = await waitFor(
        async () => (await kv.get(k("short"))) === undefined,
        target.grace,
        `an entry Deno wrote with expireIn 800 is gone for DenoKvStore (grace ${target.grace} ms)`,
      );
      if (target.grace === 0) assert.equal(stillThere, 0, "on a file, expiry is exact: gone at the first look");
      assert.deepEqual(await collect(kv.list(ns)), [{ key: k("long"), value: "long" }]);
      assert.equal(await kv.cas(k("short"), undefined, "again"), true, "an expired entry is absent for cas");
    });

    it("TTLs: DenoKvStore's ttl is Deno KV's expiry, which Deno enforces", GRACE_TIMEOUT, async () => {
      // A fresh @deno/kv: its expiry collector learns of the entry when it starts.
      await deno.close();
      await kv.set(k("short"), "short", { ttl: ms(1000) });
      const since = Date.now();
      await kv.set(k("forever"), "forever");
      deno = await target.deno();
      assert.equal((await deno.get(k("short"))).value, "short");
      if (target.path) {
        // The row's expiry, as Deno keeps it (epoch ms; -1 for none).
        const rows = await rawExpiries(target.path);
        assert.equal(rows.length, 1);
        assert.ok(
          Math.abs(rows[0].expiration_ms - (since + 1000)) < 250,
          `expiration_ms ${rows[0].expiration_ms - since} ms after the set`,
        );
        assert.equal(rows[0].v_encoding, 1, "V8-serialized, as Deno stores JavaScript values");
      }
      // Deno's reads do not filter expired entries: they go when its
      // collector (up to a second late on a file; the documented grace on a
      // server) deletes them.
      await sleep(since + 1000 - Date.now());
      await waitFor(
        async () => (await deno.get(k("short"))).value === null,
        GRACE_MS,
        "Deno deletes the entry once its TTL is over",
      );
      assert.equal((await deno.get(k("forever"))).value, "forever");
    });

    it(
      "values JSON cannot express are errors with a code, not crashes; list and cas behave as documented",
      TIMEOUT,
      async () => {
        const notJson = [
          ["map", new Map([[1, 2]]), /a Map/],
          ["set", new Set([1]), /a Set/],
          ["date", new Date(0), /a Date/],
          ["bigint", 10n, /a BigInt/],
          ["nested", { when: new Date(0), ok: 1 }, /a Date/],
          ["regexp", /x/g, /a RegExp/],
          ["undefined", undefined, /undefined/],
          ["bytes", new Uint8Array([1, 2]), /a Uint8Array/],
          ["u64", 7n, /a Deno\.KvU64/],
        ];
        for (const [part, value] of notJson) {
          if (part === "u64") await deno.setU64(k("odd", part), value);
          else await deno.set(k("odd", part), value);
        }
        await deno.set(k("ok", "json"), { fine: true });
        // Keys with parts other than strings are no KvKeys: not listed, no error.
        await deno.set([...k("ok"), 1], "a number part");
        await deno.set([...k("ok"), true, "x"], "a boolean part");

        for (const [part, , named] of notJson) {
          await assert.rejects(kv.get(k("odd", part)), (error) => {
            assert.ok(!(error instanceof TypeError), `${part}: an Error, not a TypeError`);
            assert.equal(error.code, "ERR_FEDIKV_INVALID_DATA", part);
            assert.match(error.message, named);
            assert.ok(error.message.includes(JSON.stringify(k("odd", part))), `${part}: the message names the key`);
            assert.match(error.message, /Deno KV/);
            return true;
          });
          // cas: no JSON value equals it; it is left alone.
          assert.equal(await kv.cas(k("odd", part), undefined, 1), false, `${part}: present`);
          assert.equal(await kv.cas(k("odd", part), {}, 1), false, `${part}: no JSON equals it`);
        }
        assert.deepEqual((await deno.get(k("odd", "map"))).value, new Map([[1, 2]]), "cas left it alone");
        // A listing that reaches such a value rejects with the same code; one
        // that does not, works.
        await assert.rejects(collect(kv.list(k("odd"))), { code: "ERR_FEDIKV_INVALID_DATA" });
        await assert.rejects(collect(kv.list(ns)), { code: "ERR_FEDIKV_INVALID_DATA" });
        assert.deepEqual(await collect(kv.list(k("ok"))), [{ key: k("ok", "json"), value: { fine: true } }]);
        // set and delete replace or remove it.
        await kv.set(k("odd", "map"), { now: "json" });
        assert.deepEqual((await deno.get(k("odd", "map"))).value, { now: "json" });
        for (const [part] of notJson) await kv.delete(k("odd", part));
        assert.deepEqual(await collect(kv.list(k("odd"))), []);
        assert.equal((await deno.get([...k("ok"), 1])).value, "a number part", "entries of other keys stay");
      },
    );

    it("Deno KV's limits: 64 KiB a value and 2 KiB a key, the same as Deno's", TIMEOUT, async () => {
      // The largest string value Deno takes (V8: 2 header bytes, a tag, a
      // 3-byte length) is the largest DenoKvStore takes, and one more is
      // refused by both.
      const largest = "x".repeat(65536 - 6);
      await deno.set(k("largest"), largest);
      assert.equal(await kv.get(k("largest")), largest);
      await assert.rejects(deno.set(k("over"), `${largest}x`));
      await assert.rejects(kv.set(k("over"), `${largest}x`), { code: "ERR_FEDIKV_INVALID_VALUE", name: "TypeError" });
      // Keys: 2,048 bytes encoded (a string part costs its bytes plus two).
      const room = 2048 - keyBytes(ns) - 2;
      const longest = k("y".repeat(room));
      await deno.set(longest, 1);
      assert.equal(await kv.get(longest), 1);
      await kv.set(longest, 2);
      assert.equal((await deno.get(longest)).value, 2);
      await assert.rejects(deno.set(k("y".repeat(room + 1)), 1));
      await assert.rejects(kv.set(k("y".repeat(room + 1)), 1), { code: "ERR_FEDIKV_INVALID_KEY", name: "TypeError" });
      assert.equal((await deno.get(k("over"))).value, null);
    });
  });
}

/** The encoded length of a key of string parts (tuple encoding: 0x02, the UTF-8 bytes with NUL escaped, 0x00). */
function keyBytes(parts) {
  return parts.reduce((n, part) => n + 2 + Buffer.byteLength(part) + [...part].filter((c) => c === "\0").length, 0);
}

describe("DenoKvStore: arguments and connections", () => {
  const invalidOption = (pattern) => (error) => {
    assert.ok(error instanceof TypeError, `a TypeError, not ${error}`);
    assert.equal(error.code, "ERR_FEDIKV_INVALID_OPTION");
    if (pattern) assert.match(error.message, pattern);
    return true;
  };

  test("bad targets and options are TypeErrors", () => {
    for (const target of [
      undefined,
      null,
      1,
      {},
      [],
      "",
      "a\0b",
      ":memory:",
      "ftp://host/x",
      "redis://127.0.0.1",
      new URL("ftp://host/x"),
    ]) {
      assert.throws(() => new DenoKvStore(target), invalidOption(), String(target));
    }
    const path = join(dir, "options.sqlite3");
    for (const options of [
      "x",
      1,
      { accessToken: 1 },
      { connectTimeout: 0 },
      { connectTimeout: -5 },
      { connectTimeout: "5" },
      { connectTimeout: NaN },
    ]) {
      assert.throws(() => new DenoKvStore(path, options), invalidOption(), JSON.stringify(options));
    }
    assert.throws(() => new DenoKvStore("http://"), invalidOption());
  });

  test("a KV Connect URL without a token: a clear TypeError naming both ways to give one", () => {
    const saved = process.env.DENO_KV_ACCESS_TOKEN;
    delete process.env.DENO_KV_ACCESS_TOKEN;
    try {
      for (const url of [
        "http://127.0.0.1:1",
        "https://api.deno.com/databases/x/connect",
        new URL("http://localhost:4512"),
      ]) {
        assert.throws(() => new DenoKvStore(url), invalidOption(/access token.*accessToken.*DENO_KV_ACCESS_TOKEN/));
        assert.throws(() => new DenoKvStore(url, { accessToken: "" }), invalidOption(/DENO_KV_ACCESS_TOKEN/));
      }
    } finally {
      if (saved !== undefined) process.env.DENO_KV_ACCESS_TOKEN = saved;
    }
  });

  test("a file: URL and a path open the same file", TIMEOUT, async () => {
    const path = join(dir, "by-url.sqlite3");
    const a = new DenoKvStore(pathToFileURL(path));
    await a.set(["k"], "v");
    await a.close();
    const b = new DenoKvStore(path);
    assert.equal(await b.get(["k"]), "v");
    await b.drop();
    assert.equal(await b.get(["k"]), undefined);
    await b.close();
  });

  test("a missing directory rejects the first operation with ERR_FEDIKV_CONNECTION", TIMEOUT, async () => {
    const kv = new DenoKvStore(join(dir, "missing", "dir", "kv.sqlite3"));
    await assert.rejects(kv.get(["k"]), { code: "ERR_FEDIKV_CONNECTION" });
    await kv.close();
  });

  test("an unreachable KV Connect server rejects within the connect timeout", TIMEOUT, async () => {
    // A port nothing listens on (the server's own port after it was probed
    // free would race; port 1 is never a KV Connect server here).
    const kv = new DenoKvStore("http://127.0.0.1:1", { accessToken: "x".repeat(16), connectTimeout: 500 });
    const started = Date.now();
    await assert.rejects(kv.get(["k"]), (error) => {
      assert.equal(error.code, "ERR_FEDIKV_CONNECTION");
      assert.ok(!error.message.includes("x".repeat(16)), "the token is not in the message");
      return true;
    });
    assert.ok(Date.now() - started < 3000, `rejected after ${Date.now() - started} ms`);
    await kv.close();
  });

  test("the token: from the option, else DENO_KV_ACCESS_TOKEN; a wrong one is ERR_FEDIKV_CONNECTION", {
    ...TIMEOUT,
    skip: denokv.skip,
  }, async () => {
    const saved = process.env.DENO_KV_ACCESS_TOKEN;
    try {
      process.env.DENO_KV_ACCESS_TOKEN = server.accessToken;
      const fromEnv = new DenoKvStore(server.url);
      await fromEnv.set(["token-test"], "env");
      assert.equal(await fromEnv.get(["token-test"]), "env");
      await fromEnv.delete(["token-test"]);
      await fromEnv.close();

      const wrong = new DenoKvStore(server.url, { accessToken: "not-the-token-at-all" });
      await assert.rejects(wrong.get(["token-test"]), (error) => {
        assert.equal(error.code, "ERR_FEDIKV_CONNECTION");
        assert.ok(!error.message.includes("not-the-token-at-all"), "the token is not in the message");
        assert.ok(!error.message.includes(server.accessToken));
        return true;
      });
      await wrong.close();

      // The option wins over the variable.
      process.env.DENO_KV_ACCESS_TOKEN = "not-the-token-at-all";
      const fromOption = new DenoKvStore(server.url, { accessToken: server.accessToken });
      assert.equal(await fromOption.get(["token-test"]), undefined);
      await fromOption.close();
    } finally {
      if (saved === undefined) delete process.env.DENO_KV_ACCESS_TOKEN;
      else process.env.DENO_KV_ACCESS_TOKEN = saved;
    }
  });
});
