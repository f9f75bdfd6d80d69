/**
 * fedikv: key–value stores for Fedify, written in Rust.
 *
 * Every store implements Fedify's `KvStore` interface, so it can be passed
 * as the `kv` option of `createFederation()`:
 *
 * ```ts
 * import { createFederation } from "@fedify/fedify";
 * import { SqliteKvStore } from "fedikv";
 *
 * const federation = createFederation({ kv: new SqliteKvStore("./fedify.db") });
 * ```
 *
 * @module
 */

/** A key: one or more strings (Fedify's `KvKey`). */
export type KvKey = readonly [string] | readonly [string, ...string[]];

/**
 * The part of `Temporal.Duration` that fedikv reads: pass a
 * `Temporal.Duration` (native, or from `@js-temporal/polyfill`).
 */
export interface DurationLike {
  readonly years: number;
  readonly months: number;
  readonly weeks: number;
  readonly days: number;
  readonly hours: number;
  readonly minutes: number;
  readonly seconds: number;
  readonly milliseconds: number;
  readonly microseconds: number;
  readonly nanoseconds: number;
}

/** Options of `set()` and `cas()`. */
export interface KvStoreSetOptions {
  /**
   * How long the value lives: a `Temporal.Duration`, precise to the
   * millisecond (fractions of a second included). Years and months are
   * measured from now. A negative duration is a `RangeError`.
   */
  ttl?: DurationLike;
}

/** One entry yielded by `list()`. */
export interface KvStoreListEntry {
  readonly key: KvKey;
  readonly value: unknown;
}

/**
 * The `code` of every error a fedikv store throws or rejects with:
 *
 * - `ERR_FEDIKV_INVALID_KEY` (`TypeError`): the key is not a non-empty array
 *   of strings, or a part has a lone surrogate.
 * - `ERR_FEDIKV_INVALID_VALUE` (`TypeError`): the value cannot be JSON
 *   (a `BigInt`, a cycle, a function).
 * - `ERR_FEDIKV_INVALID_TTL` (`RangeError`): the TTL is negative, not a
 *   duration, or longer than 1,000 years.
 * - `ERR_FEDIKV_INVALID_OPTION` (`TypeError`): a constructor option is wrong
 *   (a table name other than letters, digits and underscores, say).
 * - `ERR_FEDIKV_CLOSED`: the store was closed.
 * - `ERR_FEDIKV_CONNECTION`: the backend cannot be reached or opened.
 * - `ERR_FEDIKV_BACKEND`: the backend failed (a full disk, a failed query…).
 * - `ERR_FEDIKV_BUSY`: another connection held a lock longer than the store
 *   waits (SQLite: 5 s); trying again later may succeed.
 * - `ERR_FEDIKV_INVALID_DATA`: what the backend holds is not JSON.
 * - `ERR_FEDIKV_UNSUPPORTED`: the store cannot do this.
 * - `ERR_FEDIKV_NOT_EMPTY`: {@link migrate} found entries in the target and
 *   was not told to merge.
 * - `ERR_FEDIKV_INTERNAL`: a bug in fedikv, caught before it could crash the
 *   process; please report it.
 * - `ERR_FEDIKV_LOAD`: thrown by `import "fedikv"` itself when the native
 *   addon cannot be loaded; the message names the runtime, the platform and
 *   why each file failed (or, without a prebuilt binary, which platforms
 *   have one and how to build from source).
 */
export type FedikvErrorCode =
  | "ERR_FEDIKV_INVALID_KEY"
  | "ERR_FEDIKV_INVALID_VALUE"
  | "ERR_FEDIKV_INVALID_TTL"
  | "ERR_FEDIKV_INVALID_OPTION"
  | "ERR_FEDIKV_CLOSED"
  | "ERR_FEDIKV_CONNECTION"
  | "ERR_FEDIKV_BACKEND"
  | "ERR_FEDIKV_BUSY"
  | "ERR_FEDIKV_INVALID_DATA"
  | "ERR_FEDIKV_UNSUPPORTED"
  | "ERR_FEDIKV_NOT_EMPTY"
  | "ERR_FEDIKV_INTERNAL"
  | "ERR_FEDIKV_LOAD";

/**
 * What every fedikv store does: Fedify's `KvStore`, plus `close()`.
 * Values are JSON: `get` returns `JSON.parse(JSON.stringify(value))` of what
 * was set, a copy. Not constructed directly; use a store class.
 */
