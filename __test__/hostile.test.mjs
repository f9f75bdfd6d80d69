// Hostile data and names, on every store that keeps data outside the
// process: what someone else wrote into the table or under the key prefix
// (values that are not JSON, rows whose key is no KvKey), table names and
// key prefixes that try to inject, and passwords that must never reach an
// error or the console.
import assert from "node:assert/strict";
import { execFile } from "node:child_process";
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { after, describe, test } from "node:test";
import { fileURLToPath } from "node:url";
import { inspect, promisify } from "node:util";
import { DenoKvStore, MysqlKvStore, PostgresKvStore, RedisKvStore, SqliteKvStore } from "fedikv";
import { denokvBinary, startDenokvServer } from "./support/denokv-server.mjs";
import { server, uniqueName } from "../support/servers.mjs";
import { openSqlite } from "./support/sqlite.mjs";
import { evalArgs } from "./support/runtime.mjs";

const run = promisify(execFile);
const dir = mkdtempSync(join(tmpdir(), "fedikv-hostile-"));
after(() => rmSync(dir, { recursive: true, force: true }));
const [redis, postgres, mysql] = await Promise.all([server("redis"), server("postgres"), server("mysql")]);
// A denokv server of this run, to refuse an access token.
const denokv = denokvBinary();
const denokvServer = denokv.skip ? null : await startDenokvServer();
after(() => denokvServer?.stop());

const hasCode =
  (code, ErrorClass = Error) =>
  (error) => {
    assert.ok(error instanceof ErrorClass, `expected a ${ErrorClass.name}, got ${error}`);
    assert.equal(error.code, code, String(error));
    return true;
  };

async function listAll(kv, prefix) {
  const out = [];
  for await (const entry of kv.list(prefix)) out.push(entry);
  return out;
}

/**
 * What every store must do with foreign rows: `bad` keys hold values that
 * are not JSON, `skipped` rows are no entries of the store (their keys are
 * no KvKeys, or not as JSON.stringify writes them), `good` holds "fine".
 */
async function checkForeignRows(kv, { bad, skipped = [], others = [] }) {
  for (const key of bad) {
    await assert.rejects(kv.get(key), hasCode("ERR_FEDIKV_INVALID_DATA"), `get ${JSON.stringify(key)}`);
    // cas never swaps it: it cannot equal any value (or, compared as JSON,
    // it is refused), and it is present, whatever it holds (SQLite may also
    // refuse to read a value that is not even text).
    for (const expected of ["x", undefined]) {
      try {
        assert.equal(await kv.cas(key, expected, 1), false, `cas ${JSON.stringify(key)}`);
      } catch (error) {
        hasCode("ERR_FEDIKV_INVALID_DATA")(error);
      }
    }
    await assert.rejects(kv.get(key), hasCode("ERR_FEDIKV_INVALID_DATA"), "still there");
  }
  for (const key of skipped) assert.equal(await kv.get(key), undefined, `get ${JSON.stringify(key)}`);
  assert.equal(await kv.get(["f", "good"]), "fine");
  for (const key of others) await kv.delete(key);
  // list reports the first value that is not JSON, naming its key, after
  // yielding only real entries.
  const seen = [];
  await assert.rejects(
    async () => {
      for await (const { key } of kv.list(["f"])) seen.push(JSON.stringify(key));
    },
    (error) => {
      hasCode("ERR_FEDIKV_INVALID_DATA")(error);
      assert.ok(
        bad.some((key) => error.message.includes(JSON.stringify(key))),
        error.message,
      );
      return true;
    },
  );
  assert.ok(
    seen.every((k) => k === '["f","good"]'),
    `listed ${seen}`,
  );
  // The store works on: a foreign value can be replaced or deleted, and
  // then the listing is exactly the store's entries.
  await kv.set(bad[0], "repaired");
  assert.equal(await kv.get(bad[0]), "repaired");
  for (const key of bad) await kv.delete(key);
  assert.deepEqual(await listAll(kv, ["f"]), [{ key: ["f", "good"], value: "fine" }]);
  assert.deepEqual(
    (await listAll(kv)).filter(({ key }) => key[0] === "f"),
    [{ key: ["f", "good"], value: "fine" }],
  );
}

/** Key texts of the SQLite and MySQL layouts that no KvKey is stored as. */
const FOREIGN_KEY_TEXTS = [
  '["f", "spaced"]',
  '["f","\\u0061"]',
  '["f",1]',
  '["f",null]',
  "[]",
  "abc",
  '{"f":1}',
  '["f"',
];
const FOREIGN_KEYS = [
  ["f", "spaced"],
  ["f", "a"],
];

