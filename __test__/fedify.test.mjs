// End to end: two real Fedify 2.3.6 servers on loopback HTTP, each on its own
// fedikv store, exchange signed activities. Checks that delivery works with
// signatures verified, that Fedify itself writes its state (idempotence keys,
// cached keys and documents…) to the store, and that the store's idempotence
// record makes Fedify drop a redelivered activity.
//
// It runs on every store: memory, SQLite, Deno KV (a file, and KV Connect
// to a denokv server of its own per federation), and the server stores
// (Redis, PostgreSQL, MySQL/MariaDB) when their server is reachable (a skip
// with the reason otherwise, a failure under CI=true; see
// support/servers.mjs). Each federation on a server store has its own key
// prefix or table, dropped at the end.
//
// Run: node --test __test__/fedify.test.mjs

import assert from "node:assert/strict";
import fs from "node:fs";
import os from "node:os";
import path from "node:path";
import { after, before, describe, test } from "node:test";
import { createApp, serve } from "../demo/app.mjs";
import {
  DenoKvStore,
  MemoryKvStore,
  MysqlKvStore,
  PostgresKvStore,
  RedisKvStore,
  SqliteKvStore,
  WorkersKvStore,
} from "../index.js";
import { DENO_APP, rawExpiries, startDenoApp } from "./support/deno-app.mjs";
import { FEDIFY_SQLITE, startFedifySqlite } from "./support/fedify-sqlite-store.mjs";
import { denokvBinary, startDenokvServer } from "./support/denokv-server.mjs";
import { server, uniqueName } from "../support/servers.mjs";
import { startWorkersKv } from "../support/workers-kv/start.mjs";

// The Fedify of demo/app.mjs: @fedify/fedify, or FEDIKV_FEDIFY's copy.
const fedifyPackage = process.env.FEDIKV_FEDIFY ?? "@fedify/fedify";
const { signRequest } = await import(fedifyPackage);
const { Create, Note } = await import(`${fedifyPackage}/vocab`);
const fedifyVersion = JSON.parse(
  fs.readFileSync(new URL(`../node_modules/${fedifyPackage}/package.json`, import.meta.url), "utf8"),
).version;

const tmpDir = fs.mkdtempSync(path.join(os.tmpdir(), "fedikv-fedify-"));
after(() => fs.rmSync(tmpDir, { recursive: true, force: true }));

const [redis, postgres, mysql] = await Promise.all([server("redis"), server("postgres"), server("mysql")]);
const denokv = denokvBinary();
// Workers KV: a local Worker with real KV bindings (miniflare), a
// namespace for each store.
const workersKv = await startWorkersKv();
after(() => workersKv.stop?.());
const denokvServers = [];
after(() => {
  for (const server of denokvServers) server.stop();
});
/** Where each Deno KV store lives, for reading it the way a Deno app would. */
const denoKvTargets = new WeakMap();

let fileCounter = 0;
/**
 * Each store: `make()` opens a new one (called once per federation), `skip`
 * is why it cannot run, `drop` whether its data is dropped at the end.
 */
const stores = {
  MemoryKvStore: { make: () => new MemoryKvStore() },
  "SqliteKvStore (file)": { make: () => new SqliteKvStore(path.join(tmpDir, `kv-${++fileCounter}.db`)) },
  "SqliteKvStore (:memory:)": { make: () => new SqliteKvStore() },
  "DenoKvStore (file)": {
    make: () => {
      const file = path.join(tmpDir, `kv-${++fileCounter}.sqlite3`);
      const kv = new DenoKvStore(file);
      denoKvTargets.set(kv, { path: file });
      return kv;
    },
  },
  "DenoKvStore (KV Connect)": {
    skip: denokv.skip,
    // A denokv server of its own for each federation.
    make: async () => {
      const denokvServer = await startDenokvServer();
      denokvServers.push(denokvServer);
      const kv = new DenoKvStore(denokvServer.url, { accessToken: denokvServer.accessToken });
      denoKvTargets.set(kv, { url: denokvServer.url, accessToken: denokvServer.accessToken });
      return kv;
    },
  },
  RedisKvStore: {
    skip: redis.skip,
    drop: true,
    make: () => new RedisKvStore(redis.url, { keyPrefix: `${uniqueName("fedify")}::` }),
  },
  PostgresKvStore: {
    skip: postgres.skip,
    drop: true,
    make: () => new PostgresKvStore(postgres.url, { tableName: uniqueName("fedify") }),
  },
  MysqlKvStore: {
    skip: mysql.skip,
    drop: true,
    make: () => new MysqlKvStore(mysql.url, { tableName: uniqueName("fedify") }),
  },
  // No cas: Fedify takes its paths for a store without one, as on
  // @fedify/cfworkers.
  WorkersKvStore: {
    skip: workersKv.skip,
    make: async () =>
      new WorkersKvStore({
        accountId: workersKv.accountId,
        apiToken: workersKv.apiToken,
        apiUrl: workersKv.apiUrl,
        namespaceId: await workersKv.newNamespace(),
      }),
  },
};

