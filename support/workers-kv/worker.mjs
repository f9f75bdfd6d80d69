// The Worker of the Workers KV emulator (see README.md beside this file):
// Cloudflare's REST API v4 for KV in front of real KV bindings (Miniflare's
// simulation of Workers KV), and the tests' own endpoints under /__test/.
// emulator.mjs bundles it with esbuild, so it may import npm packages.
//
// Its bindings (emulator.mjs sets them): NS_0 … NS_{n-1}, the pool of KV
// namespaces; NAMESPACE_IDS, their ids in that order; ACCOUNT_ID and
// API_TOKEN, what a REST request must name and carry.
//
// The tests' state (namespaces handed out, faults to inject, requests
// counted) lives in this module: Miniflare runs the Worker in one isolate
// for its whole life, so module state is shared by every request.
import { Temporal } from "@js-temporal/polyfill";
import { WorkersKvStore } from "fedify-cfworkers/x/cfworkers";

/**
 * The error codes of the REST answers. 10000, 10009 and 10013 are the
 * codes Cloudflare answers for these; the others are taken from
 * Cloudflare's list of KV error codes for the nearest case. Clients should
 * branch on the HTTP status, which is what this emulator is faithful to.
 */
const CODE = {
  authentication: 10000,
  unavailable: 10001,
  keyNotFound: 10009,
  invalid: 10012,
  namespaceNotFound: 10013,
  tooManyRequests: 10022,
  payloadTooLarge: 10024,
  noSuchEndpoint: 10025,
  invalidLimit: 10028,
};

/** Cloudflare's limits, as its documentation states them. */
const LIMIT = {
  keyBytes: 512,
  metadataBytes: 1024,
  valueBytes: 25 * 1024 * 1024,
  minTtlSeconds: 60,
  bulkGetKeys: 100,
  bulkWriteKeys: 10_000,
  listMin: 10,
  listMax: 1000,
};

const API_PREFIX = "/client/v4/";
const NAMESPACE_PATH = /^\/client\/v4\/accounts\/([^/]+)\/storage\/kv\/namespaces\/([^/]+)(?:\/(.*))?$/;

const state = {
  handedOut: 0,
  faults: [],
  requests: { total: 0, byRoute: {} },
};

export default {
  async fetch(request, env) {
    const url = new URL(request.url);
    try {
      if (url.pathname.startsWith("/__test/")) return await serveTest(request, url, env);
      if (url.pathname.startsWith(API_PREFIX)) return await serveRest(request, url, env);
      return failure(404, CODE.noSuchEndpoint, `no such endpoint: ${request.method} ${url.pathname}`);
    } catch (error) {
      // A bug of the emulator's, not an answer Cloudflare would give: said
      // as plainly as possible so that the test that met it shows it.
      return failure(500, CODE.unavailable, `workers-kv emulator: ${error?.stack ?? error}`);
    }
  },
};

// ------------------------------------------------------------- REST answers

/** Cloudflare's envelope of a successful answer. */
function envelope(result, extra = {}) {
  return Response.json({ success: true, errors: [], messages: [], result, ...extra });
}

/** Cloudflare's envelope of a failed answer. */
function failure(status, code, message, headers = {}) {
  return Response.json(
    { success: false, errors: [{ code, message }], messages: [], result: null },
    { status, headers },
  );
}

/**
 * A request refused as invalid (bad body, a limit passed, the binding said
 * no): a 400, or a 413 for a value or metadata too large, as Cloudflare
 * answers those.
 */
class Invalid extends Error {
  constructor(message, { code = CODE.invalid, status = 400 } = {}) {
    super(message);
    this.code = code;
    this.status = status;
  }
}

function tooLarge(message) {
  return new Invalid(message, { code: CODE.payloadTooLarge, status: 413 });
}

// ---------------------------------------------------------------- REST API

/**
 * The REST routes, by the part of the path after the namespace and the
 * method. Each name is what /__test/requests counts the route under.
 */
