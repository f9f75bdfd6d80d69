'use strict'
// The public API of fedikv: the store classes a Fedify app passes as `kv`.
//
// This layer only converts. Keys and values become JSON text with V8's own
// JSON.stringify (so what `get` returns is exactly
// JSON.parse(JSON.stringify(value)), and keys are byte for byte what
// Fedify's SQL layouts store); results come back through JSON.parse; TTLs
// become milliseconds; `list()` is an async generator over the native page
// call. Storage, expiry, atomicity and every rule of the contract live in
// the Rust core (src/), reached through the napi binding (binding.js, loaded by lib/native.js).

const { runInNewContext } = require('node:vm')
const { NativeStore } = require('./lib/native.js').native

// Fedify depends on jsonld, whose bundle carries core-js; its
// es.json.stringify polyfill replaces the global JSON.stringify with a
// wrapper about 10 times slower on long strings (measured: 33,000 against
// 373,000 stringifies a second of a 1.4 KB note). A fresh realm still has
// V8's own JSON.stringify: the same builtin, the same output, and it works
// on this realm's objects. Errors it throws are rewrapped below as this
// realm's TypeError. JSON.parse stays this realm's, so parsed values have
// this realm's prototypes.
const stringify = runInNewContext('JSON.stringify')

/** How many entries one native `listPage` call returns. */
const LIST_PAGE_SIZE = 256

const ERROR_CLASSES = {
  ERR_FEDIKV_INVALID_KEY: TypeError,
  ERR_FEDIKV_INVALID_VALUE: TypeError,
  ERR_FEDIKV_INVALID_OPTION: TypeError,
  ERR_FEDIKV_INVALID_TTL: RangeError,
}

function fedikvError(code, message) {
  const ErrorClass = ERROR_CLASSES[code] ?? Error
  const error = new ErrorClass(message)
  error.code = code
  return error
}

// Native errors arrive as "[CODE] message" (napi cannot set a custom code on
// a rejected promise); this turns them into the documented classes and codes.
const NATIVE_ERROR = /^\[(ERR_FEDIKV_[A-Z_]+)\] ([\s\S]*)$/

function translate(error) {
  const match = error instanceof Error && !error.code?.startsWith?.('ERR_FEDIKV_')
    ? NATIVE_ERROR.exec(error.message)
    : null
  return match ? fedikvError(match[1], `fedikv: ${match[2]}`) : error
}

function describe(value) {
  if (value === null) return 'null'
  if (Array.isArray(value)) return 'an array'
  if (typeof value === 'string') return `the string ${JSON.stringify(value.slice(0, 40))}`
  return `a ${typeof value}`
}

function checkParts(key, what) {
  if (!Array.isArray(key)) {
    throw fedikvError('ERR_FEDIKV_INVALID_KEY', `fedikv: a ${what} must be an array of strings, not ${describe(key)}`)
  }
  for (let i = 0; i < key.length; i++) {
    const part = key[i]
    if (typeof part !== 'string') {
      throw fedikvError('ERR_FEDIKV_INVALID_KEY', `fedikv: part ${i} of the ${what} must be a string, not ${describe(part)}`)
    }
    if (!part.isWellFormed()) {
      throw fedikvError('ERR_FEDIKV_INVALID_KEY', `fedikv: part ${i} of the ${what} has a lone surrogate, which no store can hold`)
    }
  }
}

/** The key as `JSON.stringify(key)`, after checking it is a KvKey. */
function encodeKey(key) {
  checkParts(key, 'key')
  if (key.length === 0) {
    throw fedikvError('ERR_FEDIKV_INVALID_KEY', 'fedikv: a key must have at least one part')
  }
  return stringify(key)
}

/** A `list()` prefix: like a key, but absent or empty means everything. */
function encodePrefix(prefix) {
  if (prefix === undefined || prefix === null) return null
  checkParts(prefix, 'prefix')
  return prefix.length === 0 ? null : stringify(prefix)
}

