"use strict";
// openKvStore: one URL for any store, so that an app (or the fedikv
// command) can take its store from one setting. The URL only picks the
// class and its arguments; the constructors check them.

const { describe, fedikvError } = require("./errors.js");
const { optionsObject } = require("./options.js");
const {
  DenoKvStore,
  MemoryKvStore,
  MysqlKvStore,
  PostgresKvStore,
  RedisKvStore,
  SqliteKvStore,
  WorkersKvStore,
} = require("./stores.js");

const URL_FORMS = [
  "memory:",
  "sqlite:PATH, sqlite:///ABSOLUTE/PATH, sqlite::memory: or a bare file path",
  "redis://[user:password@]host[:port][/db] or rediss://… (TLS)",
  "redis://host1:port1,host2:port2,… or redis+cluster://host:port[,…] (a Redis Cluster; rediss+cluster:// for TLS)",
  "postgres://… or postgresql://…",
  "mysql://… or mariadb://…",
  "denokv:PATH (a Deno KV file) or http(s)://… (KV Connect)",
  "workers-kv://ACCOUNT_ID/NAMESPACE_ID (Cloudflare Workers KV; the token from CLOUDFLARE_API_TOKEN)",
];

function badUrl(url, why) {
  return fedikvError(
    "ERR_FEDIKV_INVALID_OPTION",
    `fedikv: openKvStore: ${why} ${JSON.stringify(maskUrl(url))}; accepted forms: ${URL_FORMS.join("; ")}`,
  );
}