const ROUTES = [
  { method: "GET", path: /^$/, name: "GET namespace", serve: getNamespace },
  { method: "GET", path: /^keys$/, name: "GET keys", serve: listKeys },
  { method: "POST", path: /^bulk\/get$/, name: "POST bulk/get", serve: bulkGet },
  { method: "PUT", path: /^bulk$/, name: "PUT bulk", serve: bulkPut },
  { method: "POST", path: /^bulk\/delete$/, name: "POST bulk/delete", serve: bulkDelete },
  { method: "GET", path: /^values\/(.+)$/, name: "GET values", serve: getValue },
  { method: "PUT", path: /^values\/(.+)$/, name: "PUT values", serve: putValue },
  { method: "DELETE", path: /^values\/(.+)$/, name: "DELETE values", serve: deleteValue },
  { method: "GET", path: /^metadata\/(.+)$/, name: "GET metadata", serve: getMetadata },
];

function routeOf(method, rest) {
  for (const route of ROUTES) {
    const match = route.method === method && route.path.exec(rest);
    if (match) return { ...route, encodedKey: match[1] };
  }
  return null;
}

async function serveRest(request, url, env) {
  const parts = NAMESPACE_PATH.exec(url.pathname);
  const route = parts && routeOf(request.method, parts[3] ?? "");
  count(route?.name ?? `${request.method} unknown`);

  const fault = takeFault(url.pathname);
  if (fault?.delayMs) await new Promise((resolve) => setTimeout(resolve, fault.delayMs));
  if (fault?.status) return faultAnswer(fault);

  if (!authorized(request, parts?.[1], env)) return failure(403, CODE.authentication, "Authentication error");
  if (route === null) return failure(404, CODE.noSuchEndpoint, `no such endpoint: ${request.method} ${url.pathname}`);
  const namespace = namespaceOf(env, parts[2]);
  if (namespace === null) return failure(404, CODE.namespaceNotFound, "namespace not found");
  try {
    const key = route.encodedKey === undefined ? undefined : decodeKey(route.encodedKey);
    return await route.serve({ request, url, env, namespace, key });
  } catch (error) {
    if (error instanceof Invalid) return failure(error.status, error.code, error.message);
    throw error;
  }
}

/** A bearer token and the account id, as Cloudflare wants both. */
function authorized(request, accountId, env) {
  return request.headers.get("authorization") === `Bearer ${env.API_TOKEN}` && accountId === env.ACCOUNT_ID;
}

/** `{ id, index, binding }` of the pool's namespace `id`, or null. */
function namespaceOf(env, id) {
  const index = env.NAMESPACE_IDS.indexOf(id);
  return index < 0 ? null : { id, index, binding: env[`NS_${index}`] };
}

function decodeKey(encoded) {
  try {
    return decodeURIComponent(encoded);
  } catch {
    throw new Invalid("Could not URL-decode key name");
  }
}

/**
 * Runs `operation` on a binding, turning what the binding refuses into an
 * Invalid with the binding's own message (Miniflare's, which says what
 * Cloudflare's says: "KV PUT failed: 400 Invalid expiration_ttl of 59 …"):
 * a 400, or a 413 when the binding said 413. The binding's TypeErrors and
 * RangeErrors (an argument it cannot take) are refusals too.
 */
async function onBinding(operation) {
  try {
    return await operation();
  } catch (error) {
    const refused = error instanceof Error && /^KV \w+ failed: (\d{3})/.exec(error.message);
    if (refused) throw refused[1] === "413" ? tooLarge(error.message) : new Invalid(error.message);
    if (error instanceof TypeError || error instanceof RangeError) throw new Invalid(error.message);
    throw error;
  }
}

async function jsonBody(request) {
  try {
    return await request.json();
  } catch {
    throw new Invalid("the request body is not JSON");
  }
}

function getNamespace({ namespace }) {
  return envelope({ id: namespace.id, title: `fedikv-test-${namespace.index}`, supports_url_encoding: true });
}

