// The `fedikv` command run as a user runs it: the real bin in a child
// process, checked by its exit status and output. Migrations between
// SQLite, PostgreSQL, Redis and Deno KV (memory → MySQL is in
// open.test.mjs: no other process can reach a MemoryKvStore), each on its
// own table or key prefix of the shared servers, dropped at the end.
import assert from "node:assert/strict";
import { spawn } from "node:child_process";
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { after, describe, test } from "node:test";
import * as fedikv from "fedikv";
import { openKvStore } from "fedikv";
import { denokvBinary, startDenokvServer } from "./support/denokv-server.mjs";
import { assertSameEntries, EXPIRED, expectedSnapshot, LIVE, seed, snapshot, withParam } from "./support/migration.mjs";
import { server, uniqueName } from "../support/servers.mjs";
import { bin, fedikvCli } from "./support/cli.mjs";
import { scriptArgs } from "./support/runtime.mjs";

const dir = mkdtempSync(join(tmpdir(), "fedikv-cli-"));
after(() => rmSync(dir, { recursive: true, force: true }));
let files = 0;
const sqliteUrl = () => `sqlite:${join(dir, `kv${files++}.db`)}`;

/** A failure as the command promises it: one line on stderr, that status. */
function assertFails(run, status, pattern) {
  assert.equal(run.code, status, `exit status of a failure (stderr: ${run.stderr})`);
  const lines = run.stderr.trimEnd().split("\n");
  assert.equal(lines.length, 1, `one line on stderr, not: ${run.stderr}`);
  assert.match(lines[0], /^fedikv( [a-z]+)?: /);
  assert.match(lines[0], pattern);
}

const [redis, postgres] = await Promise.all([server("redis"), server("postgres")]);
const denokv = denokvBinary();