export declare abstract class FedikvKvStore {
  /**
   * The live value of `key`, or `undefined` when it is absent or expired.
   * @throws {TypeError} `ERR_FEDIKV_INVALID_KEY` for a key that is not a
   *   non-empty array of strings.
   */
  get<T = unknown>(key: KvKey): Promise<T | undefined>;

  /**
   * Stores `value` under `key`, replacing any earlier value and TTL.
   * `set(key, undefined)` deletes the key.
   * @throws {TypeError} `ERR_FEDIKV_INVALID_VALUE` for a value JSON cannot
   *   hold (`BigInt`, a cycle); nothing is written.
   * @throws {RangeError} `ERR_FEDIKV_INVALID_TTL` for a negative TTL.
   */
  set(key: KvKey, value: unknown, options?: KvStoreSetOptions): Promise<void>;

  /** Deletes `key`; deleting a missing key is fine. */
  delete(key: KvKey): Promise<void>;

  /**
   * Atomically replaces the value of `key` with `newValue` if its live value
   * deep-equals `expectedValue` (as JSON: member order does not matter).
   * `expectedValue === undefined` means "absent or expired";
   * `newValue === undefined` deletes. Holds against every other writer,
   * other processes included.
   *
   * Every store has it but {@link WorkersKvStore}: Workers KV has no
   * conditional write, so there it is `undefined`, as on Fedify's own
   * `WorkersKvStore`, and Fedify takes its paths for stores without one.
   * @returns `true` if it swapped, `false` if the value differed.
   */
  cas?(key: KvKey, expectedValue: unknown, newValue: unknown, options?: KvStoreSetOptions): Promise<boolean>;

  /**
   * Every live entry whose key starts with `prefix` (the prefix key itself
   * included), each once; all entries without a prefix. Matching is exact
   * and case-sensitive: no character is a pattern. Streams in pages, so
   * memory stays flat however many entries match.
   *
   * ```ts
   * for await (const { key, value } of store.list(["_fedify"])) console.log(key, value);
   * ```
   */
  list(prefix?: KvKey): AsyncIterable<KvStoreListEntry>;

  /**
   * Closes the store and releases its connection or memory. Idempotent;
   * any later operation rejects with `ERR_FEDIKV_CLOSED`.
   */
  close(): Promise<void>;

  /** Whether `close()` has been called. */
  readonly closed: boolean;

  /** Closes the store, for `await using store = new SqliteKvStore(...)`. */
  [Symbol.asyncDispose](): Promise<void>;
}

/**
 * A store in this process's memory, for tests and development. Unlike
 * Fedify's `MemoryKvStore`, values are copies (changing an object after
 * `set` does not change what is stored), expired entries are purged, and
 * `list(prefix)` visits only the matching entries.
 *
 * ```ts
 * const kv = new MemoryKvStore();
 * ```
 */
export declare class MemoryKvStore extends FedikvKvStore {
  /** Atomic compare-and-swap: see {@link FedikvKvStore.cas}. */
  cas(key: KvKey, expectedValue: unknown, newValue: unknown, options?: KvStoreSetOptions): Promise<boolean>;
  constructor();
}

/** What the SQL stores share: a table, `initialize()` and `drop()`. */
export declare abstract class SqlKvStore extends FedikvKvStore {
  /** Atomic compare-and-swap: see {@link FedikvKvStore.cas}. */
  cas(key: KvKey, expectedValue: unknown, newValue: unknown, options?: KvStoreSetOptions): Promise<boolean>;
  /** The table holding the entries. */
  readonly tableName: string;
  /**
   * Creates the table (and index) if missing. Optional: operations create it
   * themselves. Safe when several processes start at once.
   */
  initialize(): Promise<void>;
  /** Drops the table; the next operation creates it again. */
  drop(): Promise<void>;
}

/** Options of {@link SqliteKvStore}. */
export interface SqliteKvStoreOptions {
  /**
   * The table holding the entries: letters, digits and underscores, not
   * starting with a digit, at most 64. `"fedify_kv"` by default, the table
   * of `@fedify/sqlite`.
   */
  readonly tableName?: string;
  /**
   * Whether the table already exists, so the store need not create it.
   * `false` by default.
   */
  readonly initialized?: boolean;
}