/** The value as JSON text; `undefined` stays `null` ("absent"). */
function encodeValue(value) {
  if (value === undefined) return null
  let text
  try {
    text = stringify(value)
  } catch (error) {
    throw fedikvError('ERR_FEDIKV_INVALID_VALUE', `fedikv: the value cannot be stored as JSON: ${error.message}`)
  }
  if (text === undefined) {
    throw fedikvError('ERR_FEDIKV_INVALID_VALUE', `fedikv: ${describe(value)} cannot be stored as JSON`)
  }
  return text
}

function decodeValue(text, keyJson) {
  try {
    return JSON.parse(text)
  } catch (error) {
    throw fedikvError('ERR_FEDIKV_INVALID_DATA', `fedikv: the value stored under ${keyJson} is not JSON: ${error.message}`)
  }
}

const DURATION_FIELDS = [
  'years', 'months', 'weeks', 'days', 'hours', 'minutes', 'seconds',
  'milliseconds', 'microseconds', 'nanoseconds',
]
const MS = {
  weeks: 7 * 864e5, days: 864e5, hours: 36e5, minutes: 6e4, seconds: 1e3,
  milliseconds: 1, microseconds: 1e-3, nanoseconds: 1e-6,
}

/**
 * Milliseconds in a `Temporal.Duration` (native or polyfill; any object with
 * its fields). Years and months are measured from now, in UTC, with the day
 * constrained to the target month as Temporal does (Jan 31 + 1 month = the
 * last day of February); days are 24 hours.
 */
function durationToMs(ttl) {
  if (typeof ttl !== 'object' || ttl === null) {
    throw fedikvError('ERR_FEDIKV_INVALID_TTL', `fedikv: ttl must be a Temporal.Duration, not ${describe(ttl)}`)
  }
  const f = {}
  for (const name of DURATION_FIELDS) {
    const v = ttl[name] ?? 0
    if (typeof v !== 'number' || !Number.isFinite(v)) {
      throw fedikvError('ERR_FEDIKV_INVALID_TTL', `fedikv: ttl.${name} must be a finite number (is ttl a Temporal.Duration?)`)
    }
    if (v < 0) throw fedikvError('ERR_FEDIKV_INVALID_TTL', 'fedikv: ttl must not be negative')
    f[name] = v
  }
  let ms = 0
  if (f.years !== 0 || f.months !== 0) {
    const now = Date.now()
    const start = new Date(now)
    const month = new Date(Date.UTC(start.getUTCFullYear() + f.years, start.getUTCMonth() + f.months, 1))
    const lastDay = new Date(Date.UTC(month.getUTCFullYear(), month.getUTCMonth() + 1, 0)).getUTCDate()
    month.setUTCDate(Math.min(start.getUTCDate(), lastDay))
    month.setUTCHours(start.getUTCHours(), start.getUTCMinutes(), start.getUTCSeconds(), start.getUTCMilliseconds())
    ms = month.getTime() - now
  }
  for (const name in MS) ms += f[name] * MS[name]
  if (!Number.isFinite(ms)) {
    throw fedikvError('ERR_FEDIKV_INVALID_TTL', 'fedikv: ttl is too long')
  }
  return ms
}

/** The TTL of `set`/`cas` options in milliseconds, or null for none. */
function ttlOf(options) {
  if (options === undefined || options === null) return null
  if (typeof options !== 'object') {
    throw fedikvError('ERR_FEDIKV_INVALID_OPTION', `fedikv: options must be an object, not ${describe(options)}`)
  }
  return options.ttl === undefined || options.ttl === null ? null : durationToMs(options.ttl)
}

function optionsObject(options, className) {
  if (options === undefined || options === null) return {}
  if (typeof options !== 'object') {
    throw fedikvError('ERR_FEDIKV_INVALID_OPTION', `fedikv: the options of ${className} must be an object, not ${describe(options)}`)
  }
  return options
}

function stringOption(options, name, fallback, className) {
  const v = options[name] ?? fallback
  if (typeof v !== 'string') {
    throw fedikvError('ERR_FEDIKV_INVALID_OPTION', `fedikv: ${className} option ${name} must be a string, not ${describe(v)}`)
  }
  return v
}