describe("fedikv command line", () => {
  test("--help on every command", async () => {
    const main = await fedikvCli(["--help"]);
    assert.equal(main.code, 0);
    assert.match(main.stdout, /^Usage: fedikv <command>/);
    for (const command of ["ls", "get", "set", "rm", "stats", "migrate"]) {
      assert.match(main.stdout, new RegExp(`^  ${command} `, "m"));
      for (const args of [
        [command, "--help"],
        [command, "-h"],
        ["help", command],
      ]) {
        const run = await fedikvCli(args);
        assert.equal(run.code, 0, args.join(" "));
        assert.match(run.stdout, new RegExp(`^Usage: fedikv ${command} `), args.join(" "));
        assert.match(run.stdout, /--help/);
        assert.equal(run.stderr, "");
      }
    }
    const bare = await fedikvCli([]);
    assert.equal(bare.code, 2);
    assert.match(bare.stdout, /^Usage: fedikv/);
  });

  test("mistakes on the command line: one line on stderr, status 2", async () => {
    const url = sqliteUrl();
    assertFails(await fedikvCli(["frobnicate"]), 2, /no command "frobnicate"/);
    assertFails(await fedikvCli(["ls", url, "--bogus"]), 2, /--bogus/);
    assertFails(await fedikvCli(["get"]), 2, /URL is missing/);
    assertFails(await fedikvCli(["get", url]), 2, /key part/);
    assertFails(await fedikvCli(["set", url, "k"]), 2, /--value is missing/);
    assertFails(await fedikvCli(["set", url, "k", "--value", "{"]), 2, /not JSON/);
    assertFails(await fedikvCli(["set", url, "k", "--value", "1", "--ttl", "5 minutes"]), 2, /not a duration/);
    assertFails(await fedikvCli(["ls", url, "--key", "[1]"]), 2, /JSON array of strings/);
    assertFails(await fedikvCli(["ls", "ftp://example.com/x"]), 2, /unknown scheme ftp.*accepted forms: memory:/);
    assertFails(await fedikvCli(["ls", "memory:"]), 2, /memory: is a store inside one process.*migrate\(\)/);
    assertFails(await fedikvCli(["migrate", "memory:", url]), 2, /memory:/);
    assertFails(await fedikvCli(["migrate", url]), 2, /FROM_URL and TO_URL/);
    assertFails(await fedikvCli(["migrate", url, url]), 2, /same store/);
    assertFails(await fedikvCli(["migrate", url, sqliteUrl(), "app"]), 2, /need --prefix/);
    assertFails(await fedikvCli(["migrate", url, sqliteUrl(), "--batch", "0"]), 2, /--batch/);
    // A password never shows.
    const masked = await fedikvCli(["ls", "mongodb://user:hunter2@db.example/x"]);
    assertFails(masked, 2, /mongodb/);
    assert.ok(!masked.stderr.includes("hunter2"));
  });

  test("set, get, ls, stats and rm on a SQLite file", async () => {
    const url = sqliteUrl();
    const set = await fedikvCli([
      "set",
      url,
      "_fedify",
      "publicKey",
      "https://a.example/key",
      "--value",
      '{"pem":"x"}',
      "--ttl",
      "1h30m",
    ]);
    assert.equal(set.code, 0, set.stderr);
    assert.equal(set.stdout, 'set ["_fedify","publicKey","https://a.example/key"] (expires in 1h 30m)\n');
    assert.equal((await fedikvCli(["set", url, "_fedify", "x", "--value", "true"])).code, 0);
    assert.equal(
      (await fedikvCli(["set", url, "--key", '["app","-dash"]', "--value", '"text"', "--ttl", "90s"])).code,
      0,
    );
    // A part that starts with "-" after "--"; a value that does after "=".
    assert.equal((await fedikvCli(["set", url, "--value=-1", "--", "app", "-1"])).code, 0);

    const got = await fedikvCli(["get", url, "_fedify", "publicKey", "https://a.example/key"]);
    assert.deepEqual([got.code, JSON.parse(got.stdout)], [0, { pem: "x" }]);
    assert.equal((await fedikvCli(["get", url, "--key", '["app","-dash"]'])).stdout, '"text"\n');
    assertFails(await fedikvCli(["get", url, "nope"]), 1, /no live entry under \["nope"\]/);

    const ls = await fedikvCli(["ls", url]);
    assert.equal(ls.code, 0, ls.stderr);
    const lines = ls.stdout.trimEnd().split("\n");
    assert.match(lines[0], /^KEY +TTL +VALUE$/);
    assert.match(ls.stdout, /^\["_fedify","publicKey","https:\/\/a\.example\/key"\] +1h 29m +\{"pem":"x"\}$/m);
    assert.match(ls.stdout, /^\["_fedify","x"\] +- +true$/m);
    assert.match(ls.stdout, /^\["app","-dash"\] +1m [0-3]\ds +"text"$/m);
    assert.equal(lines.at(-1), "4 entries");
    const under = await fedikvCli(["ls", url, "app"]);
    assert.equal(under.stdout.trimEnd().split("\n").at(-1), "2 entries");
    const limited = await fedikvCli(["ls", url, "--limit", "1"]);
    assert.match(limited.stdout, /1 entry \(--limit reached\)\n$/);

    const json = await fedikvCli(["ls", url, "--json"]);
    const rows = json.stdout
      .trimEnd()
      .split("\n")
      .map((line) => JSON.parse(line));
    assert.equal(rows.length, 4);
    const key = rows.find((r) => r.key[1] === "publicKey");
    assert.ok(key.ttlMs > 5_390_000 && key.ttlMs <= 5_400_000, `ttlMs ${key.ttlMs}`);
    assert.ok(Math.abs(Date.parse(key.expiresAt) - Date.now() - key.ttlMs) < 5_000);
    assert.deepEqual(
      rows.find((r) => r.key[1] === "x"),
      { key: ["_fedify", "x"], value: true, ttlMs: null, expiresAt: null },
    );

    const stats = await fedikvCli(["stats", url, "--depth", "1"]);
    assert.equal(stats.code, 0, stats.stderr);
    assert.match(stats.stdout, /^GROUP +ENTRIES +BYTES +EXPIRING +PERMANENT$/m);
    assert.match(stats.stdout, /^\["_fedify"\] +2 +\d+ +1 +1$/m);
    assert.match(stats.stdout, /^\["app"\] +2 +\d+ +1 +1$/m);
    assert.match(stats.stdout, /^total +4 +\d+ +2 +2$/m);
    const statsJson = JSON.parse((await fedikvCli(["stats", url, "--json"])).stdout);
    assert.equal(statsJson.depth, 2);
    assert.deepEqual(statsJson.total.entries, 4);
    assert.deepEqual(
      statsJson.groups.map((g) => g.group),
      [
        ["_fedify", "publicKey"],
        ["_fedify", "x"],
        ["app", "-1"],
        ["app", "-dash"],
      ],
    );
    const bytes = Buffer.byteLength('["_fedify","x"]') + Buffer.byteLength("true");
    assert.equal(statsJson.groups[1].bytes, bytes);

    // rm asks; with no terminal to ask on, it wants --yes and deletes nothing.
    assertFails(await fedikvCli(["rm", url, "_fedify", "x"]), 2, /--yes/);
    assert.equal((await fedikvCli(["get", url, "_fedify", "x"])).code, 0);
    const rm = await fedikvCli(["rm", url, "_fedify", "x", "--yes"]);
    assert.deepEqual([rm.code, rm.stdout], [0, 'deleted ["_fedify","x"]\n']);
    assert.equal(
      (await fedikvCli(["rm", url, "_fedify", "x", "-y"])).stdout,
      'no live entry under ["_fedify","x"]: nothing deleted\n',
    );
    const rmPrefix = await fedikvCli(["rm", url, "app", "--prefix", "--yes"]);
    assert.deepEqual([rmPrefix.code, rmPrefix.stdout], [0, 'deleted 2 entries under ["app"]\n']);
    assert.equal((await fedikvCli(["ls", url])).stdout.trimEnd().split("\n").at(-1), "1 entry");
  });

  test("ls streams a large store without loading it, and stops quietly at a closed pipe", async () => {
    const url = sqliteUrl();
    const store = openKvStore(url);
    for (let i = 0; i < 3000; i++) await store.set(["bulk", String(i).padStart(5, "0")], { i });
    await store.close();
    const ls = await fedikvCli(["ls", url, "bulk", "--json"]);
    assert.equal(ls.code, 0);
    assert.equal(ls.stdout.trimEnd().split("\n").length, 3000);
    // `fedikv ls … | head -1`: the reader leaves; no error.
    const child = spawn(process.execPath, scriptArgs(bin, "ls", url), { stdio: ["ignore", "pipe", "pipe"] });
    let stderr = "";
    child.stderr.on("data", (d) => (stderr += d));
    child.stdout.once("data", () => child.stdout.destroy());
    const code = await new Promise((resolve) => child.on("close", resolve));
    assert.equal(code, 0);
    assert.equal(stderr, "");
  });
});