/**
 * A store in a SQLite database file (SQLite is built in; nothing to
 * install). It uses the table layout of `@fedify/sqlite`, so the two can
 * share a file. Files use WAL with `synchronous = NORMAL`: a write survives a
 * crash of the process; the last writes before a power loss may be lost.
 * Several processes can use one file; `cas` stays atomic across them.
 *
 * ```ts
 * const kv = new SqliteKvStore("./fedify.db");
 * const kv2 = new SqliteKvStore("./fedify.db", { tableName: "my_kv" });
 * ```
 *
 * The file is opened by the first operation: a path that cannot be opened
 * rejects that operation with `ERR_FEDIKV_CONNECTION`.
 * @throws {TypeError} `ERR_FEDIKV_INVALID_OPTION` for a path that is not a
 *   string or `file:` URL, or a bad table name.
 */
export declare class SqliteKvStore extends SqlKvStore {
  /**
   * @param path The database file, created if missing; `":memory:"` (the
   *   default) for a private in-memory database.
   */
  constructor(path?: string | URL, options?: SqliteKvStoreOptions);
  /** The database file (or `":memory:"`). */
  readonly path: string;
}

/** Options every server store has. */
export interface ServerKvStoreOptions {
  /**
   * How long connecting may take, in milliseconds (TCP, TLS, authentication).
   * With the server down, an operation rejects with `ERR_FEDIKV_CONNECTION`
   * after at most this long; when the server is back, the same store works
   * again. `5000` by default.
   */
  readonly connectTimeout?: number;
  /**
   * How long an operation may wait for the server's answers once it has a
   * connection, in milliseconds; `0` waits forever. A server that stops
   * answering (paused, overloaded, a network that drops packets) fails the
   * operation with `ERR_FEDIKV_CONNECTION` after this long instead of
   * hanging it; the connection is closed and the next operation makes a new
   * one. A write cut off this way may or may not have been applied.
   * Every operation settles within `connectTimeout + responseTimeout`.
   * `5000` by default for Redis (per command), `10000` for PostgreSQL and
   * MySQL (their statements may rightly wait for other writers' row locks;
   * `initialize()` and `drop()` run under it too).
   */
  readonly responseTimeout?: number;
}

/** Options of {@link RedisKvStore}. */
export interface RedisKvStoreOptions extends ServerKvStoreOptions {
  /**
   * The start of every Redis key, `"fedify::"` by default (the prefix of
   * `@fedify/redis`). 1–256 bytes, no control characters and none of
   * `* ? [ ] \`; it must not be empty.
   */
  readonly keyPrefix?: string;
  /**
   * Certificates for a `rediss://` URL, as PEM text or its bytes (a `Buffer`
   * from `readFileSync`). `ca`: the CA certificates to trust instead of the
   * system's, for a server whose certificate a private or self-signed CA
   * issued. `cert` and `key`: a client certificate and its key, for a server
   * that asks for one (`tls-auth-clients yes`). Without `ca`, the server's
   * certificate must chain to one of the system's CAs. The certificate is
   * always verified, and must name the URL's host.
   *
   * ```ts
   * new RedisKvStore("rediss://:password@redis.internal:6380", {
   *   tls: { ca: readFileSync("/etc/redis/ca.pem") },
   * });
   * ```
   * @throws {TypeError} `ERR_FEDIKV_INVALID_OPTION` with a `redis://` URL,
   *   for a `ca` without a PEM certificate, or `cert` without `key`.
   */
  readonly tls?: {
    readonly ca?: string | Uint8Array;
    readonly cert?: string | Uint8Array;
    readonly key?: string | Uint8Array;
  };
}

/**
 * A store in Redis or Valkey, standalone or a Redis Cluster, with the keys
 * and values of `@fedify/redis`: the prefix, then the key's parts with `:`
 * written as `_:`, joined by `::`; the value is the JSON text. Unlike
 * `@fedify/redis`, every key reads back exactly (also parts ending in `:`),
 * `list` escapes glob characters and fetches a page of values at once,
 * TTLs are exact to the millisecond (`SET … PX`), and `cas` is one Lua
 * script (atomic, also in a Cluster).
 *
 * ```ts
 * const kv = new RedisKvStore("redis://localhost:6379");
 * const secure = new RedisKvStore("rediss://user:password@redis.example:6380/0");
 * const cluster = new RedisKvStore(["redis://10.0.0.1:7000", "redis://10.0.0.2:7000"]);
 * ```
 *
 * @throws {TypeError} `ERR_FEDIKV_INVALID_OPTION` for a malformed URL or key prefix.
 */
