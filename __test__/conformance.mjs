// The conformance suite: the contract of ../shared DESIGN.md ("The contract")
// as tests, run against every store. `conformance(name, open)` registers the
// tests with node:test; `open()` returns a fresh, empty store each time, and
// each test closes the one it opened.

import assert from "node:assert/strict";
import { describe, test } from "node:test";
import { setTimeout as sleep } from "node:timers/promises";
import { Temporal } from "@js-temporal/polyfill";

const ms = (milliseconds) => Temporal.Duration.from({ milliseconds });

export async function collect(iterable) {
  const out = [];
  for await (const entry of iterable) out.push(entry);
  return out;
}

const keyText = (key) => JSON.stringify(key);
const sortedKeys = (entries) => entries.map((e) => keyText(e.key)).sort();

/** Key parts that are patterns, separators or escapes somewhere. */
export const ODD_PARTS = [
  ":", "::", "a:", ":b", "_", "_:", "%", "*", "?", "[", "]", "\"", "\\",
  "é", "日本語", "😀", "", " ", "\n", "\u0000", "\u2028", "a%b_c",
];

async function expectTypeError(promiseOrFn, code) {
  await assert.rejects(
    async () => await (typeof promiseOrFn === "function" ? promiseOrFn() : promiseOrFn),
    (error) => {
      assert.ok(error instanceof TypeError, `expected a TypeError, got ${error}`);
      assert.equal(error.code, code);
      return true;
    },
  );
}