const TIMEOUT = { timeout: 30_000 };

/**
 * Reads entries straight from the server, in the layout of Fedify's package
 * for it: for each key, `{ value: the stored JSON text, ttlMs: the time
 * left in ms, or null when it never expires }`, or undefined when absent.
 */
const rawEntry = {
  // @fedify/cfworkers: the key's JSON text, `{ expires }` metadata.
  async WorkersKvStore(kv, keys) {
    return await Promise.all(
      keys.map(async (key) => {
        const raw = await workersKv.raw(kv.namespaceId, { op: "get", key: JSON.stringify(key) });
        if (raw.value == null) return undefined;
        const expires = raw.metadata?.expires;
        return { value: raw.value, ttlMs: expires == null ? null : expires - Date.now() };
      }),
    );
  },
  async RedisKvStore(kv, keys) {
    const { default: Redis } = await import("ioredis");
    const client = new Redis(redis.url, { maxRetriesPerRequest: 2, connectTimeout: 5000 });
    try {
      return await Promise.all(
        keys.map(async (key) => {
          // @fedify/redis: the prefix, then the parts with ':' as '_:', joined by '::'.
          const redisKey = kv.keyPrefix + key.map((part) => part.replaceAll(":", "_:")).join("::");
          const [value, pttl] = await Promise.all([client.get(redisKey), client.pttl(redisKey)]);
          return value === null ? undefined : { value, ttlMs: pttl === -1 ? null : pttl };
        }),
      );
    } finally {
      await client.quit();
    }
  },
  async PostgresKvStore(kv, keys) {
    const { default: postgresClient } = await import("postgres");
    const sql = postgresClient(postgres.url, { max: 1, onnotice: () => {} });
    try {
      return await Promise.all(
        keys.map(async (key) => {
          // @fedify/postgres: key text[], value jsonb, live until created + ttl.
          const [row] = await sql`
          SELECT value::text AS value,
                 extract(epoch FROM created + ttl - CURRENT_TIMESTAMP)::float8 * 1000 AS ttl_ms
          FROM ${sql(kv.tableName)} WHERE key = ${key}`;
          return row && { value: row.value, ttlMs: row.ttl_ms };
        }),
      );
    } finally {
      await sql.end({ timeout: 5 });
    }
  },
  async MysqlKvStore(kv, keys) {
    const { default: mysql2 } = await import("mysql2/promise");
    const connection = await mysql2.createConnection({ uri: mysql.url, connectTimeout: 5000 });
    try {
      const entries = [];
      for (const key of keys) {
        // @fedify/mysql: key = JSON.stringify(key), expires = NOW(6) + ttl.
        const [[row]] = await connection.query(
          `SELECT CAST(\`value\` AS CHAR) AS value,
                  TIMESTAMPDIFF(MICROSECOND, NOW(6), \`expires\`) / 1000 AS ttl_ms
           FROM \`${kv.tableName}\` WHERE \`key\` = ?`,
          [JSON.stringify(key)],
        );
        entries.push(row && { value: row.value, ttlMs: row.ttl_ms === null ? null : Number(row.ttl_ms) });
      }
      return entries;
    } finally {
      await connection.end();
    }
  },
};

/**
 * Starts an app whose HTTP traffic is logged: every response the server
 * sent, as { method, path, status, body }.
 */
async function startLoggedApp(kv, actors) {
  const log = [];
  let app;
  const server = await serve(async (request) => {
    const { pathname } = new URL(request.url);
    const response = await app.handler(request);
    const body = await response.clone().text();
    log.push({ method: request.method, path: pathname, status: response.status, body });
    return response;
  });
  app = createApp({ kv, origin: server.origin, actors });
  return { ...app, log, close: server.close };
}

async function entries(kv, prefix) {
  const result = [];
  for await (const entry of kv.list(prefix)) result.push(entry);
  return result;
}

/** POSTs `json` to `inbox`, signed with `signer`'s key pair, or unsigned. */
async function postToInbox(inbox, json, signer) {
  let request = new Request(inbox, {
    method: "POST",
    headers: { "Content-Type": "application/activity+json" },
    body: JSON.stringify(json),
  });
  if (signer != null) {
    request = await signRequest(request, signer.privateKey, signer.keyId, { spec: "rfc9421" });
  }
  return await fetch(request);
}