export declare class RedisKvStore extends FedikvKvStore {
  /** Atomic compare-and-swap: see {@link FedikvKvStore.cas}. */
  cas(key: KvKey, expectedValue: unknown, newValue: unknown, options?: KvStoreSetOptions): Promise<boolean>;
  /**
   * @param url A `redis://` or `rediss://` URL (`[user:password@]host[:port][/db]`;
   *   a `rediss://` URL verifies the server's certificate, against the
   *   option `tls.ca` if given; add `#insecure` to skip that check, for test
   *   servers only), or an array of the seed nodes of a Redis Cluster.
   */
  constructor(url: string | URL | readonly (string | URL)[], options?: RedisKvStoreOptions);
  /** The prefix of every Redis key this store writes. */
  readonly keyPrefix: string;
  /** Deletes every entry under this store's key prefix. */
  drop(): Promise<void>;
}

/** Options of {@link PostgresKvStore}. */
export interface PostgresKvStoreOptions extends ServerKvStoreOptions {
  /**
   * The table, `"fedify_kv_v2"` by default (the table of `@fedify/postgres`);
   * letters, digits and underscores, optionally `schema.table`.
   */
  readonly tableName?: string;
  /** Whether the table already exists. `false` by default. */
  readonly initialized?: boolean;
  /**
   * Create the table `UNLOGGED` (faster writes, emptied after a crash of
   * the server). `false` by default; an existing unlogged table is made
   * logged when this is `false`.
   */
  readonly unlogged?: boolean;
  /** Connections in the pool. `10` by default. */
  readonly maxConnections?: number;
}

/**
 * A store in PostgreSQL, in the table layout of `@fedify/postgres`
 * (`key text[]`, `value jsonb`, `created timestamptz`, `ttl interval`). `cas`
 * is one atomic statement; `list` pages through the primary key; expired
 * rows are purged in small background batches, never after every write.
 * PostgreSQL cannot hold the character U+0000, nor a lone surrogate in a
 * value, nor a key too long for its primary key index (about 2,700 bytes
 * after compression): such a key or value is a `TypeError` and nothing is
 * written.
 *
 * ```ts
 * const kv = new PostgresKvStore("postgres://user:password@localhost:5432/app");
 * ```
 */
export declare class PostgresKvStore extends SqlKvStore {
  /**
   * @param url A `postgres://` or `postgresql://` URL. TLS follows libpq's
   *   `sslmode`: `prefer` (the default: TLS when the server offers it,
   *   unverified), `disable`, `require` (TLS, unverified), `verify-ca` (the
   *   certificate must chain to a trusted CA) and `verify-full` (and name
   *   the URL's host). `sslrootcert=/path/ca.pem` adds a CA to trust (to the
   *   Mozilla roots built in); `sslcert=` and `sslkey=` give a client
   *   certificate. A certificate file that cannot be read is a `TypeError`.
   *
   * ```ts
   * new PostgresKvStore("postgres://app:secret@db.internal/app?sslmode=verify-full&sslrootcert=/etc/ssl/db-ca.pem");
   * ```
   */
  constructor(url: string | URL, options?: PostgresKvStoreOptions);
}

/** Options of {@link MysqlKvStore}. */
export interface MysqlKvStoreOptions extends ServerKvStoreOptions {
  /**
   * The table, `"fedify_kv"` by default (the table of `@fedify/mysql`);
   * letters, digits and underscores, at most 50.
   */
  readonly tableName?: string;
  /** Whether the table already exists. `false` by default. */
  readonly initialized?: boolean;
  /** Connections in the pool. `10` by default. */
  readonly maxConnections?: number;
}

