"use strict";
// fedikv/testing: the KvStore conformance kit.
//
// `testKvStore(open, options)` registers, with node:test, the tests of the
// KvStore contract that fedikv's own stores are held to, for any object that
// claims to be a Fedify KvStore: a fedikv store, one of Fedify's, or your
// own class. Every key a run writes is under a fresh prefix
// (["fedikv-test", <random id>, <test number>]) and is deleted after the
// test, so the kit can run against a store that holds other data.
// What a store cannot do is declared in `options` and reported as a skipped
// test with its reason, never hidden.

const assert = require("node:assert/strict");
const { randomUUID } = require("node:crypto");
const { describe, test } = require("node:test");
const { setTimeout: sleep } = require("node:timers/promises");

/** Key parts that are patterns, separators or escapes in some backend. */
const ODD_PARTS = [
  ":",
  "::",
  "a:",
  ":b",
  "_",
  "_:",
  "%",
  "*",
  "?",
  "[",
  "]",
  '"',
  "\\",
  "é",
  "日本語",
  "😀",
  "",
  " ",
  "\n",
  "\u2028",
  "a%b_c",
];

/** Every entry of an async iterable, in an array. */
async function collect(iterable) {
  const out = [];
  for await (const entry of iterable) out.push(entry);
  return out;
}

let temporal;
function Temporal() {
  if (temporal === undefined) {
    if (globalThis.Temporal !== undefined) {
      temporal = globalThis.Temporal;
    } else {
      try {
        temporal = require("@js-temporal/polyfill").Temporal;
      } catch {
        throw new Error(
          "fedikv/testing needs Temporal: run on a runtime that has it, or install @js-temporal/polyfill",
        );
      }
    }
  }
  return temporal;
}

const duration = (fields) => Temporal().Duration.from(fields);
const ms = (milliseconds) => duration({ milliseconds });
const keyText = (key) => JSON.stringify(key);
const sortedKeyTexts = (entries) => entries.map((e) => keyText(e.key)).sort();

async function close(store) {
  if (typeof store.close === "function") await store.close();
  else if (typeof store[Symbol.asyncDispose] === "function") await store[Symbol.asyncDispose]();
}

/**
 * Registers the conformance tests of the KvStore contract for the store
 * `open()` returns (called once per test; it may return the same store).
 *
 * @param {() => object | Promise<object>} open
 * @param {object} [options] see testing.d.ts
 */