for (const [name, { make: makeStore, skip, drop }] of Object.entries(stores)) {
  if (skip) {
    describe(`Fedify ${fedifyVersion} federation on ${name}`, { skip }, () => {});
    continue;
  }
  describe(`Fedify ${fedifyVersion} federation on ${name}`, () => {
    let kvA, kvB, a, b, bob, follow;

    before(async () => {
      kvA = await makeStore();
      kvB = await makeStore();
      a = await startLoggedApp(kvA, ["alice"]);
      b = await startLoggedApp(kvB, ["bob"]);
      bob = `${b.origin}/users/bob`;
    });

    after(async () => {
      await a?.close();
      await b?.close();
      for (const kv of [kvA, kvB]) {
        if (kv === undefined) continue;
        try {
          if (drop) await kv.drop();
        } finally {
          await kv.close();
        }
      }
    });

    test("WebFinger and the actor document are served", TIMEOUT, async () => {
      const host = new URL(b.origin).host;
      const res = await fetch(`${b.origin}/.well-known/webfinger?resource=acct:bob@${host}`);
      assert.equal(res.status, 200);
      const jrd = await res.json();
      assert.equal(jrd.links.find((l) => l.rel === "self")?.href, bob);

      const actor = await a.lookupActor(bob);
      assert.equal(actor.id.href, bob);
      assert.equal(actor.preferredUsername, "bob");
    });

    test("a signed Follow from A reaches B's inbox, and B's Accept reaches A", TIMEOUT, async () => {
      follow = await a.follow("alice", bob);

      assert.deepEqual(b.received, [
        {
          type: "Follow",
          id: follow.id.href,
          actor: `${a.origin}/users/alice`,
          recipient: "bob",
        },
      ]);
      const post = b.log.find((r) => r.method === "POST" && r.path === "/users/bob/inbox");
      assert.equal(post?.status, 202);
      // B's listener answered with an Accept, delivered (and verified) the
      // other way round, before A's sendActivity() resolved.
      assert.deepEqual(
        a.received.map((r) => [r.type, r.actor, r.recipient]),
        [["Accept", bob, "alice"]],
      );
      assert.equal(
        await kvB.get(["app", "followers", "bob", `${a.origin}/users/alice`]).then((v) => v?.follow),
        follow.id.href,
      );
      assert.equal(await kvA.get(["app", "following", "alice", bob]), true);
    });

    test("Fedify wrote its own entries to the stores", TIMEOUT, async () => {
      const alice = `${a.origin}/users/alice`;
      const keysOf = async (kv) => (await entries(kv, ["_fedify"])).map((e) => e.key);
      const inB = await keysOf(kvB);
      const inA = await keysOf(kvA);
      for (const key of [...inA, ...inB]) assert.equal(key[0], "_fedify");

      // B remembers the processed Follow, per inbox:
      // ["_fedify", "activityIdempotence", "<B origin>\n<activity id>\ninbox\n<recipient>"]
      const idempotence = await entries(kvB, ["_fedify", "activityIdempotence"]);
      assert.deepEqual(idempotence, [
        {
          key: ["_fedify", "activityIdempotence", `${b.origin}\n${follow.id.href}\ninbox\nbob`],
          value: true,
        },
      ]);

      // B cached Alice's public key, fetched over HTTP from A to verify the
      // signature.
      const aliceKey = await kvB.get(["_fedify", "publicKey", `${alice}#main-key`]);
      assert.equal(aliceKey?.["@id"], `${alice}#main-key`);
      assert.match(JSON.stringify(aliceKey), /BEGIN PUBLIC KEY/);

      // A cached Bob's actor document (looked up before sending), and which
      // HTTP signature spec B accepted (RFC 9421 on the first knock).
      const bobDoc = await kvA.get(["_fedify", "remoteDocument", bob]);
      assert.equal(bobDoc?.document?.id, bob);
      assert.equal(await kvA.get(["_fedify", "httpMessageSignaturesSpec", b.origin]), "rfc9421");

      // And the other direction: A processed B's Accept and cached Bob's key.
      assert.ok(inA.some((k) => k[1] === "activityIdempotence" && k[2].includes("#accepts/")));
      assert.ok(inA.some((k) => k[1] === "publicKey" && k[2] === `${bob}#main-key`));
    });

    if (name === "SqliteKvStore (file)") {
      test(`Fedify's TTLs reach the SQLite file, as ${FEDIFY_SQLITE} reads it`, TIMEOUT, async () => {
        // Read in a process of its own: kvB is still open here (and B's
        // server on it), and another copy of SQLite in this process would
        // not lock against fedikv's (see startFedifySqlite).
        const fedify = await startFedifySqlite(kvB.path);
        try {
          const key = ["_fedify", "activityIdempotence", `${b.origin}\n${follow.id.href}\ninbox\nbob`];
          const row = await fedify.row(key);
          assert.equal(row?.value, "true");
          // Fedify keeps idempotence records for one day.
          assert.ok(Math.abs(row.expires - (Date.now() + 86_400_000)) < 60_000, `expires = ${row.expires}`);
          const keyRow = await fedify.row(["_fedify", "publicKey", `${a.origin}/users/alice#main-key`]);
          assert.equal(keyRow?.expires, null); // cached keys do not expire
        } finally {
          await fedify.close();
        }
      });
    }

    if (name.startsWith("DenoKvStore")) {
      test(`a Deno app reads what Fedify stored (${DENO_APP}), with Fedify's TTLs`, TIMEOUT, async () => {
        const { path: file, url, accessToken } = denoKvTargets.get(kvB);
        const idempotence = ["_fedify", "activityIdempotence", `${b.origin}\n${follow.id.href}\ninbox\nbob`];
        const publicKey = ["_fedify", "publicKey", `${a.origin}/users/alice#main-key`];
        const deno = await startDenoApp(file ?? url, { accessToken });
        try {
          assert.equal((await deno.get(idempotence)).value, true);
          assert.match(JSON.stringify((await deno.get(publicKey)).value), /BEGIN PUBLIC KEY/);
          const listed = await deno.list(["_fedify", "activityIdempotence"]);
          assert.deepEqual(
            listed.map((e) => e.key),
            [idempotence],
          );
        } finally {
          await deno.close();
        }
        if (file) {
          // KV Connect does not show expiry times; the file does (epoch ms).
          const expiries = (await rawExpiries(file)).map((r) => r.expiration_ms - Date.now());
          // Fedify keeps idempotence records for one day.
          assert.ok(
            expiries.some((ms) => Math.abs(ms - 86_400_000) < 60_000),
            `expiries: ${expiries.join(", ")} ms from now`,
          );
        }
      });
    }

    if (name in rawEntry) {
      test(`Fedify's TTLs reach the server (${name}, Fedify's layout)`, TIMEOUT, async () => {
        const idempotence = ["_fedify", "activityIdempotence", `${b.origin}\n${follow.id.href}\ninbox\nbob`];
        const publicKey = ["_fedify", "publicKey", `${a.origin}/users/alice#main-key`];
        const [record, cachedKey] = await rawEntry[name](kvB, [idempotence, publicKey]);
        assert.equal(record?.value, "true");
        // Fedify keeps idempotence records for one day.
        assert.ok(Math.abs(record.ttlMs - 86_400_000) < 60_000, `ttl = ${record.ttlMs} ms`);
        assert.match(cachedKey?.value ?? "", /BEGIN PUBLIC KEY/);
        assert.equal(cachedKey.ttlMs, null); // cached keys do not expire
      });
    }

    test("the same Follow delivered again is a duplicate: the listener is not called", TIMEOUT, async () => {
      const before = { a: a.received.length, b: b.received.length, posts: b.log.length };
      await a.send("alice", bob, follow);

      assert.equal(b.received.length, before.b);
      assert.equal(a.received.length, before.a); // so no second Accept either
      const redelivery = b.log.slice(before.posts).find((r) => r.method === "POST");
      assert.equal(redelivery?.status, 202);
      assert.match(redelivery.body, /has already been processed/);
      assert.equal((await entries(kvB, ["_fedify", "activityIdempotence"])).length, 1);
    });

    test("HTTP Signatures alone are verified: signed is accepted, unsigned or altered is 401", TIMEOUT, async () => {
      // A bare activity (no Linked Data Signature, no proof), so the HTTP
      // signature is the only thing that can authenticate it.
      const ctxA = a.context();
      const alice = ctxA.getActorUri("alice");
      const create = (n) =>
        new Create({
          id: new URL(`#creates/${n}-${crypto.randomUUID()}`, alice),
          actor: alice,
          to: new URL(bob),
          object: new Note({ attribution: alice, to: new URL(bob), content: `note ${n}` }),
        }).toJsonLd({ contextLoader: ctxA.contextLoader });
      const [rsa] = await ctxA.getActorKeyPairs("alice");
      const inbox = `${bob}/inbox`;
      const count = b.received.length;

      const unsigned = await postToInbox(inbox, await create(1));
      assert.equal(unsigned.status, 401);

      const tampered = await signRequest(
        new Request(inbox, {
          method: "POST",
          headers: { "Content-Type": "application/activity+json" },
          body: JSON.stringify(await create(2)),
        }),
        rsa.privateKey,
        rsa.keyId,
        { spec: "rfc9421" },
      );
      const altered = await fetch(new Request(tampered, { body: JSON.stringify(await create(3)) }));
      assert.equal(altered.status, 401);
      assert.equal(b.received.length, count);

      const signed = await postToInbox(inbox, await create(4), rsa);
      assert.equal(signed.status, 202, await signed.text());
      assert.equal(b.received.length, count + 1);
      assert.equal(b.received.at(-1).type, "Create");
    });
  });
}