/**
 * A store in MySQL 8 or MariaDB 10.11+, in the table layout of
 * `@fedify/mysql` (`key VARCHAR(768)` holding `JSON.stringify(key)`,
 * `value JSON`, `expires DATETIME(6)`). A key longer than 768 characters as
 * JSON text is a `TypeError` (`ERR_FEDIKV_INVALID_KEY`); so is a value the
 * server refuses (`ERR_FEDIKV_INVALID_VALUE`: on MariaDB, nesting of 32
 * levels or more and lone surrogates; larger than `max_allowed_packet`).
 * Nothing is written.
 *
 * ```ts
 * const kv = new MysqlKvStore("mysql://user:password@localhost:3306/app");
 * ```
 */
export declare class MysqlKvStore extends SqlKvStore {
  /**
   * @param url A `mysql://` or `mariadb://` URL. TLS follows MySQL's
   *   `ssl-mode`: `preferred` (the default: TLS when the server offers it,
   *   unverified), `disabled`, `required` (TLS, unverified), `verify_ca`
   *   (the certificate must chain to a trusted CA) and `verify_identity`
   *   (and name the URL's host). `ssl-ca=/path/ca.pem` adds a CA to trust
   *   (to the Mozilla roots built in); `ssl-cert=` and `ssl-key=` give a
   *   client certificate. A certificate file that cannot be read is a
   *   `TypeError`.
   *
   * ```ts
   * new MysqlKvStore("mysql://app:secret@db.internal/app?ssl-mode=verify_identity&ssl-ca=/etc/ssl/db-ca.pem");
   * ```
   */
  constructor(url: string | URL, options?: MysqlKvStoreOptions);
}

/** Options of {@link DenoKvStore}. */
export interface DenoKvStoreOptions {
  /**
   * The access token of a KV Connect endpoint (the `--access-token` of a
   * `denokv` server, or a Deno Deploy access token). Without it (or with
   * `""`), a URL takes the `DENO_KV_ACCESS_TOKEN` environment variable, as
   * `Deno.openKv(url)` does; with neither, the constructor throws a
   * `TypeError` (`ERR_FEDIKV_INVALID_OPTION`). Ignored for a file. Never
   * printed in errors.
   */
  readonly accessToken?: string;
  /**
   * How long one KV Connect call may take, in milliseconds, connecting and
   * the client's own retries included: with the server down or unreachable,
   * an operation rejects with `ERR_FEDIKV_CONNECTION` after at most this
   * long, and the same store works again once the server is back. A write
   * that timed out may or may not have happened. Unused for a file. `5000`
   * by default.
   */
  readonly connectTimeout?: number;
}

/**
 * A store in Deno KV: a local Deno KV database file, or a KV Connect server
 * (a self-hosted `denokv`, or Deno Deploy's KV), so a Node.js Fedify app can
 * share its store with a Deno app (or with the npm package `@deno/kv`).
 *
 * What it shares with Deno: the file is the one `Deno.openKv(path)` and
 * `@deno/kv` open (created if missing); a `KvKey` is the Deno KV key of the
 * same strings (`["_fedify", "publicKey", id]` is that key in Deno too);
 * values are stored as Deno stores JavaScript values (V8 serialization), so
 * a value written here is the same value in Deno, and the other way round;
 * TTLs are Deno KV's own `expireIn`. Entries a Deno app wrote under keys
 * with numbers, booleans or bytes in them are no `KvKey`s: `list()` does not
 * show them. A value a Deno app wrote that JSON cannot express (a `Date`,
 * `Map`, `Set`, `BigInt`, `Uint8Array`, `Deno.KvU64`…, also nested inside
 * an object) makes `get()` on its key, and a `list()` that reaches it,
 * reject with `ERR_FEDIKV_INVALID_DATA` naming the key; nothing crashes.
 * `cas()` takes it as a value no JSON equals: it answers `false` and leaves
 * it alone, while `set()` and `delete()` replace or remove it.
 *
 * ```ts
 * const kv = new DenoKvStore("./fedify.kv");   // a file, as Deno.openKv("./fedify.kv")
 * const remote = new DenoKvStore("http://127.0.0.1:4512", { accessToken: "secret" });
 * const deploy = new DenoKvStore("https://api.deno.com/databases/<id>/connect"); // token from DENO_KV_ACCESS_TOKEN
 * ```
 *
 * Limits are Deno KV's: a value of more than 64 KiB (65,536 bytes
 * serialized) is a `TypeError` (`ERR_FEDIKV_INVALID_VALUE`), and a key of
 * more than 2 KiB (2,048 bytes encoded: each part's UTF-8 bytes plus two) a
 * `TypeError` (`ERR_FEDIKV_INVALID_KEY`); the message names the limit and
 * nothing is written.
 *
 * Expiry: on a file it is exact (reads skip entries past their expiry
 * themselves). Through KV Connect it is not: the protocol does not tell a
 * client when an entry expires, and the server deletes expired entries
 * lazily, so an expired entry may still be read (and matched by `cas`) for
 * up to **62 seconds** after its TTL ran out on a `denokv` 0.14 server
 * (whose collector wakes at the earliest expiry it knew of, or a minute
 * after its last run, plus up to a second). Fedify's TTLs (a day for
 * idempotence records, minutes for cached documents) take that in stride.
 *
 * `cas` reads the entry with its versionstamp and writes only if it is
 * unchanged (Deno KV's `check`), starting over when another writer got in
 * between: atomic against every writer, Deno apps included.
 *
 * @throws {TypeError} `ERR_FEDIKV_INVALID_OPTION` for a target that is
 *   neither a path nor an `http(s)://` URL (or is `":memory:"`), a KV
 *   Connect URL without a token, or a bad option.
 */