/**
 * Seeds FROM, migrates it to TO with the real command, and checks: values
 * equal, TTLs within a second, the expired entry not copied, the count
 * check; a second run refuses the non-empty target, and with --merge
 * writes nothing and changes nothing.
 */
async function checkMigration(fromUrl, toUrl) {
  const source = openKvStore(fromUrl);
  const setAt = Date.now();
  await seed(source);
  const expected = await snapshot(source);
  assertSameEntries(expected, expectedSnapshot(setAt));
  await source.close();

  const run = await fedikvCli(["migrate", fromUrl, toUrl]);
  assert.equal(run.code, 0, run.stderr);
  const withTtl = LIVE.filter(([, , ttl]) => ttl !== null).length;
  assert.match(
    run.stdout,
    new RegExp(`^copied ${LIVE.length} entries \\(${withTtl} with a TTL\\), 0 already equal in the target in `),
  );
  assert.match(run.stdout, new RegExp(`^check: source ${LIVE.length}, target ${LIVE.length} live entries: ok$`, "m"));
  // Not a terminal: plain progress lines, ending at 100 %.
  assert.match(run.stderr, /^progress: 100% {2}6\/6 {2}[\d,]+\/s {2}ETA /m);
  assert.ok(!run.stderr.includes("\r"));

  const target = openKvStore(toUrl);
  try {
    const copied = await snapshot(target);
    assertSameEntries(copied, expected);
    assert.equal(await target.get(EXPIRED[0]), undefined);

    const refused = await fedikvCli(["migrate", fromUrl, toUrl]);
    assertFails(refused, 1, /the target already holds entries.*--merge/);
    assertSameEntries(await snapshot(target), copied, 50);

    const again = await fedikvCli(["migrate", fromUrl, toUrl, "--merge"]);
    assert.equal(again.code, 0, again.stderr);
    assert.match(
      again.stdout,
      new RegExp(`^copied 0 entries \\(0 with a TTL\\), ${LIVE.length} already equal in the target`),
    );
    assert.match(again.stdout, /: ok$/m);
    assertSameEntries(await snapshot(target), copied);
  } finally {
    await target.drop?.();
    await target.close();
  }
}

/** Drops what a test made under `url` (a table, a key prefix). */
async function dropStore(url) {
  const store = openKvStore(url);
  await store.drop?.();
  await store.close();
}