function booleanOption(options, name, fallback, className) {
  const v = options[name] ?? fallback
  if (typeof v !== 'boolean') {
    throw fedikvError('ERR_FEDIKV_INVALID_OPTION', `fedikv: ${className} option ${name} must be a boolean, not ${describe(v)}`)
  }
  return v
}

/** Calls a native constructor, turning its errors into fedikv errors. */
function openNative(open) {
  try {
    return open()
  } catch (error) {
    throw translate(error)
  }
}

const natives = new WeakMap()

/**
 * What every fedikv store shares: Fedify's `KvStore` interface, plus
 * `close()` and `Symbol.asyncDispose`.
 */
class FedikvKvStore {
  #native

  constructor(native) {
    if (!(native instanceof NativeStore)) {
      throw new TypeError('fedikv: use MemoryKvStore, SqliteKvStore, … rather than FedikvKvStore itself')
    }
    this.#native = native
    natives.set(this, native)
  }

  async get(key) {
    const keyJson = encodeKey(key)
    let text
    try {
      text = await this.#native.get(keyJson)
    } catch (error) {
      throw translate(error)
    }
    return text == null ? undefined : decodeValue(text, keyJson)
  }

  async set(key, value, options) {
    const keyJson = encodeKey(key)
    const valueJson = encodeValue(value)
    const ttl = ttlOf(options)
    try {
      await this.#native.set(keyJson, valueJson, ttl)
    } catch (error) {
      throw translate(error)
    }
  }

  async delete(key) {
    const keyJson = encodeKey(key)
    try {
      await this.#native.delete(keyJson)
    } catch (error) {
      throw translate(error)
    }
  }

  async cas(key, expectedValue, newValue, options) {
    const keyJson = encodeKey(key)
    const expected = encodeValue(expectedValue)
    const value = encodeValue(newValue)
    const ttl = ttlOf(options)
    try {
      return await this.#native.cas(keyJson, expected, value, ttl)
    } catch (error) {
      throw translate(error)
    }
  }

  list(prefix) {
    // Checked now, so a bad prefix throws at the call, not at the first step.
    return this.#pages(encodePrefix(prefix))
  }

  async *#pages(prefixJson) {
    for await (const entries of parsedPages(this.#native, prefixJson, false)) {
      for (const [key, value] of entries) yield { key, value }
    }
  }

  async close() {
    try {
      await this.#native.close()
    } catch (error) {
      throw translate(error)
    }
  }

  /** Whether `close()` has been called. */
  get closed() {
    return this.#native.closed
  }

  async [Symbol.asyncDispose]() {
    await this.close()
  }
}

/** Calls a native method only some stores have (initialize, drop). */
async function callNative(store, method) {
  try {
    await natives.get(store)[method]()
  } catch (error) {
    throw translate(error)
  }
}

class MemoryKvStore extends FedikvKvStore {
  constructor() {
    super(NativeStore.memory())
  }
}

/** What the SQL stores share: a table, `initialize()` and `drop()`. */
class SqlKvStore extends FedikvKvStore {
  #tableName

  constructor(native, tableName) {
    super(native)
    this.#tableName = tableName
  }

  /** The table holding the entries. */
  get tableName() {
    return this.#tableName
  }

  /** Creates the table and its index if they do not exist. */
  initialize() {
    return callNative(this, 'initialize')
  }

  /** Drops the table; the next operation creates it again. */
  drop() {
    return callNative(this, 'dropStorage')
  }
}

class SqliteKvStore extends SqlKvStore {
  #path