export function conformance(name, open) {
  describe(`conformance: ${name}`, () => {
    const it = (title, fn) =>
      test(title, async () => {
        const store = await open();
        try {
          await fn(store);
        } finally {
          await store.close();
        }
      });

    it("get, set and delete round-trip", async (kv) => {
      assert.equal(await kv.get(["missing"]), undefined);
      await kv.set(["a", "b"], { hello: "world" });
      assert.deepEqual(await kv.get(["a", "b"]), { hello: "world" });
      assert.equal(await kv.get(["a"]), undefined);
      assert.equal(await kv.get(["a", "b", "c"]), undefined);
      await kv.set(["a", "b"], 2);
      assert.equal(await kv.get(["a", "b"]), 2);
      await kv.delete(["a", "b"]);
      assert.equal(await kv.get(["a", "b"]), undefined);
      await kv.delete(["a", "b"]); // idempotent
    });

    it("odd key parts round-trip through set, get and list", async (kv) => {
      for (const [i, part] of ODD_PARTS.entries()) {
        await kv.set(["odd", part], i);
        await kv.set(["odd", part, "child"], -i);
      }
      for (const [i, part] of ODD_PARTS.entries()) {
        assert.equal(await kv.get(["odd", part]), i, `part ${JSON.stringify(part)}`);
        const under = await collect(kv.list(["odd", part]));
        assert.deepEqual(
          sortedKeys(under),
          [keyText(["odd", part]), keyText(["odd", part, "child"])].sort(),
          `list under ${JSON.stringify(part)}`,
        );
      }
      const all = await collect(kv.list(["odd"]));
      assert.equal(all.length, ODD_PARTS.length * 2);
      const listed = new Map(all.map((e) => [keyText(e.key), e.value]));
      for (const [i, part] of ODD_PARTS.entries()) {
        assert.equal(listed.get(keyText(["odd", part])), i);
      }
    });

    it("list matches prefixes exactly and case-sensitively", async (kv) => {
      await kv.set(["user"], 0);
      await kv.set(["user", "alice"], 1);
      await kv.set(["user", "alice", "keys"], 2);
      await kv.set(["user", "alicex"], 3);
      await kv.set(["User", "bob"], 4);
      await kv.set(["users", "carol"], 5);
      await kv.set(["use"], 6);
      await kv.set(["user%"], 7);
      await kv.set(["user_"], 8);
      assert.deepEqual(sortedKeys(await collect(kv.list(["user"]))), [
        keyText(["user"]), keyText(["user", "alice"]), keyText(["user", "alice", "keys"]),
        keyText(["user", "alicex"]),
      ].sort());
      assert.deepEqual(sortedKeys(await collect(kv.list(["user", "alice"]))), [
        keyText(["user", "alice"]), keyText(["user", "alice", "keys"]),
      ].sort());
      assert.deepEqual(sortedKeys(await collect(kv.list(["User"]))), [keyText(["User", "bob"])]);
      assert.deepEqual(await collect(kv.list(["USER"])), []);
      assert.deepEqual(await collect(kv.list(["user", "al"])), []);
      assert.equal((await collect(kv.list())).length, 9);
      assert.equal((await collect(kv.list([]))).length, 9);
    });

    it("list streams many entries in pages, each once, with values", async (kv) => {
      const n = 1500;
      await Promise.all(
        Array.from({ length: n }, (_, i) => kv.set(["many", String(i).padStart(5, "0")], { i })),
      );
      await kv.set(["manz"], 0);
      let count = 0;
      const seen = new Set();
      for await (const { key, value } of kv.list(["many"])) {
        assert.equal(key.length, 2);
        assert.equal(value.i, Number(key[1]));
        seen.add(key[1]);
        count++;
      }
      assert.equal(count, n);
      assert.equal(seen.size, n);
    });

    it("list skips expired entries", async (kv) => {
      await kv.set(["exp", "gone"], 1, { ttl: ms(100) });
      await kv.set(["exp", "kept"], 2, { ttl: Temporal.Duration.from({ hours: 1 }) });
      await kv.set(["exp", "forever"], 3);
      await sleep(250);
      assert.deepEqual(sortedKeys(await collect(kv.list(["exp"]))), [
        keyText(["exp", "forever"]), keyText(["exp", "kept"]),
      ]);
    });

    it("a TTL of 200 ms expires", async (kv) => {
      await kv.set(["ttl"], "short", { ttl: ms(200) });
      assert.equal(await kv.get(["ttl"]), "short");
      await sleep(350);
      assert.equal(await kv.get(["ttl"]), undefined);
    });

    it("a TTL of 1.5 s (a fraction of a second) expires on time", async (kv) => {
      await kv.set(["ttl"], "long", { ttl: Temporal.Duration.from({ seconds: 1, milliseconds: 500 }) });
      await sleep(1100);
      assert.equal(await kv.get(["ttl"]), "long", "still there after 1.1 s");
      await sleep(700);
      assert.equal(await kv.get(["ttl"]), undefined, "gone after 1.8 s");
    });

    it("set replaces the TTL; a TTL in months lives", async (kv) => {
      await kv.set(["t"], 1, { ttl: ms(100) });
      await kv.set(["t"], 2);
      await kv.set(["m"], 3, { ttl: Temporal.Duration.from({ months: 1, days: 2 }) });
      await sleep(250);
      assert.equal(await kv.get(["t"]), 2);
      assert.equal(await kv.get(["m"]), 3);
    });

    it("bad TTLs are a RangeError and write nothing", async (kv) => {
      for (const ttl of [Temporal.Duration.from({ seconds: -1 }), { seconds: Infinity }, 1000, "PT1S"]) {
        await assert.rejects(() => kv.set(["bad-ttl"], 1, { ttl }), (error) => {
          assert.ok(error instanceof RangeError, String(error));
          assert.equal(error.code, "ERR_FEDIKV_INVALID_TTL");
          return true;
        });
      }
      assert.equal(await kv.get(["bad-ttl"]), undefined);
    });

    it("values: nested, arrays, null, edge numbers, NUL, unicode", async (kv) => {
      const values = [
        { a: { b: { c: [1, { d: [null, true, false] }] } } },
        [1, "two", [3, [4]], { five: 5 }],
        null,
        1e308,
        -0.5,
        Number.MAX_SAFE_INTEGER,
        "with\u0000NUL",
        "é😀\u2028\n\"\\",
        "",
        0,
        false,
        [],
        {},
      ];
      for (const [i, value] of values.entries()) {
        await kv.set(["v", String(i)], value);
        assert.deepEqual(await kv.get(["v", String(i)]), value, `value ${i}`);
      }
      const listed = await collect(kv.list(["v"]));
      assert.equal(listed.length, values.length);
    });

    it("values are JSON copies", async (kv) => {
      const value = { list: [1], when: new Date(0), skip: undefined, nan: NaN };
      await kv.set(["copy"], value);
      value.list.push(2);
      const got = await kv.get(["copy"]);
      assert.deepEqual(got, { list: [1], when: "1970-01-01T00:00:00.000Z", nan: null });
      got.list.push(3);
      assert.deepEqual((await kv.get(["copy"])).list, [1]);
    });

    it("a 1 MB value round-trips", async (kv) => {
      const big = { data: "x".repeat(1024 * 1024), n: 1 };
      await kv.set(["big"], big);
      assert.deepEqual(await kv.get(["big"]), big);
    });

    it("set(key, undefined) deletes", async (kv) => {
      await kv.set(["u"], 1);
      await kv.set(["u"], undefined);
      assert.equal(await kv.get(["u"]), undefined);
      assert.deepEqual(await collect(kv.list(["u"])), []);
    });

    it("bad keys are a TypeError and write nothing", async (kv) => {
      const badKeys = [[], [1], "a", ["a", 2], [null], ["\ud800"], ["ok", "x\udc00y"], undefined, null, {}, [["a"]]];
      for (const key of badKeys) {
        await expectTypeError(() => kv.set(key, 1), "ERR_FEDIKV_INVALID_KEY");
        await expectTypeError(() => kv.get(key), "ERR_FEDIKV_INVALID_KEY");
        await expectTypeError(() => kv.delete(key), "ERR_FEDIKV_INVALID_KEY");
        await expectTypeError(() => kv.cas(key, undefined, 1), "ERR_FEDIKV_INVALID_KEY");
      }
      assert.throws(() => kv.list("a"), TypeError);
      assert.throws(() => kv.list([1]), TypeError);
      assert.deepEqual(await collect(kv.list()), []);
    });

    it("bad values are a TypeError and write nothing", async (kv) => {
      const cycle = { a: 1 };
      cycle.self = cycle;
      await kv.set(["keep"], "old");
      for (const value of [10n, { n: 1n }, cycle, () => 1, Symbol("s")]) {
        await expectTypeError(() => kv.set(["keep"], value), "ERR_FEDIKV_INVALID_VALUE");
        await expectTypeError(() => kv.set(["new"], value), "ERR_FEDIKV_INVALID_VALUE");
        await expectTypeError(() => kv.cas(["keep"], "old", value), "ERR_FEDIKV_INVALID_VALUE");
      }
      assert.equal(await kv.get(["keep"]), "old");
      assert.equal(await kv.get(["new"]), undefined);
    });

    it("cas: absent, mismatched, matching, expired, deleting", async (kv) => {
      assert.equal(await kv.cas(["c"], "x", 1), false, "absent does not match a value");
      assert.equal(await kv.get(["c"]), undefined);
      assert.equal(await kv.cas(["c"], undefined, { a: 1, b: [1, 2] }), true, "absent matches undefined");
      assert.equal(await kv.cas(["c"], undefined, 2), false, "present does not match undefined");
      assert.equal(await kv.cas(["c"], { a: 1, b: [2, 1] }, 2), false, "mismatch");
      assert.equal(await kv.cas(["c"], { b: [1, 2], a: 1 }, 2), true, "member order does not matter");
      assert.equal(await kv.get(["c"]), 2);
      assert.equal(await kv.cas(["c"], 2, undefined), true, "new undefined deletes");
      assert.equal(await kv.get(["c"]), undefined);
      await kv.set(["c"], "soon", { ttl: ms(100) });
      await sleep(250);
      assert.equal(await kv.cas(["c"], "soon", "late"), false, "an expired value does not match");
      assert.equal(await kv.cas(["c"], undefined, "fresh", { ttl: ms(150) }), true, "expired counts as absent");
      assert.equal(await kv.get(["c"]), "fresh");
      await sleep(300);
      assert.equal(await kv.get(["c"]), undefined, "cas sets the TTL");
    });

    it("cas: 20 concurrent increment loops of 25 end at exactly 500", async (kv) => {
      const key = ["counter"];
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
    });

    it("every call after close() is rejected; close() is idempotent", async (kv) => {
      await kv.set(["before"], 1);
      await kv.close();
      await kv.close();
      assert.equal(kv.closed, true);
      const closed = (error) => {
        assert.equal(error.code, "ERR_FEDIKV_CLOSED");
        assert.match(error.message, /closed/);
        return true;
      };
      await assert.rejects(kv.get(["before"]), closed);
      await assert.rejects(kv.set(["after"], 1), closed);
      await assert.rejects(kv.delete(["before"]), closed);
      await assert.rejects(kv.cas(["before"], 1, 2), closed);
      await assert.rejects(collect(kv.list()), closed);
    });

    it("Symbol.asyncDispose closes the store", async (kv) => {
      await kv[Symbol.asyncDispose]();
      assert.equal(kv.closed, true);
      await assert.rejects(kv.get(["a"]), { code: "ERR_FEDIKV_CLOSED" });
    });
  });
}