export declare class DenoKvStore extends FedikvKvStore {
  /** Atomic compare-and-swap: see {@link FedikvKvStore.cas}. */
  cas(key: KvKey, expectedValue: unknown, newValue: unknown, options?: KvStoreSetOptions): Promise<boolean>;
  /**
   * @param pathOrUrl A Deno KV database file (a path or a `file:` URL;
   *   created if missing, opened by the first operation), or the
   *   `http://` / `https://` URL of a KV Connect endpoint.
   */
  constructor(pathOrUrl: string | URL, options?: DenoKvStoreOptions);
  /**
   * How long after its TTL ran out an entry may still be read through KV
   * Connect from a `denokv` server, in milliseconds: `62000`. Files have no
   * such grace.
   */
  static readonly kvConnectExpiryGraceMs: number;
  /**
   * Deletes every entry of the database, a Deno app's entries included;
   * the file (or the server's database) stays.
   */
  drop(): Promise<void>;
}
/** Options of {@link WorkersKvStore}. */
export interface WorkersKvStoreOptions {
  /** The Cloudflare account's id; `CLOUDFLARE_ACCOUNT_ID` when left out. */
  readonly accountId?: string;
  /** The KV namespace's id (`wrangler kv namespace list` shows it). */
  readonly namespaceId?: string;
  /**
   * An API token with the Workers KV Storage Edit permission;
   * `CLOUDFLARE_API_TOKEN` when left out. Never printed in errors.
   */
  readonly apiToken?: string;
  /**
   * Cloudflare's API, `https://api.cloudflare.com/client/v4` by default;
   * another for a proxy, or a local stand-in.
   */
  readonly apiUrl?: string;
  /** How long connecting may take, in milliseconds; `10000` by default. */
  readonly connectTimeout?: number;
  /**
   * How long one HTTP request may take, answer included, in milliseconds;
   * `30000` by default. A request that timed out is tried again (see
   * `retries`); a write that timed out may or may not have happened.
   */
  readonly responseTimeout?: number;
  /**
   * How many times a request that failed in a way that may pass (no
   * connection, no answer in time, HTTP 429 or 5xx) is sent again; `4` by
   * default. A 429 waits as long as its `Retry-After` says (at most 60 s),
   * others 250 ms, doubling up to 8 s. Past them a 429 is
   * `ERR_FEDIKV_BUSY`, the rest `ERR_FEDIKV_CONNECTION` or
   * `ERR_FEDIKV_BACKEND`.
   */
  readonly retries?: number;
}