  constructor(path = ':memory:', options = {}) {
    const name = 'SqliteKvStore'
    if (path instanceof URL) {
      if (path.protocol !== 'file:') {
        throw fedikvError('ERR_FEDIKV_INVALID_OPTION', `fedikv: ${name} needs a file path or file: URL, not ${path.protocol} URL`)
      }
      path = require('node:url').fileURLToPath(path)
    }
    if (typeof path !== 'string' || path.includes('\0')) {
      throw fedikvError('ERR_FEDIKV_INVALID_OPTION', `fedikv: ${name} needs a file path (or ":memory:"), not ${describe(path)}`)
    }
    const opts = optionsObject(options, name)
    const tableName = stringOption(opts, 'tableName', 'fedify_kv', name)
    const initialized = booleanOption(opts, 'initialized', false, name)
    super(openNative(() => NativeStore.sqlite(path, tableName, initialized)), tableName)
    this.#path = path
  }

  /** The database file (or `":memory:"`). */
  get path() {
    return this.#path
  }
}

function numberOption(options, name, fallback, className, { min = 0, integer = false } = {}) {
  const v = options[name] ?? fallback
  if (typeof v !== 'number' || !Number.isFinite(v) || v < min || (integer && !Number.isInteger(v))) {
    throw fedikvError('ERR_FEDIKV_INVALID_OPTION', `fedikv: ${className} option ${name} must be a ${integer ? 'whole ' : ''}number of at least ${min}, not ${describe(v)}`)
  }
  return v
}

/** A PEM option (`tls.ca`, …): text, or its bytes (a Buffer from readFileSync). */
function pemOption(options, name, className) {
  const v = options[name]
  if (v === undefined || v === null) return undefined
  if (typeof v === 'string') return v
  if (v instanceof Uint8Array) return Buffer.from(v.buffer, v.byteOffset, v.byteLength).toString('latin1')
  throw fedikvError('ERR_FEDIKV_INVALID_OPTION', `fedikv: ${className} option tls.${name} must be PEM text (a string or Buffer), not ${describe(v)}`)
}

function urlArgument(url, className) {
  if (typeof url !== 'string' && !(url instanceof URL)) {
    throw fedikvError('ERR_FEDIKV_INVALID_OPTION', `fedikv: ${className} needs a connection URL, not ${describe(url)}`)
  }
  return String(url)
}

/** The options of the SQL server stores, as their native factories take them. */
function sqlServerOptions(opts, className, defaultTable) {
  return {
    tableName: stringOption(opts, 'tableName', defaultTable, className),
    initialized: booleanOption(opts, 'initialized', false, className),
    maxConnections: numberOption(opts, 'maxConnections', 10, className, { min: 1, integer: true }),
    connectTimeoutMs: numberOption(opts, 'connectTimeout', 5000, className, { min: 1 }),
    // Longer than Redis's: a statement may rightly wait for other writers' row locks.
    responseTimeoutMs: numberOption(opts, 'responseTimeout', 10000, className, { min: 0 }),
  }
}

class RedisKvStore extends FedikvKvStore {
  #keyPrefix

  constructor(url, options = {}) {
    const name = 'RedisKvStore'
    const cluster = Array.isArray(url)
    const urls = cluster ? url.map((u) => urlArgument(u, name)) : [urlArgument(url, name)]
    const opts = optionsObject(options, name)
    const keyPrefix = stringOption(opts, 'keyPrefix', 'fedify::', name)
    const tls = opts.tls ?? {}
    if (typeof tls !== 'object') {
      throw fedikvError('ERR_FEDIKV_INVALID_OPTION', `fedikv: ${name} option tls must be an object ({ ca, cert, key }), not ${describe(tls)}`)
    }
    super(openNative(() => NativeStore.redis(urls, {
      keyPrefix,
      cluster,
      connectTimeoutMs: numberOption(opts, 'connectTimeout', 5000, name, { min: 1 }),
      responseTimeoutMs: numberOption(opts, 'responseTimeout', 5000, name, { min: 0 }),
      tlsCa: pemOption(tls, 'ca', name),
      tlsCert: pemOption(tls, 'cert', name),
      tlsKey: pemOption(tls, 'key', name),
    })))
    this.#keyPrefix = keyPrefix
  }

  /** The prefix of every Redis key this store writes. */
  get keyPrefix() {
    return this.#keyPrefix
  }

  /** Deletes every entry under this store's key prefix. */
  drop() {
    return callNative(this, 'dropStorage')
  }
}

