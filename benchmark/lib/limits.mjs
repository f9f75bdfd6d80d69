// The physical limits, measured in the same run as the stores: what the
// work a store cannot avoid costs by itself, so that each fedikv figure can
// be read as a share of what is possible on this machine.
//
// A limit is `{ name, of, opsPerSec: { [concurrency]: n }, anyConcurrency,
// basis, note }`: `of` is the workload it bounds; `anyConcurrency` says
// that it holds at every concurrency (one thread, or one connection, does
// all the work whatever the number of callers); `basis` marks the limits a
// percentage is taken against (the best of them, where there are several);
// the others are shown beside them.
import { execFile } from "node:child_process";
import { Socket } from "node:net";
import { promisify } from "node:util";
import { runInNewContext } from "node:vm";
import Database from "better-sqlite3";
import { loadProbes } from "./boundary.mjs";
import { note } from "./documents.mjs";

const run = promisify(execFile);
const GET = "get (hit, 1.5 KB)";
const SET = "set (1.5 KB)";
const LIST = "list 1,000 of 100,000";

/** Rate of `op` at concurrency 1 through the harness that times the stores. */
async function rate(timeOps, durationMs, op, minOps = 20) {
  return (await timeOps({ concurrency: 1, durationMs, op, minOps })).opsPerSec;
}

/**
 * The memory store must copy (what `get` returns is
 * `JSON.parse(JSON.stringify(v))` of what was set): a bare `JSON.stringify`
 * of the 1.5 KB note is the limit of its `set`, a bare `JSON.parse` of its
 * text the limit of its `get`. Both are timed the way the store calls them,
 * each call awaited in the same harness as the stores' operations, on the
 * one JS thread (so they hold at any concurrency). index.js stringifies with
 * a `JSON.stringify` from a fresh realm (V8's own), since core-js (in
 * Fedify's jsonld) replaces the global one; this realm's global is timed
 * too, for comparison.
 */
export function memoryLimits() {
  return {
    measure: async (timeOps, { durationMs }) => {
      const freshStringify = runInNewContext("JSON.stringify");
      const value = JSON.parse(JSON.stringify(note(0)));
      const text = freshStringify(value);
      // core-js's replacement passes for native (its toString says so); its
      // shared store on globalThis is what gives it away.
      const coreJs = typeof globalThis["__core-js_shared__"] === "object";
      return [
        {
          name: "JSON.stringify from a fresh realm (V8's own, as index.js calls it)",
          of: SET,
          opsPerSec: { 1: await rate(timeOps, durationMs, async () => freshStringify(value)) },
          anyConcurrency: true,
          basis: true,
        },
        {
          name: `JSON.stringify of this realm's global (${coreJs ? "core-js's replacement: core-js is loaded" : "V8's own: core-js is not loaded"})`,
          of: SET,
          opsPerSec: { 1: await rate(timeOps, durationMs, async () => JSON.stringify(value)) },
          anyConcurrency: true,
          basis: false,
        },
        {
          name: "JSON.parse of the note's text",
          of: GET,
          opsPerSec: { 1: await rate(timeOps, durationMs, async () => JSON.parse(text)) },
          anyConcurrency: true,
          basis: true,
        },
      ];
    },
  };
}

/**
 * The SQLite engine on the table layout and pragmas of fedikv's store
 * (src/sqlite.rs: WAL, `synchronous = NORMAL`, the `expires` index) and
 * its statements, with no JSON and no validation: better-sqlite3's
 * prepared statements from JS (the percentage's basis: the engine as a
 * JS program reaches it), and rusqlite from Rust alone, timed in Rust by
 * the benchmark's own addon (src/boundary_probe.rs), which shows what the
 * crossing into JS costs. One connection, synchronous: the same at any
 * concurrency.
 */