/**
 * A Cloudflare Workers KV namespace, from Node.js (or Deno, Bun) outside
 * a Worker, over Cloudflare's REST API: for the processes around a Fedify
 * app on Workers (a queue worker, an admin script, `fedikv migrate`, `ls`
 * and `stats`). Inside a Worker, use `@fedify/cfworkers` and the binding.
 *
 * It reads and writes the layout of `@fedify/cfworkers`' `WorkersKvStore`,
 * so both share one namespace: the KV key is `JSON.stringify(key)`, the
 * value its JSON text, the metadata `{ expires }` (epoch milliseconds) for
 * an entry with a TTL. Cloudflare keeps an entry at least 60 s
 * (`expiration_ttl` is the TTL rounded up to whole seconds, and at least
 * 60); reads check `expires`, so a shorter TTL still ends on time.
 *
 * What Workers KV cannot do:
 * - **No `cas`**: `cas` is `undefined` (Workers KV has no conditional
 *   write, and `@fedify/cfworkers` has none either).
 * - **Eventually consistent**: a write is seen at once where it was made,
 *   and in other Cloudflare locations within about 60 s.
 * - **Rate limited**: Cloudflare's API allows 1,200 requests per 5 minutes
 *   to a user. Calls made together go out together: gets as bulk reads of
 *   up to 100 keys, sets and deletes as bulk writes of up to 10,000, one at
 *   a time and in the order they were made.
 * - **Limits**: a key of more than 512 bytes as JSON text is a `TypeError`
 *   (`ERR_FEDIKV_INVALID_KEY`), a value of more than 25 MiB
 *   (26,214,400 bytes of JSON) a `TypeError` (`ERR_FEDIKV_INVALID_VALUE`);
 *   nothing is written.
 *
 * ```ts
 * const kv = new WorkersKvStore({
 *   accountId: "0123456789abcdef0123456789abcdef",
 *   namespaceId: "fedcba9876543210fedcba9876543210",
 * }); // the token from CLOUDFLARE_API_TOKEN
 * ```
 *
 * @throws {TypeError} `ERR_FEDIKV_INVALID_OPTION` without an account,
 *   namespace or token, or for a bad option.
 */
export declare class WorkersKvStore extends FedikvKvStore {
  constructor(options?: WorkersKvStoreOptions);
  /** The namespace's id. */
  readonly namespaceId: string;
  /**
   * Reads the namespace once, so that a wrong token, account or namespace
   * rejects now (`ERR_FEDIKV_CONNECTION`) rather than at the first call.
   */
  initialize(): Promise<void>;
  /**
   * Deletes every entry whose KV key is a JSON array (Fedify's and
   * fedikv's); other keys, and the namespace, stay.
   */
  drop(): Promise<void>;
}
/**
 * The options {@link openKvStore} passes on to the store it opens; each
 * store reads those it has (see its class).
 */
export interface OpenKvStoreOptions
  extends SqliteKvStoreOptions,
    RedisKvStoreOptions,
    PostgresKvStoreOptions,
    MysqlKvStoreOptions,
    DenoKvStoreOptions,
    WorkersKvStoreOptions {}

/**
 * The fedikv store a URL names, so that one setting (an environment
 * variable, say) picks the backend:
 *
 * ```ts
 * const federation = createFederation({
 *   kv: openKvStore(process.env.FEDIFY_KV_URL ?? "sqlite:./fedify.db"),
 * });
 * ```
 *
 * | URL | store |
 * |---|---|
 * | `memory:` | {@link MemoryKvStore} |
 * | `sqlite:./fedify.db`, `sqlite:///var/lib/app/fedify.db`, `sqlite::memory:`, or a bare path (`./fedify.db`) | {@link SqliteKvStore} |
 * | `redis://[user:password@]host[:port][/db]`, `rediss://…` (TLS) | {@link RedisKvStore} |
 * | `redis://host1:7000,host2:7000,…` (two or more hosts), `redis+cluster://host:7000[,…]`, `rediss+cluster://…` | {@link RedisKvStore} on a Redis Cluster, those nodes as seeds (credentials and path apply to each) |
 * | `postgres://…`, `postgresql://…` | {@link PostgresKvStore} |
 * | `mysql://…`, `mariadb://…` | {@link MysqlKvStore} |
 * | `denokv:./kv.sqlite3` (a Deno KV file), `http://…`, `https://…` (KV Connect) | {@link DenoKvStore} |
 * | `workers-kv://ACCOUNT_ID/NAMESPACE_ID` (the token from `CLOUDFLARE_API_TOKEN` or the `apiToken` option; `workers-kv:///NAMESPACE_ID` takes the account from `CLOUDFLARE_ACCOUNT_ID`) | {@link WorkersKvStore} |
 *
 * The URL's query may carry `tableName` (SQL stores), `keyPrefix` (Redis),
 * `unlogged` (PostgreSQL) and `apiUrl` (Workers KV); they are taken out before the URL reaches
 * the driver, and `options` win over them. Other query parameters stay
 * (`sslmode`, …).
 *
 * @throws {TypeError} `ERR_FEDIKV_INVALID_OPTION` for an unknown scheme or
 *   a malformed URL; the message lists the accepted forms.
 */