describe("fedikv migrate", () => {
  const pgUrl = () => withParam(postgres.url, "tableName", uniqueName("cli"));
  const redisUrl = () => withParam(redis.url, "keyPrefix", `${uniqueName("cli")}::`);

  test("SQLite → PostgreSQL", { skip: postgres.skip }, async () => {
    await checkMigration(sqliteUrl(), pgUrl());
  });

  test("PostgreSQL → Redis", { skip: postgres.skip || redis.skip }, async () => {
    const from = pgUrl();
    try {
      await checkMigration(from, redisUrl());
    } finally {
      await dropStore(from);
    }
  });

  test("Redis → SQLite", { skip: redis.skip }, async () => {
    const from = redisUrl();
    try {
      await checkMigration(from, sqliteUrl());
    } finally {
      await dropStore(from);
    }
  });

  test("SQLite → Deno KV file", {
    skip: fedikv.DenoKvStore === undefined && "DenoKvStore is not in this build",
  }, async () => {
    await checkMigration(sqliteUrl(), `denokv:${join(dir, `deno${files++}.sqlite3`)}`);
  });

  test("into Deno KV over KV Connect, and what it cannot tell: TTLs shown as unknown, no migrating from it", {
    skip: denokv.skip,
  }, async () => {
    const kvConnect = await startDenokvServer();
    const env = { DENO_KV_ACCESS_TOKEN: kvConnect.accessToken };
    try {
      const from = sqliteUrl();
      const source = openKvStore(from);
      await seed(source);
      const expected = await snapshot(source);
      await source.close();
      const run = await fedikvCli(["migrate", from, kvConnect.url], { env });
      assert.equal(run.code, 0, run.stderr);
      assert.match(
        run.stdout,
        new RegExp(`^check: source ${LIVE.length}, target ${LIVE.length} live entries: ok$`, "m"),
      );
      // The server's own file knows the expiries KV Connect does not tell.
      const file = openKvStore(`denokv:${kvConnect.sqlitePath}`);
      assertSameEntries(await snapshot(file), expected);
      await file.close();

      const ls = await fedikvCli(["ls", kvConnect.url, "app"], { env });
      assert.equal(ls.code, 0, ls.stderr);
      assert.match(
        ls.stderr.trimEnd(),
        /^fedikv: note: .*KV Connect does not tell when an entry expires.*unknown \(\?\)$/,
      );
      assert.match(ls.stdout, /^\["app","counter"\] +\? +42$/m);
      const json = await fedikvCli(["ls", kvConnect.url, "app", "counter", "--json"], { env });
      assert.deepEqual(JSON.parse(json.stdout), { key: ["app", "counter"], value: 42 });
      const stats = await fedikvCli(["stats", kvConnect.url], { env });
      assert.match(stats.stdout, /^total +6 +\d+ +0 +0 +6$/m);

      const back = await fedikvCli(["migrate", kvConnect.url, sqliteUrl()], { env });
      assertFails(back, 1, /KV Connect does not tell when an entry expires/);
    } finally {
      kvConnect.stop();
    }
  });

  test("--dry-run writes nothing; --prefix copies only what is under it", { skip: postgres.skip }, async () => {
    const from = sqliteUrl();
    const source = openKvStore(from);
    await seed(source);
    await source.close();
    const to = pgUrl();
    try {
      const dry = await fedikvCli(["migrate", from, to, "--dry-run"]);
      assert.equal(dry.code, 0, dry.stderr);
      const withTtl = LIVE.filter(([, , ttl]) => ttl !== null).length;
      assert.match(dry.stdout, new RegExp(`^would copy ${LIVE.length} entries \\(${withTtl} with a TTL\\)`));
      assert.match(dry.stdout, /^dry run: nothing was written$/m);
      const target = openKvStore(to);
      assert.equal((await snapshot(target)).size, 0);

      const some = await fedikvCli(["migrate", from, to, "--prefix", "_fedify", "--batch", "1"]);
      assert.equal(some.code, 0, some.stderr);
      const fedify = LIVE.filter(([key]) => key[0] === "_fedify");
      assert.match(some.stdout, new RegExp(`^copied ${fedify.length} entries`));
      assert.match(
        some.stdout,
        new RegExp(`^check: source ${fedify.length}, target ${fedify.length} live entries under the prefix: ok$`, "m"),
      );
      assert.deepEqual([...(await snapshot(target)).keys()].sort(), fedify.map(([key]) => JSON.stringify(key)).sort());
      // One progress line per tenth, not per batch.
      assert.ok(some.stderr.split("\n").filter((l) => l.startsWith("progress:")).length <= 11);
      // Another prefix into the same target: only that prefix must be empty.
      const app = await fedikvCli(["migrate", from, to, "--prefix", "app"]);
      assert.equal(app.code, 0, app.stderr);
      assert.equal((await snapshot(target)).size, LIVE.length);
      await target.close();
    } finally {
      await dropStore(to);
    }
  });

  test("a server that cannot be reached: one line, status 1, no password", async () => {
    const run = await fedikvCli(["migrate", sqliteUrl(), "postgres://user:hunter2@127.0.0.1:1/db"]);
    assertFails(run, 1, /PostgreSQL/);
    assert.ok(!run.stderr.includes("hunter2"));
  });
});