export function sqliteLimits(pathFor) {
  return {
    measure: async (timeOps, { durationMs }) => {
      const text = JSON.stringify(note(0));
      const db = new Database(pathFor("better-sqlite3"));
      db.pragma("journal_mode = WAL");
      db.pragma("synchronous = NORMAL");
      db.exec(
        "CREATE TABLE IF NOT EXISTS fedify_kv (key TEXT PRIMARY KEY, value TEXT NOT NULL, created INTEGER NOT NULL, expires INTEGER);" +
          "CREATE INDEX IF NOT EXISTS idx_fedify_kv_expires ON fedify_kv (expires)",
      );
      const set = db.prepare(
        "INSERT INTO fedify_kv (key, value, created, expires) VALUES (?, ?, ?, ?) " +
          "ON CONFLICT(key) DO UPDATE SET value = excluded.value, expires = excluded.expires",
      );
      const get = db.prepare("SELECT value FROM fedify_kv WHERE key = ? AND (expires IS NULL OR expires > ?)").pluck();
      db.transaction(() => {
        for (let i = 0; i < 1000; i++) set.run(`["doc","${i}"]`, text, 0, null);
      })();
      const version = db.prepare("SELECT sqlite_version()").pluck().get();
      const bs = `better-sqlite3 prepared statements (SQLite ${version}, WAL)`;
      const getRate = await rate(timeOps, durationMs, async (i) => get.get(`["doc","${i % 1000}"]`, 0));
      const setRate = await rate(timeOps, durationMs, async (i) => set.run(`["doc","${i % 1000}"]`, text, 0, null));
      // The ceiling the benchmark had before: no index, and an upsert of
      // the value alone. Less work than the store's (the `expires` column
      // it sets is indexed, so each write updates the index too), so it is
      // shown, not taken as the limit.
      db.exec(
        "CREATE TABLE bare (key TEXT PRIMARY KEY, value TEXT NOT NULL, created INTEGER NOT NULL, expires INTEGER)",
      );
      const bareSet = db.prepare(
        "INSERT INTO bare VALUES (?, ?, 0, NULL) ON CONFLICT(key) DO UPDATE SET value = excluded.value",
      );
      db.transaction(() => {
        for (let i = 0; i < 1000; i++) bareSet.run(`["doc","${i}"]`, text);
      })();
      const bareSetRate = await rate(timeOps, durationMs, async (i) => bareSet.run(`["doc","${i % 1000}"]`, text));
      db.close();
      const rust = loadProbes().probeRusqliteRates(pathFor("rusqlite"), text, Math.round(durationMs));
      const rs = `rusqlite from Rust alone, no JS (SQLite ${rust.sqliteVersion}, WAL)`;
      const entry = (name, of, n, basis) => ({ name, of, opsPerSec: { 1: n }, anyConcurrency: true, basis });
      return [
        entry(bs, GET, getRate, true),
        entry(rs, GET, rust.get, false),
        entry(bs, SET, setRate, true),
        entry(rs, SET, rust.set, false),
        entry(
          `better-sqlite3, a table without the index, upserting the value alone (SQLite ${version}, WAL)`,
          SET,
          bareSetRate,
          false,
        ),
      ];
    },
  };
}

/**
 * The ceiling of a server's own tool (redis-benchmark, pgbench,
 * mysqlslap), `{ [workload]: { [concurrency]: ops/s } }`, as limits.
 */
export function ceilingLimits(label, ceiling) {
  return Object.entries(ceiling ?? {}).map(([of, opsPerSec]) => ({
    name: label,
    of,
    opsPerSec,
    anyConcurrency: false,
    basis: true,
  }));
}

/**
 * A listing on Redis is a `SCAN … MATCH` over the whole key space (the
 * `@fedify/redis` layout has no index by prefix), so its limit is a bare
 * SCAN loop over the same key space, at the same moment, with the same
 * pattern: one full iteration from cursor 0 back to 0 is one listing.
 * Timed three ways, each on one connection: RESP spoken by hand over
 * node:net (no client library) with COUNT 1000 and 10000, and
 * `redis-cli --scan --pattern` (its default COUNT, 10; each run a process
 * of its own, and it prints every key), the server's own tool.
 */