class PostgresKvStore extends SqlKvStore {
  constructor(url, options = {}) {
    const name = 'PostgresKvStore'
    const opts = optionsObject(options, name)
    const native = sqlServerOptions(opts, name, 'fedify_kv_v2')
    native.unlogged = booleanOption(opts, 'unlogged', false, name)
    super(openNative(() => NativeStore.postgres(urlArgument(url, name), native)), native.tableName)
  }
}

class MysqlKvStore extends SqlKvStore {
  constructor(url, options = {}) {
    const name = 'MysqlKvStore'
    const native = sqlServerOptions(optionsObject(options, name), name, 'fedify_kv')
    super(openNative(() => NativeStore.mysql(urlArgument(url, name), native)), native.tableName)
  }
}

/** Whether a DenoKvStore target is a KV Connect URL rather than a file path. */
const KV_CONNECT_URL = /^https?:\/\//i

class DenoKvStore extends FedikvKvStore {
  constructor(pathOrUrl, options = {}) {
    const name = 'DenoKvStore'
    let target = pathOrUrl
    if (target instanceof URL) {
      if (target.protocol === 'file:') {
        target = require('node:url').fileURLToPath(target)
      } else if (target.protocol === 'http:' || target.protocol === 'https:') {
        target = target.href
      } else {
        throw fedikvError('ERR_FEDIKV_INVALID_OPTION', `fedikv: ${name} needs a file path, a file: URL or an http(s):// KV Connect URL, not a ${target.protocol} URL`)
      }
    }
    if (typeof target !== 'string' || target.includes('\0')) {
      throw fedikvError('ERR_FEDIKV_INVALID_OPTION', `fedikv: ${name} needs a Deno KV file path or an http(s):// KV Connect URL, not ${describe(target)}`)
    }
    const opts = optionsObject(options, name)
    // As @deno/kv does: an empty token is no token, and without one a KV
    // Connect URL takes DENO_KV_ACCESS_TOKEN, as Deno.openKv does. A file
    // needs none.
    let accessToken = stringOption(opts, 'accessToken', '', name)
    if (accessToken === '' && KV_CONNECT_URL.test(target)) {
      accessToken = process.env.DENO_KV_ACCESS_TOKEN ?? ''
    }
    super(openNative(() => NativeStore.denokv(target, {
      accessToken: accessToken === '' ? undefined : accessToken,
      connectTimeoutMs: numberOption(opts, 'connectTimeout', 5000, name, { min: 1 }),
    })))
  }

  /**
   * Deletes every entry of the database, Deno apps' entries included (the
   * file, or the server's database, stays).
   */
  drop() {
    return callNative(this, 'dropStorage')
  }
}

// How long after its expiry an entry may still be read through KV Connect
// (src/denokv/mod.rs, REMOTE_EXPIRY_GRACE: denokv's lazy collector).
Object.defineProperty(DenoKvStore, 'kvConnectExpiryGraceMs', { value: 62_000, enumerable: true })

/**
 * Every live entry of a fedikv store under `prefix`, with its expiry:
 * `{ key, value, expiresAt }`, `expiresAt` in epoch milliseconds or `null`
 * for an entry that never expires. Streams page by page, like `list()`.
 * Not part of Fedify's KvStore: this is what `migrate` and the `fedikv`
 * command use to keep TTLs.
 */
function listWithExpiry(store, prefix) {
  const native = natives.get(store)
  if (native === undefined) {
    throw fedikvError('ERR_FEDIKV_INVALID_OPTION', `fedikv: listWithExpiry needs a fedikv store, not ${describe(store)}`)
  }
  return pagesWithExpiry(native, encodePrefix(prefix))
}

async function* pagesWithExpiry(native, prefixJson) {
  for await (const entries of parsedPages(native, prefixJson, true)) {
    for (const [key, value, expiresAt] of entries) yield { key, value, expiresAt }
  }
}

/**
 * The pages of a listing, each parsed with one `JSON.parse`: arrays of
 * `[key, value]`, or `[key, value, expiresAt]` when `withExpiry`.
 */
