"use strict";
// The store classes a Fedify app passes as `kv`. They only convert: keys
// and values to JSON text and back (lib/encode.js), options checked
// (lib/options.js), `list()` as an async generator over the native page
// call. Storage, expiry, atomicity, defaults and every rule of the
// contract live in the Rust core (src/), whose errors arrive already as
// fedikv errors, with their class and code.

const { NativeStore, KV_CONNECT_EXPIRY_GRACE_MS } = require("./native.js").native;
const { describe, fedikvError } = require("./errors.js");
const { decodeValue, encodeKey, encodePrefix, encodeValue, ttlOf } = require("./encode.js");
const {
  booleanOption,
  numberOption,
  optionsObject,
  pemOption,
  sqlServerOptions,
  stringOption,
  urlArgument,
} = require("./options.js");

// Each store's NativeStore, for what subclasses and listWithExpiry need
// and FedikvKvStore's private field cannot give them.
const natives = new WeakMap();

/**
 * What every fedikv store shares: Fedify's `KvStore` interface, plus
 * `close()` and `Symbol.asyncDispose`.
 */
class FedikvKvStore {
  #native;

  constructor(native) {
    if (!(native instanceof NativeStore)) {
      throw new TypeError("fedikv: use MemoryKvStore, SqliteKvStore, … rather than FedikvKvStore itself");
    }
    this.#native = native;
    natives.set(this, native);
  }

  async get(key) {
    const keyJson = encodeKey(key);
    const text = await this.#native.get(keyJson);
    return text == null ? undefined : decodeValue(text, keyJson);
  }

  async set(key, value, options) {
    const keyJson = encodeKey(key);
    const valueJson = encodeValue(value);
    const ttl = ttlOf(options);
    await this.#native.set(keyJson, valueJson, ttl);
  }

  async delete(key) {
    const keyJson = encodeKey(key);
    await this.#native.delete(keyJson);
  }

  async cas(key, expectedValue, newValue, options) {
    const keyJson = encodeKey(key);
    const expected = encodeValue(expectedValue);
    const value = encodeValue(newValue);
    const ttl = ttlOf(options);
    return await this.#native.cas(keyJson, expected, value, ttl);
  }

  list(prefix) {
    // Checked now, so a bad prefix throws at the call, not at the first step.
    return this.#pages(encodePrefix(prefix));
  }

  async *#pages(prefixJson) {
    for await (const entries of parsedPages(this.#native, prefixJson, false)) {
      for (const [key, value] of entries) yield { key, value };
    }
  }

  async close() {
    await this.#native.close();
  }

  /** Whether `close()` has been called. */
  get closed() {
    return this.#native.closed;
  }

  async [Symbol.asyncDispose]() {
    await this.close();
  }
}

/**
 * Calls a native method only some stores have (initialize, drop); async so
 * that a synchronous throw is a rejection, as for every other method.
 */
async function callNative(store, method) {
  await natives.get(store)[method]();
}

class MemoryKvStore extends FedikvKvStore {
  constructor() {
    super(NativeStore.memory());
  }
}

/** What the SQL stores share: a table, `initialize()` and `drop()`. */
class SqlKvStore extends FedikvKvStore {
  /** The table holding the entries. */
  get tableName() {
    return natives.get(this).namespace;
  }

  /** Creates the table and its index if they do not exist. */
  initialize() {
    return callNative(this, "initialize");
  }

  /** Drops the table; the next operation creates it again. */
  drop() {
    return callNative(this, "dropStorage");
  }
}

class SqliteKvStore extends SqlKvStore {
  #path;

  constructor(path = ":memory:", options = {}) {
    const name = "SqliteKvStore";
    if (path instanceof URL) {
      if (path.protocol !== "file:") {
        throw fedikvError(
          "ERR_FEDIKV_INVALID_OPTION",
          `fedikv: ${name} needs a file path or file: URL, not ${path.protocol} URL`,
        );
      }
      path = require("node:url").fileURLToPath(path);
    }
    if (typeof path !== "string" || path.includes("\0")) {
      throw fedikvError(
        "ERR_FEDIKV_INVALID_OPTION",
        `fedikv: ${name} needs a file path (or ":memory:"), not ${describe(path)}`,
      );
    }
    const opts = optionsObject(options, name);
    const tableName = stringOption(opts, "tableName", name);
    const initialized = booleanOption(opts, "initialized", name);
    super(NativeStore.sqlite(path, { tableName, initialized }));
    this.#path = path;
  }

  /** The database file (or `":memory:"`). */
  get path() {
    return this.#path;
  }
}