export function redisScanLimits(url) {
  const { hostname, port } = new URL(url);
  const host = hostname.replace(/^\[|\]$/g, "");
  const portNumber = Number(port || 6379);
  return {
    // Right after the listing itself, before any other workload grows the key space.
    after: LIST,
    measure: async ({ pattern, expected, timeOps, durationMs }) => {
      const conn = await RespConnection.open(host, portNumber);
      try {
        const keys = Number(await conn.command(["DBSIZE"]));
        const scans = [];
        for (const count of [1000, 10000]) {
          const opsPerSec = await rate(
            timeOps,
            durationMs,
            async () => {
              const found = await fullScan(conn, pattern, count);
              // More is possible: SCAN may return a key twice while Redis rehashes.
              if (found < expected) throw new Error(`SCAN found ${found} keys, not ${expected}`);
            },
            3,
          );
          scans.push({ name: `bare SCAN MATCH, COUNT ${count} (RESP over node:net)`, opsPerSec });
        }
        const started = performance.now();
        let runs = 0;
        do {
          const { stdout } = await run(
            "redis-cli",
            ["-h", host, "-p", String(portNumber), "--scan", "--pattern", pattern],
            { maxBuffer: 1 << 28, timeout: 120_000 },
          );
          const found = stdout.split("\n").filter(Boolean).length;
          if (found < expected) throw new Error(`redis-cli --scan found ${found} keys, not ${expected}`);
          runs++;
        } while (performance.now() - started < durationMs && runs < 20);
        scans.push({
          name: "redis-cli --scan --pattern (default COUNT)",
          opsPerSec: runs / ((performance.now() - started) / 1000),
        });
        return scans.map(({ name, opsPerSec }) => ({
          name,
          of: LIST,
          opsPerSec: { 1: opsPerSec },
          anyConcurrency: false,
          basis: true,
          note: `${keys.toLocaleString("en-US")} keys in the database`,
        }));
      } finally {
        conn.close();
      }
    },
  };
}

/** One full `SCAN` iteration with `MATCH pattern COUNT count`; the keys found. */
async function fullScan(conn, pattern, count) {
  let cursor = "0";
  let found = 0;
  do {
    const [next, keys] = await conn.command(["SCAN", cursor, "MATCH", pattern, "COUNT", String(count)]);
    cursor = next.toString();
    found += keys.length;
  } while (cursor !== "0");
  return found;
}

/**
 * The least of a Redis client: commands written as RESP arrays of bulk
 * strings, replies parsed as they arrive, one command at a time. Bulk
 * strings come back as Buffers (never decoded), integers as numbers.
 */
class RespConnection {
  static open(host, port) {
    return new Promise((resolve, reject) => {
      const socket = new Socket();
      socket.setNoDelay(true);
      socket.once("error", reject);
      socket.connect(port, host, () => {
        socket.off("error", reject);
        resolve(new RespConnection(socket));
      });
    });
  }

  constructor(socket) {
    this.socket = socket;
    this.buffer = Buffer.alloc(0);
    this.waiting = null;
    socket.on("data", (chunk) => {
      this.buffer = this.buffer.length === 0 ? chunk : Buffer.concat([this.buffer, chunk]);
      this.settle();
    });
    socket.on("error", (error) => this.fail(error));
    socket.on("close", () => this.fail(new Error("Redis closed the connection")));
  }

  command(args) {
    const parts = [`*${args.length}\r\n`];
    for (const arg of args) parts.push(`$${Buffer.byteLength(arg)}\r\n${arg}\r\n`);
    return new Promise((resolve, reject) => {
      this.waiting = { resolve, reject };
      this.socket.write(parts.join(""));
    });
  }

  settle() {
    if (!this.waiting) return;
    const parsed = parseReply(this.buffer, 0);
    if (!parsed) return;
    this.buffer = this.buffer.subarray(parsed.end);
    const { resolve, reject } = this.waiting;
    this.waiting = null;
    if (parsed.value instanceof Error) reject(parsed.value);
    else resolve(parsed.value);
  }

  fail(error) {
    const waiting = this.waiting;
    this.waiting = null;
    waiting?.reject(error);
  }

  close() {
    this.socket.destroy();
  }
}

/** The RESP reply at `at`, `{ value, end }`, or null when not all of it has arrived. */
function parseReply(buffer, at) {
  const lineEnd = buffer.indexOf("\r\n", at);
  if (lineEnd < 0) return null;
  const type = buffer[at];
  const line = buffer.toString("latin1", at + 1, lineEnd);
  const next = lineEnd + 2;
  switch (type) {
    case 0x2b: // +
      return { value: line, end: next };
    case 0x2d: // -
      return { value: new Error(`Redis: ${line}`), end: next };
    case 0x3a: // :
      return { value: Number(line), end: next };
    case 0x24: {
      // $
      const length = Number(line);
      if (length < 0) return { value: null, end: next };
      if (buffer.length < next + length + 2) return null;
      return { value: buffer.subarray(next, next + length), end: next + length + 2 };
    }
    case 0x2a: {
      // *
      const length = Number(line);
      const items = [];
      let end = next;
      for (let i = 0; i < length; i++) {
        const item = parseReply(buffer, end);
        if (!item) return null;
        items.push(item.value);
        end = item.end;
      }
      return { value: items, end };
    }
    default:
      throw new Error(`unexpected RESP reply type ${String.fromCharCode(type)}`);
  }
}