describe("foreign data", () => {
  test("SqliteKvStore: values that are not JSON text, and rows that are no entries", async () => {
    const path = join(dir, "foreign.db");
    // One SQLite library at a time on the file (two in one process do not
    // lock it against each other): fedikv, the tests' SQLite, fedikv again.
    const writer = new SqliteKvStore(path);
    await writer.set(["f", "good"], "fine");
    await writer.close();
    const db = openSqlite(path);
    const insert = db.prepare("INSERT INTO fedify_kv (key, value, created, expires) VALUES (?, ?, 0, NULL)");
    insert.run('["f","text"]', "not json");
    insert.run('["f","injection"]', '1],[["f","fake"],2');
    // A number becomes text in a TEXT column: JSON after all.
    insert.run('["f","integer"]', 42);
    insert.run('["f","blob"]', Buffer.from('"x"'));
    db.prepare(`INSERT INTO fedify_kv VALUES ('["f","bad utf-8"]', CAST(x'22ff22' AS TEXT), 0, NULL)`).run();
    for (const text of FOREIGN_KEY_TEXTS) insert.run(text, "1");
    db.close();
    const kv = new SqliteKvStore(path);
    try {
      await checkForeignRows(kv, {
        bad: [
          ["f", "text"],
          ["f", "injection"],
          ["f", "blob"],
          ["f", "bad utf-8"],
        ],
        skipped: FOREIGN_KEYS,
        others: [["f", "integer"]],
      });
    } finally {
      await kv.close();
    }
  });

  test("MysqlKvStore: values that are not JSON (a table without the json_valid check), and rows that are no entries", {
    skip: mysql.skip,
  }, async () => {
    const { default: mysql2 } = await import("mysql2/promise");
    const tableName = uniqueName("foreign");
    const kv = new MysqlKvStore(mysql.url, { tableName });
    const connection = await mysql2.createConnection(mysql.url);
    try {
      await kv.set(["f", "good"], "fine");
      // MariaDB's JSON is LONGTEXT with a CHECK: a session may turn checks off.
      await connection.query("SET SESSION check_constraint_checks = 0");
      const insert = (key, value) =>
        connection.query(`INSERT INTO \`${tableName}\` (\`key\`, \`value\`) VALUES (?, ?)`, [key, value]);
      await insert('["f","text"]', "not json");
      await insert('["f","injection"]', '1],[["f","fake"],2');
      for (const text of FOREIGN_KEY_TEXTS) await insert(text, "1");
      await checkForeignRows(kv, {
        bad: [
          ["f", "text"],
          ["f", "injection"],
        ],
        skipped: FOREIGN_KEYS,
      });
    } finally {
      await connection.end();
      await kv.drop();
      await kv.close();
    }
  });

  test("PostgresKvStore: keys that are no KvKeys (empty, NULL parts, two dimensions, another first index) are skipped", {
    skip: postgres.skip,
  }, async () => {
    const { default: pg } = await import("postgres");
    const tableName = uniqueName("foreign");
    const kv = new PostgresKvStore(postgres.url, { tableName });
    const sql = pg(postgres.url, { onnotice: () => {} });
    try {
      await kv.set(["f", "good"], "fine");
      await sql.unsafe(`INSERT INTO ${tableName} (key, value) VALUES
        ('{}', '1'), ('{f,NULL}', '2'), ('{{f,good},{f,x}}', '3'), ('[0:1]={f,good}', '4'), ('[2:3]={f,y}', '5')`);
      assert.equal(await kv.get(["f", "good"]), "fine");
      assert.equal(await kv.get(["f", "y"]), undefined);
      assert.deepEqual(await listAll(kv, ["f"]), [{ key: ["f", "good"], value: "fine" }]);
      assert.deepEqual(await listAll(kv), [{ key: ["f", "good"], value: "fine" }]);
      assert.equal(await kv.cas(["f", "good"], "fine", "swapped"), true);
    } finally {
      await sql.end();
      await kv.drop();
      await kv.close();
    }
  });

  test("RedisKvStore: strings that are not JSON or UTF-8, other types, and names that are no key encoding", {
    skip: redis.skip,
  }, async () => {
    const { default: Redis } = await import("ioredis");
    const keyPrefix = `${uniqueName("foreign")}::`;
    const kv = new RedisKvStore(redis.url, { keyPrefix });
    const client = new Redis(redis.url);
    try {
      await kv.set(["f", "good"], "fine");
      await client.set(`${keyPrefix}f::text`, "not json");
      await client.set(`${keyPrefix}f::injection`, '1],[["f","fake"],2');
      await client.set(`${keyPrefix}f::bad utf-8`, Buffer.from([0x22, 0xff, 0x22]));
      await client.hset(`${keyPrefix}f::hash`, "a", "1");
      await client.rpush(`${keyPrefix}f::list`, "1");
      await client.set(`${keyPrefix}f:single-colon`, "1");
      await client.set(`${keyPrefix}f:::odd`, "1");
      for (const key of [
        ["f", "hash"],
        ["f", "list"],
      ]) {
        await assert.rejects(kv.get(key), hasCode("ERR_FEDIKV_INVALID_DATA"), `get ${key}`);
        await assert.rejects(kv.cas(key, "x", 1), hasCode("ERR_FEDIKV_INVALID_DATA"), `cas ${key}`);
      }
      await kv.delete(["f", "hash"]);
      await kv.set(["f", "list"], "replaced");
      assert.equal(await kv.get(["f", "list"]), "replaced");
      await kv.delete(["f", "list"]);
      await checkForeignRows(kv, {
        bad: [
          ["f", "text"],
          ["f", "injection"],
          ["f", "bad utf-8"],
        ],
      });
      assert.equal(
        await client.exists(`${keyPrefix}f:single-colon`),
        1,
        "a name that is no key of the store is left alone",
      );
    } finally {
      await kv.drop();
      await kv.close();
      await client.del(`${keyPrefix}f:single-colon`, `${keyPrefix}f:::odd`);
      await client.quit();
    }
  });
});