async function* parsedPages(native, prefixJson, withExpiry) {
  let cursor = null
  do {
    let page
    try {
      page = await native.listPage(prefixJson, cursor, LIST_PAGE_SIZE, withExpiry)
    } catch (error) {
      throw translate(error)
    }
    let entries
    try {
      entries = JSON.parse(page.entries)
    } catch (error) {
      throw fedikvError('ERR_FEDIKV_INVALID_DATA', `fedikv: a value under ${prefixJson ?? 'the store'} is not JSON: ${error.message}`)
    }
    yield entries
    cursor = page.cursor ?? null
  } while (cursor !== null)
}

// --- openKvStore: one URL for any store --------------------------------------

const URL_FORMS = [
  'memory:',
  'sqlite:PATH, sqlite:///ABSOLUTE/PATH, sqlite::memory: or a bare file path',
  'redis://[user:password@]host[:port][/db] or rediss://… (TLS)',
  'redis://host1:port1,host2:port2,… or redis+cluster://host:port[,…] (a Redis Cluster; rediss+cluster:// for TLS)',
  'postgres://… or postgresql://…',
  'mysql://… or mariadb://…',
  'denokv:PATH (a Deno KV file) or http(s)://… (KV Connect)',
]

function badUrl(url, why) {
  return fedikvError(
    'ERR_FEDIKV_INVALID_OPTION',
    `fedikv: openKvStore: ${why} ${JSON.stringify(maskUrl(url))}; accepted forms: ${URL_FORMS.join('; ')}`,
  )
}

