// WorkersKvStore against a local Worker with real KV bindings (miniflare,
// support/workers-kv/): the conformance kit (which reports the missing cas
// as a gap), the layout shared with Fedify's own WorkersKvStore run inside
// that Worker (its published copy, @fedify/fedify 1.10's x/cfworkers, the
// code that became @fedify/cfworkers), both ways, openKvStore's URL,
// migrate in and out with TTLs kept (the command too), and what a network
// does to the client (rate limits, a refused token).
import assert from "node:assert/strict";
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { after, before, describe, test } from "node:test";
import { listWithExpiry, migrate, openKvStore, SqliteKvStore, WorkersKvStore } from "fedikv";
import { testKvStore } from "fedikv/testing";
import { Temporal } from "@js-temporal/polyfill";
import { fedikvCli } from "./support/cli.mjs";
import { startWorkersKv } from "../support/workers-kv/start.mjs";

const emulator = await startWorkersKv();
after(() => emulator.stop?.());
const dir = mkdtempSync(join(tmpdir(), "fedikv-workerskv-"));
after(() => rmSync(dir, { recursive: true, force: true }));

/** A store on a namespace of its own (or `namespaceId`'s). */
async function open(options = {}) {
  const namespaceId = options.namespaceId ?? (await emulator.newNamespace());
  return new WorkersKvStore({
    accountId: emulator.accountId,
    apiToken: emulator.apiToken,
    apiUrl: emulator.apiUrl,
    ...options,
    namespaceId,
  });
}

async function collect(iterable) {
  const out = [];
  for await (const entry of iterable) out.push(entry);
  return out;
}

const sleep = (ms) => new Promise((resolve) => setTimeout(resolve, ms));
const ttl = (milliseconds) => ({ ttl: Temporal.Duration.from({ milliseconds }) });