// Names that would break out of an identifier or a key pattern.
const HOSTILE_NAMES = [
  'kv"; DROP TABLE canary; --',
  "kv'",
  "kv`",
  "kv;",
  "kv -- x",
  "kv/*x*/",
  "kv*",
  "kv?",
  "kv[0]",
  "kv]",
  "kv\n",
  "kv\r\nx",
  "kv\0",
  "kv ",
  " kv",
  "kv-x",
  "kv%",
  "kv$1",
  "kv\\",
  "kv\u200b",
  "ｋｖ",
  "kvé",
  "1kv",
  "",
  "a.b.c",
  ".kv",
  "kv.",
  "kv..x",
  '"kv"',
  "`kv`",
  "[kv]",
];

describe("hostile table names and key prefixes", () => {
  test("table names that are not plain identifiers are a TypeError at construction, on every SQL store", () => {
    const makers = [
      (tableName) => new SqliteKvStore(":memory:", { tableName }),
      (tableName) => new PostgresKvStore("postgres://localhost/db", { tableName }),
      (tableName) => new MysqlKvStore("mysql://localhost/db", { tableName }),
    ];
    for (const make of makers) {
      for (const name of [...HOSTILE_NAMES, "x".repeat(65)]) {
        assert.throws(() => make(name), hasCode("ERR_FEDIKV_INVALID_OPTION", TypeError), JSON.stringify(name));
      }
    }
    // Per backend: PostgreSQL allows schema.table (no other dot); lengths.
    assert.throws(
      () => new PostgresKvStore("postgres://h/db", { tableName: "a".repeat(64) }),
      hasCode("ERR_FEDIKV_INVALID_OPTION", TypeError),
    );
    assert.throws(
      () => new MysqlKvStore("mysql://h/db", { tableName: "a".repeat(51) }),
      hasCode("ERR_FEDIKV_INVALID_OPTION", TypeError),
    );
    assert.throws(
      () => new SqliteKvStore(":memory:", { tableName: "public.kv" }),
      hasCode("ERR_FEDIKV_INVALID_OPTION", TypeError),
    );
    assert.throws(
      () => new MysqlKvStore("mysql://h/db", { tableName: "test.kv" }),
      hasCode("ERR_FEDIKV_INVALID_OPTION", TypeError),
    );
  });

  /**
   * The names a store accepts work, and touch nothing else: a canary store
   * on the default-shaped name keeps its entry through set, list, cas and
   * drop of the others.
   */
  async function usedSafely(open, names) {
    const canary = open(uniqueName("canary"));
    await canary.set(["canary"], "alive");
    try {
      for (const name of names) {
        const kv = open(name);
        await kv.set(["a", "b"], 1);
        await kv.set(["a", "*"], 2);
        assert.deepEqual((await listAll(kv, ["a"])).length, 2, name);
        assert.equal(await kv.cas(["a", "b"], 1, 3), true);
        await kv.drop();
        assert.equal(await kv.get(["a", "b"]), undefined, `${name}: dropped`);
        await kv.drop();
        await kv.close();
        assert.equal(await canary.get(["canary"]), "alive", `after ${name}`);
      }
    } finally {
      await canary.drop();
      await canary.close();
    }
  }

  test("SqliteKvStore: accepted odd table names work and touch no other table", async () => {
    const path = join(dir, "names.db");
    await usedSafely(
      (tableName) => new SqliteKvStore(path, { tableName }),
      ["_", "__", "T", "Canary_UPPER", "x".repeat(64)],
    );
  });

  test("PostgresKvStore: accepted odd table names work and touch no other table", { skip: postgres.skip }, async () => {
    const stem = uniqueName("n");
    await usedSafely(
      (tableName) => new PostgresKvStore(postgres.url, { tableName }),
      [`${stem}_UPPER`, `public.${stem}`, `_${stem}`, `${stem}_${"x".repeat(63 - stem.length - 1)}`],
    );
  });

  test("MysqlKvStore: accepted odd table names work and touch no other table", { skip: mysql.skip }, async () => {
    const stem = uniqueName("n");
    await usedSafely((tableName) => new MysqlKvStore(mysql.url, { tableName }), [`${stem}_UPPER`, `_${stem}`]);
  });

  test("RedisKvStore: key prefixes with glob characters, control characters, or none at all are a TypeError", () => {
    for (const keyPrefix of [
      "",
      "a*",
      "a?",
      "a[",
      "a]",
      "a\\",
      "a\n",
      "a\r",
      "a\0",
      "a\t",
      "a\u007f",
      "x".repeat(257),
    ]) {
      assert.throws(
        () => new RedisKvStore("redis://localhost", { keyPrefix }),
        hasCode("ERR_FEDIKV_INVALID_OPTION", TypeError),
        JSON.stringify(keyPrefix),
      );
    }
  });

  test("RedisKvStore: odd key prefixes work and touch no other key", { skip: redis.skip }, async () => {
    const { default: Redis } = await import("ioredis");
    const client = new Redis(redis.url);
    const stem = uniqueName("prefix");
    const canary = [`${stem}canary::x`, `${stem}"::a::b`, `${stem}x`, `${stem}{t}`, `${stem}%::a`, `${stem}p`];
    try {
      for (const key of canary) await client.set(key, '"canary"');
      const odd = [
        `"'; FLUSHALL; '`,
        "a\"b'c;d`e -- #x ",
        "{t}::",
        "}{::",
        "é😀::",
        "%_::",
        "p:",
        "::",
        " ",
        "$(rm -rf /)",
      ];
      for (const suffix of odd) {
        const keyPrefix = `${stem}${suffix}`;
        const kv = new RedisKvStore(redis.url, { keyPrefix });
        await kv.set(["a", "b"], 1);
        await kv.set(["a", "*?[]"], 2);
        assert.equal(await client.get(`${keyPrefix}a::b`), "1", `${keyPrefix}: the key is the prefix, then the parts`);
        assert.deepEqual(
          (await listAll(kv, ["a"])).map((e) => e.key).sort(),
          [
            ["a", "*?[]"],
            ["a", "b"],
          ],
          keyPrefix,
        );
        assert.equal(await kv.cas(["a", "b"], 1, 3), true);
        await kv.drop();
        assert.deepEqual(await listAll(kv), [], `${keyPrefix}: dropped`);
        await kv.close();
        for (const key of canary) assert.equal(await client.get(key), '"canary"', `${key} after ${keyPrefix}`);
      }
    } finally {
      await client.del(...canary);
      await client.quit();
    }
  });
});