/** The URL with its password (and a KV Connect token in it) as `***`. */
function maskUrl(url) {
  return url.replace(/^([a-z][a-z0-9+.-]*:\/\/[^/?#@:]*):[^@/?#]*@/i, "$1:***@");
}

/** `{ scheme, rest }` of `scheme:rest`, or null for a string with no scheme. */
function splitScheme(url) {
  const match = /^([a-z][a-z0-9+.-]*):(.*)$/is.exec(url);
  // One letter before a colon is a Windows drive (C:\db), not a scheme.
  if (match === null || match[1].length === 1) return null;
  return { scheme: match[1].toLowerCase(), rest: match[2] };
}

/**
 * Takes the fedikv options a URL may carry in its query (`tableName`,
 * `keyPrefix`, `unlogged`) out of it: returns the URL without them, and
 * them as options (those given to openKvStore win).
 */
function takeQueryOptions(url, names, given) {
  const q = url.indexOf("?");
  if (q < 0) return { url, options: given };
  const hash = url.indexOf("#", q);
  const query = url.slice(q + 1, hash < 0 ? undefined : hash);
  const keep = [];
  const options = {};
  for (const pair of query.split("&")) {
    if (pair === "") continue;
    const eq = pair.indexOf("=");
    const name = decodeURIComponent(eq < 0 ? pair : pair.slice(0, eq));
    const value = eq < 0 ? "" : decodeURIComponent(pair.slice(eq + 1).replace(/\+/g, " "));
    if (names.includes(name)) {
      options[name] = name === "unlogged" ? value !== "false" && value !== "0" : value;
    } else {
      keep.push(pair);
    }
  }
  const rest = (keep.length > 0 ? `?${keep.join("&")}` : "") + (hash < 0 ? "" : url.slice(hash));
  return { url: url.slice(0, q) + rest, options: { ...options, ...given } };
}

/** A path after `sqlite:` or `denokv:` (`///abs` is the file-URL form of `/abs`). */
function pathOf(url, rest) {
  const path = rest.startsWith("///") ? rest.slice(2) : rest;
  if (path === "" || (path.startsWith("//") && !path.startsWith("///"))) {
    throw badUrl(url, "no file path in");
  }
  return path;
}

/** The node URLs of `redis://[auth@]h1:p1,h2:p2/…` (one each, same auth and path). */
function clusterNodes(url, scheme, rest) {
  if (!rest.startsWith("//")) throw badUrl(url, "malformed Redis URL");
  const body = rest.slice(2);
  const end = body.search(/[/?#]/);
  const authority = end < 0 ? body : body.slice(0, end);
  const tail = end < 0 ? "" : body.slice(end);
  const at = authority.lastIndexOf("@");
  const auth = at < 0 ? "" : authority.slice(0, at + 1);
  const hosts = authority.slice(at + 1).split(",");
  if (hosts.some((h) => h === "")) throw badUrl(url, "an empty host in");
  return hosts.map((host) => {
    const node = `${scheme}://${auth}${host}${tail}`;
    try {
      new URL(node);
    } catch {
      throw badUrl(url, "malformed Redis node in");
    }
    return node;
  });
}

function checkedUrl(url) {
  try {
    new URL(url);
  } catch {
    throw badUrl(url, "malformed URL");
  }
  return url;
}

/**
 * A WorkersKvStore for `workers-kv://ACCOUNT_ID/NAMESPACE_ID` (no account:
 * CLOUDFLARE_ACCOUNT_ID's), whose query may name `apiUrl`. The token is an
 * option or CLOUDFLARE_API_TOKEN, never part of the URL, which ends up in
 * shell histories and process lists.
 */
function workersKv(url, trimmed, given) {
  const { url: bare, options } = takeQueryOptions(trimmed, ["apiUrl"], given);
  const match = /^workers-kv:\/\/([^/?#@]*)\/([^/?#]+)\/?$/i.exec(bare);
  if (match === null) {
    if (/^workers-kv:\/\/[^/?#]*@/i.test(bare)) {
      throw badUrl(url, "an API token goes in CLOUDFLARE_API_TOKEN (or the apiToken option), not in");
    }
    throw badUrl(url, "not workers-kv://ACCOUNT_ID/NAMESPACE_ID:");
  }
  const [, accountId, namespaceId] = match;
  return new WorkersKvStore({ ...options, ...(accountId === "" ? {} : { accountId }), namespaceId });
}

/**
 * A fedikv store for a URL: `memory:`, `sqlite:PATH` (or a bare path),
 * `redis://`/`rediss://` (several comma-separated hosts, or
 * `redis+cluster://`, for a Cluster), `postgres://`/`postgresql://`,
 * `mysql://`/`mariadb://`, `denokv:PATH` or `http(s)://` (Deno KV),
 * `workers-kv://ACCOUNT_ID/NAMESPACE_ID` (Cloudflare Workers KV).
 * `options` pass through to the store's constructor; the URL's query may
 * also carry `tableName`, `keyPrefix`, `unlogged` and `apiUrl`.
 */
function openKvStore(url, options = {}) {
  if (url instanceof URL) url = url.href;
  if (typeof url !== "string") {
    throw fedikvError(
      "ERR_FEDIKV_INVALID_OPTION",
      `fedikv: openKvStore needs a URL string, not ${describe(url)}; accepted forms: ${URL_FORMS.join("; ")}`,
    );
  }
  const given = optionsObject(options, "openKvStore");
  const trimmed = url.trim();
  if (trimmed === "") throw badUrl(url, "empty URL");
  const split = splitScheme(trimmed);
  if (split === null) return new SqliteKvStore(trimmed, given);
  const { scheme, rest } = split;
  switch (scheme) {
    case "memory":
      if (rest !== "" && rest !== "//") throw badUrl(url, "memory: takes nothing after it, not");
      return new MemoryKvStore();
    case "sqlite": {
      const { url: bare, options: opts } = takeQueryOptions(trimmed, ["tableName"], given);
      return new SqliteKvStore(pathOf(url, bare.slice("sqlite:".length)), opts);
    }
    case "redis":
    case "rediss":
    case "redis+cluster":
    case "rediss+cluster": {
      const { url: bare, options: opts } = takeQueryOptions(trimmed, ["keyPrefix"], given);
      const base = scheme.replace("+cluster", "");
      const nodes = clusterNodes(url, base, bare.slice(scheme.length + 1));
      const cluster = scheme.endsWith("+cluster") || nodes.length > 1;
      return new RedisKvStore(cluster ? nodes : nodes[0], opts);
    }
    case "postgres":
    case "postgresql": {
      const { url: bare, options: opts } = takeQueryOptions(trimmed, ["tableName", "unlogged"], given);
      return new PostgresKvStore(checkedUrl(bare), opts);
    }
    case "mysql":
    case "mariadb": {
      const { url: bare, options: opts } = takeQueryOptions(trimmed, ["tableName"], given);
      return new MysqlKvStore(checkedUrl(`mysql:${bare.slice(scheme.length + 1)}`), opts);
    }
    // A build without Deno KV: the constructor says so.
    case "denokv":
      return new DenoKvStore(pathOf(url, rest), given);
    case "http":
    case "https":
      return new DenoKvStore(checkedUrl(trimmed), given);
    case "workers-kv":
      return workersKv(url, trimmed, given);
    default:
      throw badUrl(url, `unknown scheme ${scheme}: in`);
  }
}

module.exports = { openKvStore };