async function listKeys({ url, namespace }) {
  const query = url.searchParams;
  const limit = query.has("limit") ? Number(query.get("limit")) : LIMIT.listMax;
  if (!(Number.isInteger(limit) && limit >= LIMIT.listMin && limit <= LIMIT.listMax)) {
    throw new Invalid(
      `Invalid limit of ${query.get("limit")}: it must be an integer from ${LIMIT.listMin} to ${LIMIT.listMax}`,
      { code: CODE.invalidLimit },
    );
  }
  const page = await onBinding(() =>
    namespace.binding.list({
      limit,
      prefix: query.get("prefix") || undefined,
      cursor: query.get("cursor") || undefined,
    }),
  );
  return envelope(page.keys.map(listEntry), {
    result_info: { count: page.keys.length, cursor: page.list_complete ? "" : page.cursor },
  });
}

/** A listed key as the REST API gives it: no expiration or metadata field when there is none. */
function listEntry({ name, expiration, metadata }) {
  return {
    name,
    ...(expiration === undefined ? {} : { expiration }),
    ...(metadata === undefined ? {} : { metadata }),
  };
}

async function bulkGet({ request, namespace }) {
  const { keys, type = "text", withMetadata = false } = await jsonBody(request);
  if (!Array.isArray(keys) || !keys.every((key) => typeof key === "string")) {
    throw new Invalid("keys must be an array of strings");
  }
  if (keys.length < 1 || keys.length > LIMIT.bulkGetKeys) {
    throw new Invalid(`You can request from 1 to ${LIMIT.bulkGetKeys} keys, not ${keys.length}`);
  }
  if (type !== "text" && type !== "json") throw new Invalid(`"${type}" is not a valid type. Use "json" or "text"`);
  const found = await onBinding(() =>
    withMetadata ? namespace.binding.getWithMetadata(keys, type) : namespace.binding.get(keys, type),
  );
  const values = {};
  for (const key of keys) {
    const entry = found.get(key) ?? null;
    values[key] = withMetadata && entry !== null && entry.value === null ? null : entry;
  }
  return envelope({ values });
}

async function bulkPut({ request, namespace }) {
  const items = await jsonBody(request);
  if (!Array.isArray(items)) throw new Invalid("the body must be an array of key-value pairs");
  if (items.length > LIMIT.bulkWriteKeys) {
    throw new Invalid(`You can write at most ${LIMIT.bulkWriteKeys} keys at once, not ${items.length}`);
  }
  // Every item is checked before any is written: Cloudflare refuses the
  // whole request when one item is invalid, and writes none of it.
  const now = Math.floor(Date.now() / 1000);
  const writes = items.map((item, index) => {
    try {
      return writeOf(item, now);
    } catch (error) {
      if (error instanceof Invalid) {
        throw new Invalid(`${error.message} (the item at index ${index})`, { code: error.code, status: error.status });
      }
      throw error;
    }
  });
  await inBatches(writes, ({ key, value, options }) => onBinding(() => namespace.binding.put(key, value, options)));
  return envelope({ successful_key_count: items.length, unsuccessful_keys: [] });
}