class RedisKvStore extends FedikvKvStore {
  constructor(url, options = {}) {
    const name = "RedisKvStore";
    const cluster = Array.isArray(url);
    const urls = cluster ? url.map((u) => urlArgument(u, name)) : [urlArgument(url, name)];
    const opts = optionsObject(options, name);
    const keyPrefix = stringOption(opts, "keyPrefix", name);
    const tls = opts.tls ?? {};
    if (typeof tls !== "object") {
      throw fedikvError(
        "ERR_FEDIKV_INVALID_OPTION",
        `fedikv: ${name} option tls must be an object ({ ca, cert, key }), not ${describe(tls)}`,
      );
    }
    super(
      NativeStore.redis(urls, {
        keyPrefix,
        cluster,
        connectTimeoutMs: numberOption(opts, "connectTimeout", name, { min: 1 }),
        responseTimeoutMs: numberOption(opts, "responseTimeout", name, { min: 0 }),
        tlsCa: pemOption(tls, "ca", name),
        tlsCert: pemOption(tls, "cert", name),
        tlsKey: pemOption(tls, "key", name),
      }),
    );
  }

  /** The prefix of every Redis key this store writes. */
  get keyPrefix() {
    return natives.get(this).namespace;
  }

  /** Deletes every entry under this store's key prefix. */
  drop() {
    return callNative(this, "dropStorage");
  }
}

class PostgresKvStore extends SqlKvStore {
  constructor(url, options = {}) {
    const name = "PostgresKvStore";
    const opts = optionsObject(options, name);
    const native = sqlServerOptions(opts, name);
    native.unlogged = booleanOption(opts, "unlogged", name);
    super(NativeStore.postgres(urlArgument(url, name), native));
  }
}

class MysqlKvStore extends SqlKvStore {
  constructor(url, options = {}) {
    const name = "MysqlKvStore";
    const native = sqlServerOptions(optionsObject(options, name), name);
    super(NativeStore.mysql(urlArgument(url, name), native));
  }
}

/** Whether a DenoKvStore target is a KV Connect URL rather than a file path. */
const KV_CONNECT_URL = /^https?:\/\//i;

class DenoKvStore extends FedikvKvStore {
  constructor(pathOrUrl, options = {}) {
    // Deno KV is a Cargo feature: a build may leave it out, and then the
    // class is still exported, so that this says why.
    if (typeof NativeStore.denokv !== "function") {
      throw fedikvError("ERR_FEDIKV_UNSUPPORTED", "fedikv: this build of fedikv has no Deno KV store");
    }
    const name = "DenoKvStore";
    let target = pathOrUrl;
    if (target instanceof URL) {
      if (target.protocol === "file:") {
        target = require("node:url").fileURLToPath(target);
      } else if (target.protocol === "http:" || target.protocol === "https:") {
        target = target.href;
      } else {
        throw fedikvError(
          "ERR_FEDIKV_INVALID_OPTION",
          `fedikv: ${name} needs a file path, a file: URL or an http(s):// KV Connect URL, not a ${target.protocol} URL`,
        );
      }
    }
    if (typeof target !== "string" || target.includes("\0")) {
      throw fedikvError(
        "ERR_FEDIKV_INVALID_OPTION",
        `fedikv: ${name} needs a Deno KV file path or an http(s):// KV Connect URL, not ${describe(target)}`,
      );
    }
    const opts = optionsObject(options, name);
    // As @deno/kv does: an empty token is no token, and without one a KV
    // Connect URL takes DENO_KV_ACCESS_TOKEN, as Deno.openKv does. A file
    // needs none.
    let accessToken = stringOption(opts, "accessToken", name) ?? "";
    if (accessToken === "" && KV_CONNECT_URL.test(target)) {
      accessToken = process.env.DENO_KV_ACCESS_TOKEN ?? "";
    }
    super(
      NativeStore.denokv(target, {
        accessToken: accessToken === "" ? undefined : accessToken,
        connectTimeoutMs: numberOption(opts, "connectTimeout", name, { min: 1 }),
      }),
    );
  }

  /**
   * Deletes every entry of the database, Deno apps' entries included (the
   * file, or the server's database, stays).
   */
  drop() {
    return callNative(this, "dropStorage");
  }
}

/**
 * Cloudflare Workers KV, from outside a Worker, over Cloudflare's REST API,
 * in the layout of @fedify/cfworkers' WorkersKvStore. Has no `cas`
 * (Workers KV has no conditional write; src/workerskv/mod.rs).
 */