function testKvStore(open, options = {}) {
  if (typeof open !== "function") {
    throw new TypeError("testKvStore(open, options): open must be a function returning a KvStore");
  }
  const o = {
    name: "KvStore",
    minTtlMs: 0,
    ttlGraceMs: 0,
    maxValueBytes: Infinity,
    maxKeyBytes: Infinity,
    nul: true,
    errorCodes: false,
    closeAfterEach: true,
    ...options,
  };
  const run = randomUUID();
  let counter = 0;

  describe(`KvStore conformance: ${o.name}`, () => {
    /**
     * One test: `fn(kv, k, ns)` gets the store, `k(...parts)` making keys
     * under the test's own prefix, and that prefix. `needs` returns a skip
     * reason when the store declared it cannot do what the test needs.
     */
    const it = (title, fn, needs = () => null) => {
      const number = String(++counter);
      test(title, async (t) => {
        const kv = await open();
        const reason = needs(kv);
        if (reason) {
          t.skip(reason);
          // Deno's node:test reports a test that skips itself as passed;
          // its output at least says that it did not run.
          if (typeof globalThis.Deno !== "undefined") console.log(`SKIPPED\t${title}\t${reason}`);
          if (o.closeAfterEach) await close(kv);
          return;
        }
        const ns = ["fedikv-test", run, number];
        const k = (...parts) => [...ns, ...parts];
        try {
          await fn(kv, k, ns);
        } finally {
          // Clean-up is best effort: the test may have closed the store.
          try {
            for (const { key } of await collect(kv.list(ns))) await kv.delete(key);
          } catch {}
          if (o.closeAfterEach) await close(kv).catch(() => {});
        }
      });
    };
    const ttlAtLeast = (milliseconds) => () =>
      o.minTtlMs > milliseconds ? `the store does not support TTLs below ${o.minTtlMs} ms` : null;
    const hasCas = (kv) => (typeof kv.cas === "function" ? null : "the store has no cas()");
    const hasClose = (kv) => (typeof kv.close === "function" ? null : "the store has no close()");

    /**
     * Waits until `afterMs` after `since` (a Date.now() taken when the entry
     * was set), when an entry with a shorter TTL must be gone. A store with
     * a grace (options.ttlGraceMs) may still show it then: `isGone()` is
     * asked every 100 ms until it says so or the grace is over, and the
     * test's own assertions judge after that. A store without a grace is
     * not asked before the test's assertions.
     */
    async function afterExpiry(since, afterMs, isGone) {
      await sleep(Math.max(0, since + afterMs - Date.now()));
      if (o.ttlGraceMs <= 0) return;
      const deadline = since + afterMs + o.ttlGraceMs;
      while (!(await isGone()) && Date.now() < deadline) {
        await sleep(Math.max(0, Math.min(100, deadline - Date.now())));
      }
    }

    /** A check that `key` has no value (any more). */
    const absent = (kv, key) => async () => (await kv.get(key)) === undefined;

    /** The message of an expiry assertion, naming the grace if there is one. */
    const expiredBy = (what, afterMs) =>
      `${what} ${afterMs} ms after it was set${o.ttlGraceMs > 0 ? ` (plus the grace of ${o.ttlGraceMs} ms)` : ""}`;

    async function rejectsWith(action, ErrorClass, code) {
      await assert.rejects(
        async () => await action(),
        (error) => {
          assert.ok(error instanceof ErrorClass, `expected a ${ErrorClass.name}, got ${error}`);
          if (o.errorCodes) assert.equal(error.code, code);
          return true;
        },
      );
    }

    it("get, set and delete round-trip", async (kv, k) => {
      assert.equal(await kv.get(k("missing")), undefined);
      await kv.set(k("a", "b"), { hello: "world" });
      assert.deepEqual(await kv.get(k("a", "b")), { hello: "world" });
      assert.equal(await kv.get(k("a")), undefined, "a prefix is not the key");
      assert.equal(await kv.get(k("a", "b", "c")), undefined, "a longer key is not the key");
      await kv.set(k("a", "b"), 2);
      assert.equal(await kv.get(k("a", "b")), 2);
      await kv.delete(k("a", "b"));
      assert.equal(await kv.get(k("a", "b")), undefined);
      await kv.delete(k("a", "b"));
    });

    it("odd key parts round-trip through set, get and list", async (kv, k) => {
      const parts = o.nul ? [...ODD_PARTS, "\u0000"] : ODD_PARTS;
      for (const [i, part] of parts.entries()) {
        await kv.set(k("odd", part), i);
        await kv.set(k("odd", part, "child"), -i);
      }
      for (const [i, part] of parts.entries()) {
        assert.equal(await kv.get(k("odd", part)), i, `part ${JSON.stringify(part)}`);
        assert.deepEqual(
          sortedKeyTexts(await collect(kv.list(k("odd", part)))),
          [keyText(k("odd", part)), keyText(k("odd", part, "child"))].sort(),
          `list under ${JSON.stringify(part)}`,
        );
      }
      const listed = new Map((await collect(kv.list(k("odd")))).map((e) => [keyText(e.key), e.value]));
      assert.equal(listed.size, parts.length * 2);
      for (const [i, part] of parts.entries()) assert.equal(listed.get(keyText(k("odd", part))), i);
    });

    it("list matches prefixes exactly and case-sensitively", async (kv, k, ns) => {
      const keys = [
        k("user"),
        k("user", "alice"),
        k("user", "alice", "keys"),
        k("user", "alicex"),
        k("User", "bob"),
        k("users", "carol"),
        k("use"),
        k("user%"),
        k("user_"),
      ];
      for (const [i, key] of keys.entries()) await kv.set(key, i);
      const under = async (prefix) => sortedKeyTexts(await collect(kv.list(prefix)));
      assert.deepEqual(await under(k("user")), keys.slice(0, 4).map(keyText).sort());
      assert.deepEqual(await under(k("user", "alice")), keys.slice(1, 3).map(keyText).sort());
      assert.deepEqual(await under(k("User")), [keyText(k("User", "bob"))]);
      assert.deepEqual(await under(k("USER")), []);
      assert.deepEqual(await under(k("user", "al")), []);
      assert.deepEqual(await under(ns), keys.map(keyText).sort());
      // Without a prefix: every entry of the store, ours each exactly once.
      const all = (await collect(kv.list())).map((e) => keyText(e.key));
      assert.equal(new Set(all).size, all.length, "no entry twice");
      for (const key of keys) assert.ok(all.includes(keyText(key)), `list() has ${keyText(key)}`);
    });

    it("list streams many entries, each exactly once, with values", async (kv, k) => {
      const n = 1500;
      await Promise.all(Array.from({ length: n }, (_, i) => kv.set(k("many", String(i).padStart(5, "0")), { i })));
      await kv.set(k("manz"), 0);
      const seen = new Set();
      let count = 0;
      for await (const { key, value } of kv.list(k("many"))) {
        assert.equal(value.i, Number(key.at(-1)));
        seen.add(key.at(-1));
        count++;
      }
      assert.equal(count, n);
      assert.equal(seen.size, n);
    });

    it(
      "list skips expired entries",
      async (kv, k) => {
        await kv.set(k("gone"), 1, { ttl: ms(100) });
        const since = Date.now();
        await kv.set(k("kept"), 2, { ttl: duration({ hours: 1 }) });
        await kv.set(k("forever"), 3);
        await afterExpiry(
          since,
          250,
          async () => !sortedKeyTexts(await collect(kv.list(k()))).includes(keyText(k("gone"))),
        );
        assert.deepEqual(
          sortedKeyTexts(await collect(kv.list(k()))),
          [keyText(k("forever")), keyText(k("kept"))],
          expiredBy("an entry with a TTL of 100 ms is still listed", 250),
        );
      },
      ttlAtLeast(100),
    );

    it(
      "a TTL of 200 ms expires",
      async (kv, k) => {
        await kv.set(k("ttl"), "short", { ttl: ms(200) });
        const since = Date.now();
        assert.equal(await kv.get(k("ttl")), "short");
        await afterExpiry(since, 350, absent(kv, k("ttl")));
        assert.equal(await kv.get(k("ttl")), undefined, expiredBy("still there", 350));
      },
      ttlAtLeast(200),
    );

    it(
      "a TTL of 1.5 s (a fraction of a second) expires on time",
      async (kv, k) => {
        await kv.set(k("ttl"), "long", { ttl: duration({ seconds: 1, milliseconds: 500 }) });
        const since = Date.now();
        await sleep(1100);
        assert.equal(await kv.get(k("ttl")), "long", "still there after 1.1 s");
        await afterExpiry(since, 1800, absent(kv, k("ttl")));
        assert.equal(await kv.get(k("ttl")), undefined, expiredBy("still there", 1800));
      },
      ttlAtLeast(1500),
    );

    it(
      "set replaces the TTL; a TTL in months lives",
      async (kv, k) => {
        await kv.set(k("t"), 1, { ttl: ms(100) });
        await kv.set(k("t"), 2);
        await kv.set(k("m"), 3, { ttl: duration({ months: 1, days: 2 }) });
        // A witness with the replaced TTL: once it has expired, so has that TTL
        // (on a store with a grace, once it is gone, so would be an entry that
        // kept that TTL).
        await kv.set(k("witness"), 0, { ttl: ms(100) });
        await afterExpiry(Date.now(), 250, absent(kv, k("witness")));
        assert.equal(await kv.get(k("witness")), undefined, expiredBy("the witness is still there", 250));
        assert.equal(await kv.get(k("t")), 2);
        assert.equal(await kv.get(k("m")), 3);
      },
      ttlAtLeast(100),
    );

    it("a negative or non-duration TTL is a RangeError and writes nothing", async (kv, k) => {
      for (const ttl of [duration({ seconds: -1 }), { seconds: Infinity }]) {
        await rejectsWith(() => kv.set(k("bad-ttl"), 1, { ttl }), RangeError, "ERR_FEDIKV_INVALID_TTL");
      }
      assert.equal(await kv.get(k("bad-ttl")), undefined);
    });

    it("values: nested, arrays, null, edge numbers, unicode", async (kv, k) => {
      const values = [
        { a: { b: { c: [1, { d: [null, true, false] }] } } },
        [1, "two", [3, [4]], { five: 5 }],
        null,
        1e308,
        -0.5,
        Number.MAX_SAFE_INTEGER,
        'é😀\u2028\n"\\',
        "",
        0,
        false,
        [],
        {},
      ];
      if (o.nul) values.push("with\u0000NUL");
      for (const [i, value] of values.entries()) {
        await kv.set(k(String(i)), value);
        assert.deepEqual(await kv.get(k(String(i))), value, `value ${i}`);
      }
      assert.equal((await collect(kv.list(k()))).length, values.length);
    });

    // The two tests below check a limit the store declared, so they exist
    // only when it declared one.
    if (!o.nul) {
      it("a NUL character the store cannot hold is rejected and nothing is written", async (kv, k) => {
        await rejectsWith(() => kv.set(k("nul"), "a\u0000b"), TypeError, "ERR_FEDIKV_INVALID_VALUE");
        await rejectsWith(() => kv.set(k("nul\u0000"), 1), TypeError, "ERR_FEDIKV_INVALID_KEY");
        assert.deepEqual(await collect(kv.list(k())), []);
      });
    }

    it("values are JSON copies", async (kv, k) => {
      const value = { list: [1], when: new Date(0), skip: undefined, nan: NaN };
      await kv.set(k("copy"), value);
      value.list.push(2);
      const got = await kv.get(k("copy"));
      assert.deepEqual(got, { list: [1], when: "1970-01-01T00:00:00.000Z", nan: null });
      got.list.push(3);
      assert.deepEqual((await kv.get(k("copy"))).list, [1]);
    });

    it(
      "a 1 MB value round-trips",
      async (kv, k) => {
        const big = { data: "x".repeat(1024 * 1024), n: 1 };
        await kv.set(k("big"), big);
        assert.deepEqual(await kv.get(k("big")), big);
      },
      () =>
        o.maxValueBytes < 1024 * 1024 + 100
          ? `the store holds values of at most ${o.maxValueBytes} bytes (options.maxValueBytes)`
          : null,
    );

    /** With errorCodes: the error is a TypeError with `code`, naming the limit. */
    const overLimit = (code, limit) => (error) => {
      assert.ok(error instanceof Error, `expected an error, got ${error}`);
      if (o.errorCodes) {
        assert.ok(error instanceof TypeError, `expected a TypeError, got ${error}`);
        assert.equal(error.code, code);
        assert.match(error.message, new RegExp(`\\b${limit}\\b`), "the message names the limit");
      }
      return true;
    };

    // The limits a store declared: at the limit it holds, over it it
    // refuses, and nothing is written.
    if (Number.isFinite(o.maxValueBytes)) {
      it("a value over the store's size limit is rejected and nothing is written", async (kv, k) => {
        const near = "x".repeat(o.maxValueBytes - 64);
        await kv.set(k("near"), near);
        assert.equal(await kv.get(k("near")), near, "a value 64 bytes under the limit round-trips");
        await kv.set(k("too-big"), "old");
        const tooBig = "x".repeat(o.maxValueBytes + 1);
        await assert.rejects(
          () => kv.set(k("too-big"), tooBig),
          overLimit("ERR_FEDIKV_INVALID_VALUE", o.maxValueBytes),
        );
        await assert.rejects(
          () => kv.set(k("new"), { data: tooBig }),
          overLimit("ERR_FEDIKV_INVALID_VALUE", o.maxValueBytes),
        );
        if (typeof kv.cas === "function") {
          await assert.rejects(
            () => kv.cas(k("too-big"), "old", tooBig),
            overLimit("ERR_FEDIKV_INVALID_VALUE", o.maxValueBytes),
          );
        }
        assert.equal(await kv.get(k("too-big")), "old");
        assert.equal(await kv.get(k("new")), undefined);
      });
    }

    if (Number.isFinite(o.maxKeyBytes)) {
      it("a key over the store's size limit is rejected and nothing is written", async (kv, k) => {
        // The test's own prefix takes under 100 bytes in any encoding.
        const near = k("x".repeat(o.maxKeyBytes - 200));
        await kv.set(near, 1);
        assert.equal(await kv.get(near), 1, "a key 200 bytes under the limit round-trips");
        assert.deepEqual(
          (await collect(kv.list(k()))).map((e) => keyText(e.key)),
          [keyText(near)],
        );
        await kv.delete(near);
        const keys = [
          k("x".repeat(o.maxKeyBytes + 1)),
          k(...Array.from({ length: 8 }, () => "y".repeat(Math.ceil(o.maxKeyBytes / 8)))),
        ];
        for (const key of keys) {
          await assert.rejects(() => kv.set(key, 1), overLimit("ERR_FEDIKV_INVALID_KEY", o.maxKeyBytes));
          if (typeof kv.cas === "function") {
            await assert.rejects(() => kv.cas(key, undefined, 1), overLimit("ERR_FEDIKV_INVALID_KEY", o.maxKeyBytes));
          }
        }
        assert.deepEqual(await collect(kv.list(k())), [], "nothing written");
      });
    }

    it("set(key, undefined) deletes the key", async (kv, k) => {
      await kv.set(k("u"), 1);
      await kv.set(k("u"), undefined);
      assert.equal(await kv.get(k("u")), undefined);
      assert.deepEqual(await collect(kv.list(k())), [], "list() does not show it either");
    });

    it("bad keys are a TypeError and write nothing", async (kv, _k, ns) => {
      const badKeys = [[], [1], "a", [...ns, 2], [null], ["\ud800"], [...ns, "x\udc00y"], undefined, null, {}, [["a"]]];
      for (const key of badKeys) {
        await rejectsWith(() => kv.set(key, 1), TypeError, "ERR_FEDIKV_INVALID_KEY");
        await rejectsWith(() => kv.get(key), TypeError, "ERR_FEDIKV_INVALID_KEY");
        await rejectsWith(() => kv.delete(key), TypeError, "ERR_FEDIKV_INVALID_KEY");
      }
      assert.deepEqual(await collect(kv.list(ns)), []);
      for (const key of [[], [1], "1", ["\ud800"]]) {
        const all = (await collect(kv.list())).map((e) => keyText(e.key));
        assert.ok(!all.includes(keyText(key)), `nothing stored under ${keyText(key)}`);
      }
    });

    it("bad values are a TypeError and write nothing", async (kv, k) => {
      const cycle = { a: 1 };
      cycle.self = cycle;
      await kv.set(k("keep"), "old");
      for (const value of [10n, { n: 1n }, cycle, () => 1, Symbol("s")]) {
        await rejectsWith(() => kv.set(k("keep"), value), TypeError, "ERR_FEDIKV_INVALID_VALUE");
        await rejectsWith(() => kv.set(k("new"), value), TypeError, "ERR_FEDIKV_INVALID_VALUE");
      }
      assert.equal(await kv.get(k("keep")), "old");
      assert.equal(await kv.get(k("new")), undefined);
    });

    it(
      "cas: absent, mismatched, matching, expired, deleting",
      async (kv, k) => {
        const c = k("c");
        assert.equal(await kv.cas(c, "x", 1), false, "absent does not match a value");
        assert.equal(await kv.get(c), undefined);
        assert.equal(await kv.cas(c, undefined, { a: 1, b: [1, 2] }), true, "absent matches undefined");
        assert.equal(await kv.cas(c, undefined, 2), false, "present does not match undefined");
        assert.equal(await kv.cas(c, { a: 1, b: [2, 1] }, 2), false, "mismatch");
        assert.equal(await kv.cas(c, { b: [1, 2], a: 1 }, 2), true, "member order does not matter");
        assert.equal(await kv.get(c), 2);
        assert.equal(await kv.cas(c, 2, undefined), true, "new undefined deletes");
        assert.equal(await kv.get(c), undefined);
        if (o.minTtlMs <= 150) {
          await kv.set(c, "soon", { ttl: ms(100) });
          await afterExpiry(Date.now(), 250, absent(kv, c));
          assert.equal(await kv.cas(c, "soon", "late"), false, "an expired value does not match");
          assert.equal(await kv.cas(c, undefined, "fresh", { ttl: ms(150) }), true, "expired counts as absent");
          const since = Date.now();
          assert.equal(await kv.get(c), "fresh");
          await afterExpiry(since, 300, absent(kv, c));
          assert.equal(await kv.get(c), undefined, expiredBy("cas sets the TTL: still there", 300));
        }
      },
      hasCas,
    );

    it(
      "cas: 20 concurrent increment loops of 25 end at exactly 500",
      async (kv, k) => {
        const key = k("counter");
        const loop = async () => {
          for (let i = 0; i < 25; i++) {
            for (;;) {
              const current = await kv.get(key);
              if (await kv.cas(key, current, (current ?? 0) + 1)) break;
            }
          }
        };
        await Promise.all(Array.from({ length: 20 }, loop));
        assert.equal(await kv.get(key), 500);
      },
      hasCas,
    );

    it(
      "cas: of 50 concurrent claims on an absent key exactly one wins",
      async (kv, k) => {
        const results = await Promise.all(Array.from({ length: 50 }, (_, i) => kv.cas(k("claim"), undefined, i)));
        assert.equal(results.filter(Boolean).length, 1);
        assert.equal(await kv.get(k("claim")), results.indexOf(true));
      },
      hasCas,
    );

    it(
      "every call after close() is rejected; close() is idempotent",
      async (kv, k) => {
        await kv.set(k("before"), 1);
        await kv.delete(k("before"));
        await kv.close();
        await kv.close();
        const closed = (error) => {
          assert.ok(error instanceof Error);
          if (o.errorCodes) assert.equal(error.code, "ERR_FEDIKV_CLOSED");
          return true;
        };
        await assert.rejects(kv.get(k("before")), closed);
        await assert.rejects(kv.set(k("after"), 1), closed);
        await assert.rejects(kv.delete(k("before")), closed);
        if (typeof kv.cas === "function") await assert.rejects(kv.cas(k("before"), 1, 2), closed);
        await assert.rejects(collect(kv.list(k())), closed);
      },
      (kv) => hasClose(kv) ?? (o.closeAfterEach ? null : "the stores are shared (options.closeAfterEach is false)"),
    );

    it(
      "Symbol.asyncDispose closes the store",
      async (kv, k) => {
        await kv[Symbol.asyncDispose]();
        await assert.rejects(kv.get(k("a")));
      },
      (kv) =>
        typeof kv[Symbol.asyncDispose] === "function"
          ? o.closeAfterEach
            ? null
            : "the stores are shared (options.closeAfterEach is false)"
          : "the store has no [Symbol.asyncDispose]()",
    );
  });
}

module.exports = { testKvStore, collect, ODD_PARTS };