describe("secrets", () => {
  const SECRET = "hunter2-S3cr3t";
  /** Connection failures, and malformed URLs, each holding the password. */
  const failures = [];
  failures.push(
    ["RedisKvStore", `redis://user:${SECRET}@127.0.0.1:1`],
    ["RedisKvStore", [`redis://user:${SECRET}@127.0.0.1:1`, `redis://u:${SECRET}@127.0.0.1:2`]],
    ["PostgresKvStore", `postgres://user:${SECRET}@127.0.0.1:1/db`],
    ["MysqlKvStore", `mysql://user:${SECRET}@127.0.0.1:1/db`],
    ["PostgresKvStore", `postgres://user:${SECRET}@127.0.0.1:notaport/db`],
    ["PostgresKvStore", `postgres://u@127.0.0.1:1/db?password=${SECRET}&sslmode=bogus`],
    ["MysqlKvStore", `mysql://user:${SECRET}@127.0.0.1:99999/db`],
    ["MysqlKvStore", `mysql://user:${SECRET}@[::1/db`],
    ["RedisKvStore", `redis://user:${SECRET}@[::1`],
    ["RedisKvStore", `redis://user:${SECRET}@127.0.0.1:6379/notadb`],
    ["DenoKvStore", "http://127.0.0.1:1", { accessToken: SECRET }],
    ["DenoKvStore", `http://user:${SECRET}@127.0.0.1:1`, { accessToken: "token" }],
  );
  // Servers that refuse the password (Redis has none set here, MariaDB's
  // root has none, and a user that does not exist), or the database; a
  // Deno KV access token is a secret too.
  if (!redis.skip) {
    const { host } = new URL(redis.url);
    failures.push(
      ["RedisKvStore", `redis://:${SECRET}@${host}`],
      ["RedisKvStore", `redis://someone:${SECRET}@${host}`],
    );
  }
  if (!mysql.skip) {
    const url = new URL(mysql.url);
    url.password = SECRET;
    failures.push(["MysqlKvStore", String(url)]);
    url.username = "nobody_fedikv";
    failures.push(["MysqlKvStore", String(url)]);
  }
  if (!postgres.skip) {
    // Trust authentication takes any password: a role and a database that
    // do not exist make the server refuse.
    const url = new URL(postgres.url);
    url.username = "nobody_fedikv";
    url.password = SECRET;
    failures.push(["PostgresKvStore", String(url)]);
    url.username = "postgres";
    url.pathname = "/no_such_db_fedikv";
    failures.push(["PostgresKvStore", String(url)]);
  }
  if (denokvServer) failures.push(["DenoKvStore", denokvServer.url, { accessToken: SECRET }]);
  const CLASSES = { RedisKvStore, PostgresKvStore, MysqlKvStore, DenoKvStore };

  test("a failed connection or a malformed URL never shows the password: message, String, stack, inspect", async () => {
    for (const [className, url, options] of failures) {
      let error;
      let kv;
      try {
        kv = new CLASSES[className](url, { connectTimeout: 1000, ...options });
        await kv.get(["k"]);
      } catch (e) {
        error = e;
      } finally {
        await kv?.close();
      }
      const where = `${className} ${JSON.stringify(url).replace(SECRET, "<secret>")}`;
      assert.ok(error, `${where} failed`);
      assert.ok(
        ["ERR_FEDIKV_CONNECTION", "ERR_FEDIKV_INVALID_OPTION"].includes(error.code),
        `${where}: ${error.code} ${error.message}`,
      );
      for (const text of [error.message, String(error), error.stack, inspect(error), JSON.stringify(error)]) {
        assert.ok(!text.includes(SECRET), `${where}: ${text}`);
        assert.ok(!text.includes("S3cr3t"), `${where}: ${text}`);
      }
    }
  });

  test("nor does the console when the failure is logged, or unhandled", async () => {
    const entry = fileURLToPath(new URL("../index.js", import.meta.url));
    const script = `
      const fedikv = require(${JSON.stringify(entry)});
      const failures = ${JSON.stringify(failures)};
      (async () => {
        for (const [className, url, options] of failures) {
          const kv = (() => { try { return new fedikv[className](url, { connectTimeout: 1000, ...options }); } catch (e) { console.error(e); console.log(e); } })();
          if (!kv) continue;
          await kv.get(["k"]).catch((e) => { console.error(e); console.log("%o", e); });
          await kv.close();
        }
        // The last one is left unhandled: Node prints it and exits with 1.
        await new fedikv[failures[0][0]](failures[0][1], { connectTimeout: 1000 }).get(["k"]);
      })();
    `;
    const { stdout, stderr } = await run(process.execPath, evalArgs(script), { timeout: 120_000 }).then(
      () => assert.fail("the unhandled rejection ends the process with an error"),
      (error) => error,
    );
    assert.match(stderr, /ERR_FEDIKV_CONNECTION/);
    assert.ok(stdout.length > 0 && stderr.length > 0);
    assert.ok(!stdout.includes(SECRET) && !stderr.includes(SECRET), `${stdout}\n${stderr}`);
  });
});