export declare function openKvStore(url: string | URL, options?: OpenKvStoreOptions): FedikvKvStore;

/** One entry yielded by {@link listWithExpiry}. */
export interface KvStoreEntryWithExpiry extends KvStoreListEntry {
  /** When the entry expires, in epoch milliseconds; `null` if never. */
  readonly expiresAt: number | null;
}

/**
 * Like `store.list(prefix)`, with each entry's expiry. Not part of Fedify's
 * `KvStore`: it is what {@link migrate} and the `fedikv` command use to
 * keep TTLs. Servers that keep expiry on their own clock (PostgreSQL,
 * MySQL, Redis) report the time left, turned into an instant on this
 * machine's clock. Deno KV through KV Connect cannot tell expiry: there the
 * listing rejects with `ERR_FEDIKV_UNSUPPORTED`.
 *
 * @throws {TypeError} `ERR_FEDIKV_INVALID_OPTION` when `store` is not a
 *   fedikv store.
 */
export declare function listWithExpiry(
  store: FedikvKvStore,
  prefix?: KvKey | readonly [],
): AsyncIterable<KvStoreEntryWithExpiry>;

/** Options of {@link migrate}. */
export interface MigrateOptions {
  /** Copy only the entries under this key prefix (all by default). */
  readonly prefix?: KvKey | readonly [];
  /**
   * Write into a target that already holds entries (under the prefix):
   * entries of the source replace those with the same key, the others
   * stay, and values already equal are left alone. Without it, such a
   * target is refused with `ERR_FEDIKV_NOT_EMPTY`. `false` by default.
   */
  readonly merge?: boolean;
  /** Read and count, but write nothing. `false` by default. */
  readonly dryRun?: boolean;
  /** Entries written at once. `500` by default. */
  readonly batchSize?: number;
  /**
   * Called after each batch. Given, the source is counted first, so that
   * `total` is known.
   */
  readonly onProgress?: (progress: MigrateProgress) => void;
  /** Stops the migration after the batch in flight; it rejects with the reason. */
  readonly signal?: AbortSignal;
}

/** What {@link MigrateOptions.onProgress} is told. */
export interface MigrateProgress {
  /** Entries read from the source so far. */
  readonly done: number;
  /** Live entries the source held when the migration began. */
  readonly total: number | null;
  readonly copied: number;
  readonly unchanged: number;
  readonly expired: number;
  readonly elapsedMs: number;
}

/** What {@link migrate} did. */
export interface MigrateResult {
  readonly dryRun: boolean;
  /** Live entries of the source when it began (`null` without `onProgress`). */
  readonly total: number | null;
  /** Entries read from the source. */
  readonly read: number;
  /** Entries written (or, in a dry run, that would be). */
  readonly copied: number;
  /** Of those, how many with a TTL. */
  readonly withTtl: number;
  /** Entries whose value the target held already (merge only). */
  readonly unchanged: number;
  /** Entries that expired between their reading and their writing, not copied. */
  readonly expired: number;
  /** Live entries (under the prefix) at the end, in the source and the target. */
  readonly sourceCount: number;
  readonly targetCount: number;
  /**
   * Whether the counts agree: equal, or with `merge` the target holding at
   * least as many. Always `true` in a dry run.
   */
  readonly ok: boolean;
}

/**
 * Copies every live entry of `source` (under `options.prefix`) into
 * `target`, each with the time it has left, in batches; expired entries
 * are not copied. Both must be fedikv stores, of any backends. This is
 * what `fedikv migrate` runs; call it from an app to move a
 * {@link MemoryKvStore}, which no other process can reach:
 *
 * ```ts
 * const result = await migrate(memoryKv, openKvStore("postgres://localhost/app"));
 * if (!result.ok) throw new Error("the target lost entries");
 * ```
 *
 * @throws {Error} `ERR_FEDIKV_NOT_EMPTY` when the target holds entries
 *   under the prefix and `merge` is not set; nothing is written.
 */
export declare function migrate(
  source: FedikvKvStore,
  target: FedikvKvStore,
  options?: MigrateOptions,
): Promise<MigrateResult>;