/** The URL with its password (and a KV Connect token in it) as `***`. */
function maskUrl(url) {
  return url.replace(/^([a-z][a-z0-9+.-]*:\/\/[^/?#@:]*):[^@/?#]*@/i, '$1:***@')
}

/** `{ scheme, rest }` of `scheme:rest`, or null for a string with no scheme. */
function splitScheme(url) {
  const match = /^([a-z][a-z0-9+.-]*):(.*)$/is.exec(url)
  // One letter before a colon is a Windows drive (C:\db), not a scheme.
  if (match === null || match[1].length === 1) return null
  return { scheme: match[1].toLowerCase(), rest: match[2] }
}

/**
 * Takes the fedikv options a URL may carry in its query (`tableName`,
 * `keyPrefix`, `unlogged`) out of it: returns the URL without them, and
 * them as options (those given to openKvStore win).
 */
function takeQueryOptions(url, names, given) {
  const q = url.indexOf('?')
  if (q < 0) return { url, options: given }
  const hash = url.indexOf('#', q)
  const query = url.slice(q + 1, hash < 0 ? undefined : hash)
  const keep = []
  const options = {}
  for (const pair of query.split('&')) {
    if (pair === '') continue
    const eq = pair.indexOf('=')
    const name = decodeURIComponent(eq < 0 ? pair : pair.slice(0, eq))
    const value = eq < 0 ? '' : decodeURIComponent(pair.slice(eq + 1).replace(/\+/g, ' '))
    if (names.includes(name)) {
      options[name] = name === 'unlogged' ? value !== 'false' && value !== '0' : value
    } else {
      keep.push(pair)
    }
  }
  const rest = (keep.length > 0 ? '?' + keep.join('&') : '') + (hash < 0 ? '' : url.slice(hash))
  return { url: url.slice(0, q) + rest, options: { ...options, ...given } }
}

/** A path after `sqlite:` or `denokv:` (`///abs` is the file-URL form of `/abs`). */
function pathOf(url, rest) {
  const path = rest.startsWith('///') ? rest.slice(2) : rest
  if (path === '' || (path.startsWith('//') && !path.startsWith('///'))) {
    throw badUrl(url, 'no file path in')
  }
  return path
}

/** The node URLs of `redis://[auth@]h1:p1,h2:p2/…` (one each, same auth and path). */
function clusterNodes(url, scheme, rest) {
  if (!rest.startsWith('//')) throw badUrl(url, 'malformed Redis URL')
  const body = rest.slice(2)
  const end = body.search(/[/?#]/)
  const authority = end < 0 ? body : body.slice(0, end)
  const tail = end < 0 ? '' : body.slice(end)
  const at = authority.lastIndexOf('@')
  const auth = at < 0 ? '' : authority.slice(0, at + 1)
  const hosts = authority.slice(at + 1).split(',')
  if (hosts.some((h) => h === '')) throw badUrl(url, 'an empty host in')
  return hosts.map((host) => {
    const node = `${scheme}://${auth}${host}${tail}`
    try {
      new URL(node)
    } catch {
      throw badUrl(url, 'malformed Redis node in')
    }
    return node
  })
}

function checkedUrl(url) {
  try {
    new URL(url)
  } catch {
    throw badUrl(url, 'malformed URL')
  }
  return url
}

/**
 * A fedikv store for a URL: `memory:`, `sqlite:PATH` (or a bare path),
 * `redis://`/`rediss://` (several comma-separated hosts, or
 * `redis+cluster://`, for a Cluster), `postgres://`/`postgresql://`,
 * `mysql://`/`mariadb://`, `denokv:PATH` or `http(s)://` (Deno KV).
 * `options` pass through to the store's constructor; the URL's query may
 * also carry `tableName`, `keyPrefix` and `unlogged`.
 */
function openKvStore(url, options = {}) {
  if (url instanceof URL) url = url.href
  if (typeof url !== 'string') {
    throw fedikvError('ERR_FEDIKV_INVALID_OPTION', `fedikv: openKvStore needs a URL string, not ${describe(url)}; accepted forms: ${URL_FORMS.join('; ')}`)
  }
  const given = optionsObject(options, 'openKvStore')
  const trimmed = url.trim()
  if (trimmed === '') throw badUrl(url, 'empty URL')
  const split = splitScheme(trimmed)
  if (split === null) return new SqliteKvStore(trimmed, given)
  const { scheme, rest } = split
  switch (scheme) {
    case 'memory':
      if (rest !== '' && rest !== '//') throw badUrl(url, 'memory: takes nothing after it, not')
      return new MemoryKvStore()
    case 'sqlite': {
      const { url: bare, options: opts } = takeQueryOptions(trimmed, ['tableName'], given)
      return new SqliteKvStore(pathOf(url, bare.slice('sqlite:'.length)), opts)
    }
    case 'redis':
    case 'rediss':
    case 'redis+cluster':
    case 'rediss+cluster': {
      const { url: bare, options: opts } = takeQueryOptions(trimmed, ['keyPrefix'], given)
      const base = scheme.replace('+cluster', '')
      const nodes = clusterNodes(url, base, bare.slice(scheme.length + 1))
      const cluster = scheme.endsWith('+cluster') || nodes.length > 1
      return new RedisKvStore(cluster ? nodes : nodes[0], opts)
    }
    case 'postgres':
    case 'postgresql': {
      const { url: bare, options: opts } = takeQueryOptions(trimmed, ['tableName', 'unlogged'], given)
      return new PostgresKvStore(checkedUrl(bare), opts)
    }
    case 'mysql':
    case 'mariadb': {
      const { url: bare, options: opts } = takeQueryOptions(trimmed, ['tableName'], given)
      return new MysqlKvStore(checkedUrl('mysql:' + bare.slice(scheme.length + 1)), opts)
    }
    case 'denokv':
    case 'http':
    case 'https': {
      const DenoKv = module.exports.DenoKvStore
      if (DenoKv === undefined) {
        throw fedikvError('ERR_FEDIKV_UNSUPPORTED', 'fedikv: openKvStore: this build of fedikv has no Deno KV store')
      }
      if (scheme === 'denokv') return new DenoKv(pathOf(url, rest), given)
      return new DenoKv(checkedUrl(trimmed), given)
    }
    default:
      throw badUrl(url, `unknown scheme ${scheme}: in`)
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
  openKvStore,
  listWithExpiry,
}
// After the exports: migrate.js requires this module and uses them.
module.exports.migrate = require('./migrate.js').migrate