if (emulator.skip) {
  describe("WorkersKvStore", { skip: emulator.skip }, () => {});
} else {
  // One namespace for the kit: every test of it writes under a prefix of
  // its own and cleans up after itself.
  const kitNamespace = await emulator.newNamespace();
  testKvStore(() => open({ namespaceId: kitNamespace }), {
    name: "WorkersKvStore",
    errorCodes: true,
    maxKeyBytes: 512,
    maxValueBytes: 25 * 1024 * 1024,
  });

  describe("WorkersKvStore", () => {
    test("has no cas, as Fedify's own WorkersKvStore: Fedify asks kv.cas == null", async () => {
      const kv = await open();
      try {
        assert.equal(kv.cas, undefined);
        assert.equal(kv.cas == null, true);
        assert.equal(typeof kv.get, "function");
      } finally {
        await kv.close();
      }
    });

    test("entries written by Fedify's WorkersKvStore in the Worker are read here", async () => {
      const kv = await open();
      const ns = kv.namespaceId;
      const fedify = (op) => emulator.fedify(ns, op);
      try {
        const values = {
          object: { "@context": "https://www.w3.org/ns/activitystreams", id: "https://a.example/1", n: [1, 2.5] },
          string: 'é 😀 \u2028 "quoted"',
          number: 42,
          truth: false,
          nothing: null,
        };
        for (const [name, value] of Object.entries(values)) {
          await fedify({ op: "set", key: ["_fedify", "interop", name], value });
        }
        await fedify({ op: "set", key: ["_fedify", "interop"], value: "exact" });
        await fedify({ op: "set", key: ["_fedify", "ttl"], value: 1, ttlMs: 90_000 });
        // Timed from before the write, so that a slow machine cannot make
        // a live entry look expired: life is checked only while the TTL runs.
        const shortAt = Date.now();
        await fedify({ op: "set", key: ["_fedify", "short"], value: 2, ttlMs: 300 });
        const short = await kv.get(["_fedify", "short"]);
        if (Date.now() - shortAt < 250) assert.equal(short, 2);

        for (const [name, value] of Object.entries(values)) {
          assert.deepEqual(await kv.get(["_fedify", "interop", name]), value, name);
        }
        const listed = await collect(kv.list(["_fedify", "interop"]));
        assert.deepEqual(
          listed.map((e) => e.key),
          [
            ["_fedify", "interop"],
            ...Object.keys(values)
              .sort()
              .map((n) => ["_fedify", "interop", n]),
          ],
        );
        const [withTtl] = await collect(listWithExpiry(kv, ["_fedify", "ttl"]));
        assert.ok(Math.abs(withTtl.expiresAt - (Date.now() + 90_000)) < 5_000, `expiresAt ${withTtl.expiresAt}`);
        await sleep(Math.max(0, shortAt + 450 - Date.now()));
        // Cloudflare keeps it for its minute; Fedify's metadata says it is gone.
        assert.equal(await kv.get(["_fedify", "short"]), undefined);
        assert.equal((await collect(kv.list(["_fedify", "short"]))).length, 0);

        await fedify({ op: "delete", key: ["_fedify", "interop", "number"] });
        assert.equal(await kv.get(["_fedify", "interop", "number"]), undefined);
      } finally {
        await kv.close();
      }
    });

    test("entries written here are read by Fedify's WorkersKvStore in the Worker, TTLs too", async () => {
      const kv = await open();
      const ns = kv.namespaceId;
      const fedifyGet = async (key) => await emulator.fedify(ns, { op: "get", key });
      try {
        const value = { id: "https://b.example/users/bob", keys: ["k1", "k2"], at: new Date(0) };
        await kv.set(["_fedify", "remoteDocument", "https://b.example/users/bob"], value);
        const soonAt = Date.now();
        await kv.set(["_fedify", "soon"], "bye", ttl(300));
        const soon = await fedifyGet(["_fedify", "soon"]);
        if (Date.now() - soonAt < 250) assert.deepEqual(soon, { found: true, value: "bye" });
        await kv.set(["_fedify", "day"], true, ttl(86_400_000));
        assert.deepEqual(await fedifyGet(["_fedify", "remoteDocument", "https://b.example/users/bob"]), {
          found: true,
          value: JSON.parse(JSON.stringify(value)),
        });
        const raw = await emulator.raw(ns, { op: "get", key: '["_fedify","day"]' });
        assert.equal(raw.value, "true");
        assert.ok(Math.abs(raw.metadata.expires - (Date.now() + 86_400_000)) < 5_000, JSON.stringify(raw));
        assert.ok(Math.abs(raw.expiration - (Date.now() / 1000 + 86_400)) < 5, JSON.stringify(raw));
        await sleep(Math.max(0, soonAt + 450 - Date.now()));
        // Fedify's own check of the metadata.
        assert.equal((await fedifyGet(["_fedify", "soon"])).found, false);
        await kv.delete(["_fedify", "day"]);
        assert.equal((await fedifyGet(["_fedify", "day"])).found, false);
      } finally {
        await kv.close();
      }
    });

    test("openKvStore takes workers-kv://ACCOUNT_ID/NAMESPACE_ID, the token from the environment", async () => {
      const ns = await emulator.newNamespace();
      const saved = process.env.CLOUDFLARE_API_TOKEN;
      process.env.CLOUDFLARE_API_TOKEN = emulator.apiToken;
      try {
        const url = `workers-kv://${emulator.accountId}/${ns}?apiUrl=${encodeURIComponent(emulator.apiUrl)}`;
        const kv = openKvStore(url);
        assert.ok(kv instanceof WorkersKvStore);
        assert.equal(kv.namespaceId, ns);
        await kv.initialize();
        await kv.set(["k"], 1);
        assert.equal(await kv.get(["k"]), 1);
        await kv.close();
        // No account in the URL: CLOUDFLARE_ACCOUNT_ID's.
        const savedAccount = process.env.CLOUDFLARE_ACCOUNT_ID;
        process.env.CLOUDFLARE_ACCOUNT_ID = emulator.accountId;
        try {
          const same = openKvStore(`workers-kv:///${ns}?apiUrl=${encodeURIComponent(emulator.apiUrl)}`);
          assert.equal(await same.get(["k"]), 1);
          await same.close();
        } finally {
          if (savedAccount === undefined) delete process.env.CLOUDFLARE_ACCOUNT_ID;
          else process.env.CLOUDFLARE_ACCOUNT_ID = savedAccount;
        }
        delete process.env.CLOUDFLARE_API_TOKEN;
        assert.throws(() => openKvStore(url), { code: "ERR_FEDIKV_INVALID_OPTION", message: /CLOUDFLARE_API_TOKEN/ });
        assert.throws(
          () => openKvStore(`workers-kv://:secret@${emulator.accountId}/${ns}`),
          (error) => {
            assert.equal(error.code, "ERR_FEDIKV_INVALID_OPTION");
            assert.match(error.message, /CLOUDFLARE_API_TOKEN/);
            assert.doesNotMatch(error.message, /secret/);
            return true;
          },
        );
        assert.throws(() => openKvStore(`workers-kv://${emulator.accountId}`), { code: "ERR_FEDIKV_INVALID_OPTION" });
      } finally {
        if (saved === undefined) delete process.env.CLOUDFLARE_API_TOKEN;
        else process.env.CLOUDFLARE_API_TOKEN = saved;
      }
    });

    test("bad options are TypeErrors that name the option", () => {
      const base = { accountId: emulator.accountId, namespaceId: "n", apiToken: "t" };
      const saved = process.env.CLOUDFLARE_API_TOKEN;
      delete process.env.CLOUDFLARE_API_TOKEN;
      try {
        for (const [options, pattern] of [
          [{ ...base, apiToken: undefined }, /apiToken.*CLOUDFLARE_API_TOKEN/],
          [{ ...base, namespaceId: undefined }, /namespaceId/],
          [{ ...base, namespaceId: "a/b" }, /namespaceId/],
          [{ ...base, retries: 1.5 }, /retries/],
          [{ ...base, responseTimeout: 0 }, /responseTimeout/],
          [{ ...base, apiUrl: "ftp://x" }, /apiUrl/],
        ]) {
          assert.throws(
            () => new WorkersKvStore(options),
            (error) => {
              assert.ok(error instanceof TypeError, `${error}`);
              assert.equal(error.code, "ERR_FEDIKV_INVALID_OPTION");
              assert.match(error.message, pattern);
              return true;
            },
          );
        }
      } finally {
        if (saved !== undefined) process.env.CLOUDFLARE_API_TOKEN = saved;
      }
    });

    test("a refused token rejects with ERR_FEDIKV_CONNECTION, and the token is not in the message", async () => {
      const kv = await open({ apiToken: "wrong-token-1234", retries: 0 });
      try {
        await assert.rejects(kv.initialize(), (error) => {
          assert.equal(error.code, "ERR_FEDIKV_CONNECTION");
          assert.match(error.message, /HTTP 403/);
          assert.doesNotMatch(error.message, /wrong-token-1234/);
          return true;
        });
        await assert.rejects(kv.get(["k"]), { code: "ERR_FEDIKV_CONNECTION" });
      } finally {
        await kv.close();
      }
    });

    test("a rate limit is waited out as Retry-After says; nothing is lost", async () => {
      const kv = await open();
      try {
        await emulator.faults({ status: 429, count: 2, retryAfter: 1, match: kv.namespaceId });
        const started = Date.now();
        await Promise.all(Array.from({ length: 50 }, (_, i) => kv.set(["limited", String(i)], i)));
        assert.ok(Date.now() - started >= 2_000);
        assert.equal((await collect(kv.list(["limited"]))).length, 50);
      } finally {
        await kv.close();
      }
    });
  });

  describe("migrate to and from Workers KV", () => {
    let sqlite;
    let workers;
    before(async () => {
      sqlite = new SqliteKvStore(join(dir, "source.db"));
      workers = await open();
      // 2,000 entries: permanent ones, a day's TTL, 30 s (under Cloudflare's minimum).
      const writes = [];
      for (let i = 0; i < 2000; i++) {
        const options = i % 3 === 0 ? undefined : i % 3 === 1 ? ttl(86_400_000) : ttl(30_000);
        writes.push(sqlite.set(["_fedify", "m", String(i).padStart(4, "0")], { i, text: "é".repeat(i % 7) }, options));
      }
      await Promise.all(writes);
      await sqlite.set(["_fedify", "gone"], 1, ttl(1));
    });
    after(async () => {
      await sqlite?.close();
      await workers?.close();
    });

    test("SQLite → Workers KV: every entry, TTLs kept, in few bulk requests", async () => {
      await sleep(5);
      await emulator.resetRequests();
      const result = await migrate(sqlite, workers);
      assert.equal(result.ok, true);
      assert.equal(result.copied, 2000);
      assert.equal(result.withTtl, 1333);
      const requests = await emulator.requests();
      const writes = requests.byRoute["PUT bulk"] ?? 0;
      // migrate writes 500 at a time: a handful of bulk writes, not 2,000 requests.
      assert.ok(writes >= 4 && writes <= 20, `2,000 entries in ${writes} bulk writes: ${JSON.stringify(requests)}`);
      const source = new Map((await collect(listWithExpiry(sqlite))).map((e) => [JSON.stringify(e.key), e]));
      const target = await collect(listWithExpiry(workers));
      assert.equal(target.length, 2000);
      for (const entry of target) {
        const original = source.get(JSON.stringify(entry.key));
        assert.deepEqual(entry.value, original.value);
        if (original.expiresAt === null) assert.equal(entry.expiresAt, null);
        else assert.ok(Math.abs(entry.expiresAt - original.expiresAt) < 2_000, JSON.stringify([entry, original]));
      }
      // A 30 s TTL: Cloudflare's expiry is its minute, the metadata the exact time.
      const raw = await emulator.raw(workers.namespaceId, { op: "get", key: '["_fedify","m","0002"]' });
      assert.ok(raw.expiration * 1000 >= raw.metadata.expires + 25_000, JSON.stringify(raw));
      assert.ok(Math.abs(raw.metadata.expires - source.get('["_fedify","m","0002"]').expiresAt) < 2_000);
    });

    test("Workers KV → SQLite with the command, and ls and stats on the Workers KV URL", async () => {
      const url = `workers-kv://${emulator.accountId}/${workers.namespaceId}?apiUrl=${encodeURIComponent(emulator.apiUrl)}`;
      const env = { CLOUDFLARE_API_TOKEN: emulator.apiToken };
      const back = join(dir, "back.db");
      const run = await fedikvCli(["migrate", url, `sqlite:${back}`], { env });
      assert.equal(run.code, 0, run.stderr);
      const copy = new SqliteKvStore(back);
      try {
        const entries = await collect(listWithExpiry(copy));
        assert.equal(entries.length, 2000);
        const withTtl = entries.filter((e) => e.expiresAt !== null);
        assert.equal(withTtl.length, 1333);
        const short = entries.find((e) => e.key[2] === "0002");
        assert.ok(short.expiresAt - Date.now() < 31_000, "a 30 s TTL is still 30 s, not Cloudflare's minute");
      } finally {
        await copy.close();
      }
      const ls = await fedikvCli(["ls", url, "_fedify", "m", "--limit", "3", "--json"], { env });
      assert.equal(ls.code, 0, ls.stderr);
      assert.deepEqual(
        ls.stdout
          .trim()
          .split("\n")
          .map((line) => JSON.parse(line).key),
        [
          ["_fedify", "m", "0000"],
          ["_fedify", "m", "0001"],
          ["_fedify", "m", "0002"],
        ],
      );
      const stats = await fedikvCli(["stats", url, "--json"], { env });
      assert.equal(stats.code, 0, stats.stderr);
      assert.match(stats.stdout, /2000/);
    });
  });
}