/** One item of a bulk write, checked against Cloudflare's rules, as a put's arguments. */
function writeOf(item, now) {
  if (item === null || typeof item !== "object") throw new Invalid("an item is not an object");
  const { key, value, expiration, expiration_ttl: ttl, metadata, base64 = false } = item;
  checkKey(key);
  if (typeof value !== "string") throw new Invalid(`the value of "${key}" is not a string`);
  const bytes = base64 ? fromBase64(value) : value;
  const size = typeof bytes === "string" ? new TextEncoder().encode(bytes).length : bytes.length;
  if (size > LIMIT.valueBytes) throw tooLarge(`Value length of ${size} exceeds limit of ${LIMIT.valueBytes}.`);
  const options = {};
  // Seconds are whole: the binding drops a fraction (60.5 is 60, 59.9 is
  // 59), and so does this check.
  if (ttl !== undefined) {
    if (!(typeof ttl === "number" && Math.trunc(ttl) > 0)) {
      throw new Invalid(`Invalid expiration_ttl of ${ttl}. Please specify integer greater than 0.`);
    }
    if (Math.trunc(ttl) < LIMIT.minTtlSeconds) {
      throw new Invalid(
        `Invalid expiration_ttl of ${Math.trunc(ttl)}. Expiration TTL must be at least ${LIMIT.minTtlSeconds}.`,
      );
    }
    options.expirationTtl = Math.trunc(ttl);
  } else if (expiration !== undefined) {
    if (!(typeof expiration === "number" && Math.trunc(expiration) > now)) {
      throw new Invalid(
        `Invalid expiration of ${expiration}. Please specify integer greater than the current number of seconds since the UNIX epoch.`,
      );
    }
    if (Math.trunc(expiration) < now + LIMIT.minTtlSeconds) {
      throw new Invalid(
        `Invalid expiration of ${expiration}. Expiration times must be at least ${LIMIT.minTtlSeconds} seconds in the future.`,
      );
    }
    options.expiration = Math.trunc(expiration);
  }
  if (metadata !== undefined) {
    const length = new TextEncoder().encode(JSON.stringify(metadata)).length;
    if (length > LIMIT.metadataBytes) {
      throw tooLarge(`Metadata length of ${length} exceeds limit of ${LIMIT.metadataBytes}.`);
    }
    options.metadata = metadata;
  }
  return { key, value: bytes, options };
}

/** The binding's rules for a key name, checked before a bulk write or delete. */
function checkKey(key) {
  if (typeof key !== "string") throw new Invalid("a key is not a string");
  if (key === "") throw new Invalid("Key names must not be empty");
  if (key === "." || key === "..") throw new Invalid(`Illegal key name "${key}". Please use a different name.`);
  const length = new TextEncoder().encode(key).length;
  if (length > LIMIT.keyBytes) {
    throw new Invalid(`UTF-8 encoded length of ${length} exceeds key length limit of ${LIMIT.keyBytes}.`);
  }
}

function fromBase64(text) {
  try {
    return Uint8Array.from(atob(text), (c) => c.charCodeAt(0));
  } catch {
    throw new Invalid("a value marked base64 is not base64");
  }
}

/** Runs `each` on every item, a hundred at a time. */
async function inBatches(items, each) {
  for (let start = 0; start < items.length; start += 100) {
    await Promise.all(items.slice(start, start + 100).map(each));
  }
}

async function bulkDelete({ request, namespace }) {
  const keys = await jsonBody(request);
  if (!Array.isArray(keys)) throw new Invalid("the body must be an array of key names");
  if (keys.length > LIMIT.bulkWriteKeys) {
    throw new Invalid(`You can delete at most ${LIMIT.bulkWriteKeys} keys at once, not ${keys.length}`);
  }
  keys.forEach(checkKey);
  await inBatches(keys, (key) => onBinding(() => namespace.binding.delete(key)));
  return envelope({ successful_key_count: keys.length, unsuccessful_keys: [] });
}

async function getValue({ namespace, key }) {
  const value = await onBinding(() => namespace.binding.get(key, "arrayBuffer"));
  if (value === null) return failure(404, CODE.keyNotFound, "key not found");
  return new Response(value, { headers: { "content-type": "application/octet-stream" } });
}