class WorkersKvStore extends FedikvKvStore {
  constructor(options = {}) {
    if (typeof NativeStore.workersKv !== "function") {
      throw fedikvError("ERR_FEDIKV_UNSUPPORTED", "fedikv: this build of fedikv has no Workers KV store");
    }
    const name = "WorkersKvStore";
    const opts = optionsObject(options, name);
    // As wrangler does: the account and the token from the environment
    // when not given.
    const fromEnv = (option, variable) => {
      const value = stringOption(opts, option, name) ?? process.env[variable] ?? "";
      if (value === "") {
        throw fedikvError(
          "ERR_FEDIKV_INVALID_OPTION",
          `fedikv: ${name} needs the ${option} option${variable ? ` (or ${variable})` : ""}`,
        );
      }
      return value;
    };
    super(
      NativeStore.workersKv({
        accountId: fromEnv("accountId", "CLOUDFLARE_ACCOUNT_ID"),
        namespaceId: fromEnv("namespaceId", null),
        apiToken: fromEnv("apiToken", "CLOUDFLARE_API_TOKEN"),
        apiUrl: stringOption(opts, "apiUrl", name),
        connectTimeoutMs: numberOption(opts, "connectTimeout", name, { min: 1 }),
        responseTimeoutMs: numberOption(opts, "responseTimeout", name, { min: 1 }),
        retries: numberOption(opts, "retries", name, { min: 0, integer: true }),
      }),
    );
  }

  /** The namespace's id. */
  get namespaceId() {
    return natives.get(this).namespace;
  }

  /** Reads the namespace once, so that a wrong token, account or namespace shows now. */
  initialize() {
    return callNative(this, "initialize");
  }

  /**
   * Deletes every entry whose KV key is a JSON array (Fedify's and
   * fedikv's); other keys, and the namespace, stay.
   */
  drop() {
    return callNative(this, "dropStorage");
  }
}

// No cas, as @fedify/cfworkers has none: Fedify asks `kv.cas == null` and
// then takes its paths for stores without one.
Object.defineProperty(WorkersKvStore.prototype, "cas", { value: undefined });

// How long after its expiry an entry may still be read through KV Connect
// (src/denokv/mod.rs, REMOTE_EXPIRY_GRACE: denokv's lazy collector). The
// addon has it only when built with Deno KV.
if (KV_CONNECT_EXPIRY_GRACE_MS !== undefined) {
  Object.defineProperty(DenoKvStore, "kvConnectExpiryGraceMs", { value: KV_CONNECT_EXPIRY_GRACE_MS, enumerable: true });
}

/**
 * Every live entry of a fedikv store under `prefix`, with its expiry:
 * `{ key, value, expiresAt }`, `expiresAt` in epoch milliseconds or `null`
 * for an entry that never expires. Streams page by page, like `list()`.
 * Not part of Fedify's KvStore: this is what `migrate` and the `fedikv`
 * command use to keep TTLs.
 */
function listWithExpiry(store, prefix) {
  const native = natives.get(store);
  if (native === undefined) {
    throw fedikvError(
      "ERR_FEDIKV_INVALID_OPTION",
      `fedikv: listWithExpiry needs a fedikv store, not ${describe(store)}`,
    );
  }
  return pagesWithExpiry(native, encodePrefix(prefix));
}

async function* pagesWithExpiry(native, prefixJson) {
  for await (const entries of parsedPages(native, prefixJson, true)) {
    for (const [key, value, expiresAt] of entries) yield { key, value, expiresAt };
  }
}

/**
 * The pages of a listing, each parsed with one `JSON.parse`: arrays of
 * `[key, value]`, or `[key, value, expiresAt]` when `withExpiry`. The next
 * page is asked for before this one is handed out, so the store fetches it
 * while the caller works through this one (on Redis, the `SCAN`s of the
 * next page overlap the parsing of this one).
 */
async function* parsedPages(native, prefixJson, withExpiry) {
  // A page that fails fails when it is reached, not when it is asked for:
  // a store that answers at once throws here, and that becomes a rejection.
  // The backend's page size: 256 entries, 1,000 for Workers KV.
  const pageSize = native.listPageSize;
  const pageAt = (cursor) => {
    try {
      return native.listPage(prefixJson, cursor, pageSize, withExpiry);
    } catch (error) {
      return Promise.reject(error);
    }
  };
  let next = pageAt(null);
  try {
    while (next !== null) {
      const page = await next;
      next = page.cursor == null ? null : pageAt(page.cursor);
      let entries;
      try {
        entries = JSON.parse(page.entries);
      } catch (error) {
        throw fedikvError(
          "ERR_FEDIKV_INVALID_DATA",
          `fedikv: a value under ${prefixJson ?? "the store"} is not JSON: ${error.message}`,
        );
      }
      yield entries;
    }
  } finally {
    // A caller that stops early (or a page that failed) leaves the page
    // fetched ahead unread: its failure, if any, is nobody's to handle.
    // (A store that answered at once gave the page itself, not a promise.)
    if (next !== null) Promise.resolve(next).catch(() => {});
  }
}

module.exports = {
  FedikvKvStore,
  MemoryKvStore,
  SqliteKvStore,
  RedisKvStore,
  PostgresKvStore,
  MysqlKvStore,
  DenoKvStore,
  WorkersKvStore,
  listWithExpiry,
};