async function putValue({ request, url, namespace, key }) {
  const options = {};
  const ttl = url.searchParams.get("expiration_ttl");
  const expiration = url.searchParams.get("expiration");
  if (ttl !== null) options.expirationTtl = Number(ttl);
  else if (expiration !== null) options.expiration = Number(expiration);
  let value;
  if ((request.headers.get("content-type") ?? "").startsWith("multipart/form-data")) {
    const form = await request.formData().catch(() => {
      throw new Invalid("the multipart body cannot be read");
    });
    value = form.get("value");
    if (value === null) throw new Invalid("the multipart body has no value field");
    if (typeof value !== "string") value = await value.arrayBuffer();
    const metadata = form.get("metadata");
    if (metadata !== null) {
      try {
        options.metadata = JSON.parse(typeof metadata === "string" ? metadata : await metadata.text());
      } catch {
        throw new Invalid("the metadata field is not JSON");
      }
    }
  } else {
    value = await request.arrayBuffer();
  }
  await onBinding(() => namespace.binding.put(key, value, options));
  return envelope(null);
}

async function deleteValue({ namespace, key }) {
  await onBinding(() => namespace.binding.delete(key));
  return envelope(null);
}

async function getMetadata({ namespace, key }) {
  const { value, metadata } = await onBinding(() => namespace.binding.getWithMetadata(key, "arrayBuffer"));
  if (value === null) return failure(404, CODE.keyNotFound, "key not found");
  return envelope(metadata ?? null);
}

// ------------------------------------------------------ requests and faults

function count(routeName) {
  state.requests.total += 1;
  state.requests.byRoute[routeName] = (state.requests.byRoute[routeName] ?? 0) + 1;
}

/** The first fault that still has requests to take and matches `path`, one request taken. */
function takeFault(path) {
  const fault = state.faults.find((f) => f.match === undefined || path.includes(f.match));
  if (fault === undefined) return undefined;
  fault.count -= 1;
  if (fault.count === 0) state.faults.splice(state.faults.indexOf(fault), 1);
  return fault;
}

function faultAnswer({ status, retryAfter }) {
  const code = status === 429 ? CODE.tooManyRequests : CODE.unavailable;
  const headers = retryAfter === undefined ? {} : { "retry-after": String(retryAfter) };
  return failure(status, code, `fault injected by the test: ${status}`, headers);
}

/** A fault spec of POST /__test/faults, checked. */
function faultOf(spec) {
  const { status, count = 1, retryAfter, delayMs, match } = spec ?? {};
  const problems = [
    status !== undefined && !(Number.isInteger(status) && status >= 400 && status <= 599) && "status: 400 to 599",
    !(Number.isInteger(count) && count > 0) && "count: a positive integer",
    retryAfter !== undefined && !(Number.isInteger(retryAfter) && retryAfter >= 0) && "retryAfter: whole seconds",
    delayMs !== undefined && !(Number.isFinite(delayMs) && delayMs >= 0) && "delayMs: milliseconds",
    match !== undefined && typeof match !== "string" && "match: a string",
    status === undefined && delayMs === undefined && "a status or a delayMs",
  ].filter(Boolean);
  if (problems.length > 0) throw new TestError(400, `a fault needs ${problems.join(", ")}`);
  return { status, count, retryAfter, delayMs, match };
}

// ------------------------------------------------------ the tests' endpoints

class TestError extends Error {
  constructor(status, message) {
    super(message);
    this.status = status;
  }
}

const TEST_ROUTES = {
  "POST namespaces": (_, env) => newNamespace(env),
  "GET faults": () => ({ faults: state.faults }),
  "POST faults": async (request) => {
    state.faults.push(faultOf(await testBody(request)));
    return { ok: true };
  },
  "DELETE faults": () => {
    state.faults.length = 0;
    return { ok: true };
  },
  "GET requests": () => state.requests,
  "DELETE requests": () => {
    state.requests = { total: 0, byRoute: {} };
    return { ok: true };
  },
  "POST fedify": async (request, env) => runFedify(env, await testBody(request)),
  "POST raw": async (request, env) => runRaw(env, await testBody(request)),
};

async function serveTest(request, url, env) {
  const serve = TEST_ROUTES[`${request.method} ${url.pathname.slice("/__test/".length)}`];
  if (serve === undefined)
    return Response.json({ error: `no such endpoint: ${request.method} ${url.pathname}` }, { status: 404 });
  try {
    return Response.json(await serve(request, env));
  } catch (error) {
    if (error instanceof TestError) return Response.json({ error: error.message }, { status: error.status });
    if (error instanceof Invalid) return Response.json({ error: error.message }, { status: error.status });
    // Fedify's store or the binding failed: the test may mean it to.
    return Response.json({ error: `${error?.name}: ${error?.message}` }, { status: 500 });
  }
}

async function testBody(request) {
  try {
    return await request.json();
  } catch {
    throw new TestError(400, "the request body is not JSON");
  }
}

function newNamespace(env) {
  const ids = env.NAMESPACE_IDS;
  if (state.handedOut >= ids.length) {
    throw new TestError(
      409,
      `all ${ids.length} namespaces of the pool are handed out; start the emulator with a larger WORKERS_KV_NAMESPACES`,
    );
  }
  return { id: ids[state.handedOut++] };
}

function testNamespace(env, id) {
  const namespace = namespaceOf(env, id);
  if (namespace === null) throw new TestError(404, `no namespace ${JSON.stringify(id)} in the pool`);
  return namespace;
}

/** One store of Fedify's per namespace: its constructor logs a deprecation warning each time. */
const fedifyStores = new Map();

async function runFedify(env, { namespace: id, op, key, value, ttlMs }) {
  const namespace = testNamespace(env, id);
  if (!Array.isArray(key) || !key.every((part) => typeof part === "string")) {
    throw new TestError(400, "key must be an array of strings (a Fedify KvKey)");
  }
  let store = fedifyStores.get(namespace.id);
  if (store === undefined) fedifyStores.set(namespace.id, (store = new WorkersKvStore(namespace.binding)));
  switch (op) {
    case "get": {
      const found = await store.get(key);
      return { found: found !== undefined, value: found ?? null };
    }
    case "set": {
      const ttl = ttlMs === undefined ? undefined : Temporal.Duration.from({ milliseconds: ttlMs });
      await onBinding(() => store.set(key, value, ttl === undefined ? undefined : { ttl }));
      return { ok: true };
    }
    case "delete":
      await store.delete(key);
      return { ok: true };
    default:
      throw new TestError(400, `op must be "get", "set" or "delete", not ${JSON.stringify(op)}`);
  }
}

async function runRaw(env, { namespace: id, op, key, prefix, value, expirationTtl, expiration, metadata }) {
  const { binding } = testNamespace(env, id);
  switch (op) {
    case "get":
      return await rawGet(binding, key);
    case "list":
      return { keys: await listAll(binding, prefix) };
    case "put":
      if (typeof value !== "string") throw new TestError(400, "value must be a string");
      await onBinding(() => binding.put(key, value, { expirationTtl, expiration, metadata }));
      return { ok: true };
    case "delete":
      await onBinding(() => binding.delete(key));
      return { ok: true };
    default:
      throw new TestError(400, `op must be "get", "list", "put" or "delete", not ${JSON.stringify(op)}`);
  }
}

/**
 * A key's value and metadata, and its expiration, which only a listing
 * tells: the first key listed under the key itself as the prefix is the
 * key, when it exists, since it sorts before every longer one.
 */
async function rawGet(binding, key) {
  const { value, metadata } = await onBinding(() => binding.getWithMetadata(key, "text"));
  if (value === null) return { value: null, metadata: null };
  const { keys } = await binding.list({ prefix: key, limit: 1 });
  const expiration = keys[0]?.name === key ? keys[0].expiration : undefined;
  return { value, metadata, ...(expiration === undefined ? {} : { expiration }) };
}

async function listAll(binding, prefix) {
  const keys = [];
  let cursor;
  do {
    const page = await onBinding(() => binding.list({ prefix, cursor }));
    keys.push(...page.keys.map(listEntry));
    cursor = page.list_complete ? undefined : page.cursor;
  } while (cursor !== undefined);
  return keys;
}
