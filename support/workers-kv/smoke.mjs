// A smoke check of the Workers KV emulator: starts one through start.mjs
// and goes through every endpoint once, on whichever runtime runs it.
//
//   node support/workers-kv/smoke.mjs
//   deno run -A support/workers-kv/smoke.mjs
//   bun support/workers-kv/smoke.mjs
//
// It is not part of `npm test` (the tests of WorkersKvStore are): it is
// for whoever changes the emulator. It prints a line per check and exits
// non-zero at the first that fails.
import assert from "node:assert/strict";
import { spawn, spawnSync } from "node:child_process";
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import { runtimePath } from "../../scripts/runtimes.mjs";
import { startWorkersKv } from "./start.mjs";

const here = (file) => fileURLToPath(new URL(file, import.meta.url));
const sleep = (ms) => new Promise((resolve) => setTimeout(resolve, ms));
const nowSeconds = () => Date.now() / 1000;

async function check(name, body) {
  const started = performance.now();
  await body();
  console.log(`ok   ${name} (${Math.round(performance.now() - started)} ms)`);
}

const startedAt = performance.now();
const kv = await startWorkersKv();
if (kv.skip) {
  console.log(`skip: ${kv.skip}`);
  process.exit(0);
}
console.log(`ok   started through start.mjs in ${Math.round(performance.now() - startedAt)} ms (pid ${kv.pid})`);

const auth = { authorization: `Bearer ${kv.apiToken}` };
const base = (namespace, account = kv.accountId) =>
  `${kv.apiUrl}/accounts/${account}/storage/kv/namespaces/${namespace}`;

/** A REST request; resolves to `{ status, headers, body }` (JSON parsed when it is JSON). */
async function rest(method, path, { body, headers = auth, raw = false } = {}) {
  const init = { method, headers: { ...headers } };
  if (body !== undefined) {
    if (raw) init.body = body;
    else {
      init.body = JSON.stringify(body);
      init.headers["content-type"] = "application/json";
    }
  }
  const response = await fetch(path, init);
  const type = response.headers.get("content-type") ?? "";
  const answer = type.includes("json") ? await response.json() : new Uint8Array(await response.arrayBuffer());
  return { status: response.status, headers: response.headers, body: answer };
}

function assertError(answer, status, code) {
  assert.equal(answer.status, status, JSON.stringify(answer.body));
  assert.equal(answer.body.success, false);
  assert.equal(answer.body.errors[0].code, code, JSON.stringify(answer.body));
  assert.deepEqual(answer.body.messages, []);
  assert.equal(answer.body.result, null);
}

try {
  const ns = await kv.newNamespace();
  const other = await kv.newNamespace();
  assert.notEqual(ns, other);
  assert.equal(ns.length, 32);

  await check("authentication: no token, a wrong token, a wrong account", async () => {
    const expected = {
      success: false,
      errors: [{ code: 10000, message: "Authentication error" }],
      messages: [],
      result: null,
    };
    for (const [path, headers] of [
      [base(ns), {}],
      [base(ns), { authorization: "Bearer nope" }],
      [base(ns, "0".repeat(32)), auth],
      [`${base(ns)}/keys`, { authorization: kv.apiToken }],
    ]) {
      const answer = await rest("GET", path, { headers });
      assert.equal(answer.status, 403);
      assert.deepEqual(answer.body, expected);
    }
  });

  await check("namespace: found, and 404 with 10013", async () => {
    const answer = await rest("GET", base(ns));
    assert.equal(answer.status, 200);
    assert.deepEqual(answer.body, {
      success: true,
      errors: [],
      messages: [],
      result: { id: ns, title: answer.body.result.title, supports_url_encoding: true },
    });
    assertError(await rest("GET", `${base("f".repeat(32))}/keys`), 404, 10013);
    assertError(await rest("GET", `${base(ns)}/nothing/here`), 404, 10025);
  });

  await check("bulk put, then list 25 keys 10 at a time with the cursor", async () => {
    const items = Array.from({ length: 25 }, (_, i) => ({
      key: `page/${String(i).padStart(2, "0")}`,
      value: `v${i}`,
      ...(i % 2 === 0 ? { metadata: { i } } : {}),
      ...(i === 3 ? { expiration_ttl: 120 } : {}),
    }));
    const put = await rest("PUT", `${base(ns)}/bulk`, { body: items });
    assert.equal(put.status, 200, JSON.stringify(put.body));
    assert.deepEqual(put.body.result, { successful_key_count: 25, unsuccessful_keys: [] });
    const names = [];
    let cursor = "";
    const counts = [];
    do {
      const page = await rest("GET", `${base(ns)}/keys?prefix=page%2F&limit=10&cursor=${encodeURIComponent(cursor)}`);
      assert.equal(page.status, 200, JSON.stringify(page.body));
      counts.push(page.body.result_info.count);
      names.push(...page.body.result.map((k) => k.name));
      if (names.length === 10) {
        assert.deepEqual(page.body.result[0], { name: "page/00", metadata: { i: 0 } });
        assert.deepEqual(page.body.result[1], { name: "page/01" });
        const third = page.body.result[3];
        assert.ok(Math.abs(third.expiration - (nowSeconds() + 120)) < 5, JSON.stringify(third));
      }
      cursor = page.body.result_info.cursor;
    } while (cursor !== "");
    assert.deepEqual(counts, [10, 10, 5]);
    assert.deepEqual(
      names,
      items.map((i) => i.key),
    );
    for (const limit of ["9", "1001", "ten"]) {
      assertError(await rest("GET", `${base(ns)}/keys?limit=${limit}`), 400, 10028);
    }
    const all = await rest("GET", `${base(ns)}/keys`);
    assert.equal(all.body.result_info.cursor, "");
  });

  await check("list order: UTF-8 byte order (U+FFFF before U+10000)", async () => {
    const keys = ["order/b", "order/a", "order/\u{10000}", "order/\uffff", "order/Z"];
    await rest("PUT", `${base(ns)}/bulk`, { body: keys.map((key) => ({ key, value: "x" })) });
    const page = await rest("GET", `${base(ns)}/keys?prefix=order%2F`);
    assert.deepEqual(
      page.body.result.map((k) => k.name),
      ["order/Z", "order/a", "order/b", "order/\uffff", "order/\u{10000}"],
    );
  });

  await check("bulk get: 100 keys with and without metadata, 101 refused", async () => {
    const keys = Array.from({ length: 100 }, (_, i) =>
      i < 25 ? `page/${String(i).padStart(2, "0")}` : `missing/${i}`,
    );
    const withMetadata = await rest("POST", `${base(ns)}/bulk/get`, {
      body: { keys, type: "text", withMetadata: true },
    });
    assert.equal(withMetadata.status, 200, JSON.stringify(withMetadata.body));
    const values = withMetadata.body.result.values;
    assert.equal(Object.keys(values).length, 100);
    assert.deepEqual(values["page/00"], { value: "v0", metadata: { i: 0 } });
    assert.deepEqual(values["page/01"], { value: "v1", metadata: null });
    assert.equal(values["missing/99"], null);
    const plain = await rest("POST", `${base(ns)}/bulk/get`, { body: { keys, type: "text" } });
    assert.equal(plain.body.result.values["page/02"], "v2");
    assert.equal(plain.body.result.values["missing/30"], null);
    const tooMany = await rest("POST", `${base(ns)}/bulk/get`, {
      body: { keys: [...keys, "one-more"], type: "text", withMetadata: true },
    });
    assertError(tooMany, 400, 10012);
    assertError(await rest("POST", `${base(ns)}/bulk/get`, { body: "nope", raw: true }), 400, 10012);
  });

  await check("bulk put refused whole: expiration_ttl 59, a 513-byte key, >10000 items", async () => {
    for (const [bad, status, code] of [
      [{ key: "bad/ttl", value: "x", expiration_ttl: 59 }, 400, 10012],
      [{ key: "bad/ttl", value: "x", expiration_ttl: 59.9 }, 400, 10012],
      [{ key: "k".repeat(513), value: "x" }, 400, 10012],
      [{ key: "bad/expiration", value: "x", expiration: Math.floor(nowSeconds()) + 30 }, 400, 10012],
      [{ key: "bad/metadata", value: "x", metadata: { big: "m".repeat(1100) } }, 413, 10024],
      [{ key: "bad/value", value: 42 }, 400, 10012],
    ]) {
      const answer = await rest("PUT", `${base(ns)}/bulk`, { body: [{ key: "bad/first", value: "ok" }, bad] });
      assertError(answer, status, code);
    }
    const first = await rest("GET", `${base(ns)}/values/bad%2Ffirst`);
    assert.equal(first.status, 404, "the valid item of a refused request was written");
    const many = Array.from({ length: 10_001 }, (_, i) => ({ key: `m${i}`, value: "" }));
    assertError(await rest("PUT", `${base(ns)}/bulk`, { body: many }), 400, 10012);
  });

  await check("bulk put of base64, bulk delete", async () => {
    const bytes = Uint8Array.from([0, 1, 2, 255]);
    const value = btoa(String.fromCharCode(...bytes));
    await rest("PUT", `${base(ns)}/bulk`, { body: [{ key: "bin", value, base64: true }] });
    const got = await rest("GET", `${base(ns)}/values/bin`);
    assert.deepEqual([...got.body], [...bytes]);
    const deleted = await rest("POST", `${base(ns)}/bulk/delete`, { body: ["bin", "page/00", "never-was"] });
    assert.deepEqual(deleted.body.result, { successful_key_count: 3, unsuccessful_keys: [] });
    assert.equal((await rest("GET", `${base(ns)}/values/bin`)).status, 404);
  });

  await check("values: raw and multipart put, get, metadata, delete, percent-encoded keys", async () => {
    const key = "dir/ünï code?&#%";
    const path = `${base(ns)}/values/${encodeURIComponent(key)}`;
    const put = await rest("PUT", `${path}?expiration_ttl=60`, { body: "raw value", raw: true });
    assert.equal(put.status, 200, JSON.stringify(put.body));
    assert.deepEqual(put.body, { success: true, errors: [], messages: [], result: null });
    const got = await rest("GET", path);
    assert.equal(got.headers.get("content-type"), "application/octet-stream");
    assert.equal(new TextDecoder().decode(got.body), "raw value");
    const listed = await kv.raw(ns, { op: "get", key });
    assert.ok(Math.abs(listed.expiration - (nowSeconds() + 60)) < 5, JSON.stringify(listed));
    assert.equal((await rest("GET", `${base(ns)}/metadata/${encodeURIComponent(key)}`)).body.result, null);

    const form = new FormData();
    form.set("value", '{"json":true}');
    form.set("metadata", JSON.stringify({ expires: 123 }));
    const multipart = await rest("PUT", path, { body: form, raw: true });
    assert.equal(multipart.status, 200, JSON.stringify(multipart.body));
    const metadata = await rest("GET", `${base(ns)}/metadata/${encodeURIComponent(key)}`);
    assert.deepEqual(metadata.body.result, { expires: 123 });
    assert.equal(new TextDecoder().decode((await rest("GET", path)).body), '{"json":true}');

    assertError(await rest("PUT", `${path}?expiration_ttl=59`, { body: "x", raw: true }), 400, 10012);
    assertError(await rest("PUT", `${base(ns)}/values/${"k".repeat(513)}`, { body: "x", raw: true }), 400, 10012);
    const big = "x".repeat(25 * 1024 * 1024 + 1);
    assertError(await rest("PUT", `${base(ns)}/values/big`, { body: big, raw: true }), 413, 10024);
    assert.equal((await rest("DELETE", path)).body.success, true);
    assertError(await rest("GET", path), 404, 10009);
    assertError(await rest("GET", `${base(ns)}/metadata/${encodeURIComponent(key)}`), 404, 10009);
    assertError(await rest("GET", `${base(ns)}/values/%E0%A4%A`), 400, 10012);
  });

  await check("faults: 429 with Retry-After twice, then normal; match; delete", async () => {
    await kv.faults({ status: 429, count: 2, retryAfter: 3 });
    for (let i = 0; i < 2; i++) {
      const answer = await rest("GET", `${base(ns)}/keys`);
      assertError(answer, 429, 10022);
      assert.equal(answer.headers.get("retry-after"), "3");
    }
    assert.equal((await rest("GET", `${base(ns)}/keys`)).status, 200);
    await kv.faults({ status: 503, count: 5, match: "/bulk/get" });
    assert.equal((await rest("GET", `${base(ns)}/keys`)).status, 200);
    assertError(await rest("POST", `${base(ns)}/bulk/get`, { body: { keys: ["a"] } }), 503, 10001);
    await kv.clearFaults();
    assert.equal((await rest("POST", `${base(ns)}/bulk/get`, { body: { keys: ["a"] } })).status, 200);
    // Before authentication: a client with a wrong token still meets the fault.
    await kv.faults({ status: 500, count: 1 });
    assertError(await rest("GET", `${base(ns)}/keys`, { headers: {} }), 500, 10001);
  });

  await check("faults: a delay, answered normally after it; a timed-out client", async () => {
    await kv.faults({ delayMs: 400, count: 1 });
    const started = performance.now();
    assert.equal((await rest("GET", `${base(ns)}/keys`)).status, 200);
    assert.ok(performance.now() - started >= 390, `${performance.now() - started} ms`);
    await kv.faults({ delayMs: 2000, count: 1 });
    await assert.rejects(fetch(`${base(ns)}/keys`, { headers: auth, signal: AbortSignal.timeout(200) }));
    assert.equal((await rest("GET", `${base(ns)}/keys`)).status, 200);
  });

  await check("requests: counted by route, faulted ones too, and reset", async () => {
    await kv.resetRequests();
    await kv.faults({ status: 500, count: 1, match: "/keys" });
    await rest("GET", `${base(ns)}/keys`);
    await rest("GET", `${base(ns)}/keys`);
    await rest("POST", `${base(ns)}/bulk/get`, { body: { keys: ["a"] } });
    await rest("PUT", `${base(ns)}/bulk`, { body: [{ key: "a", value: "b" }] });
    await rest("GET", `${base(ns)}/values/a`);
    await rest("GET", base(ns), { headers: {} });
    assert.deepEqual(await kv.requests(), {
      total: 6,
      byRoute: { "GET keys": 2, "POST bulk/get": 1, "PUT bulk": 1, "GET values": 1, "GET namespace": 1 },
    });
    await kv.resetRequests();
    assert.deepEqual(await kv.requests(), { total: 0, byRoute: {} });
  });

  await check("Fedify's WorkersKvStore: set with ttlMs 500, raw get, expiry, delete", async () => {
    const key = ["fedify", "ttl"];
    const before = Date.now();
    assert.deepEqual(await kv.fedify(other, { op: "set", key, value: { a: 1 }, ttlMs: 500 }), { ok: true });
    const raw = await kv.raw(other, { op: "get", key: JSON.stringify(key) });
    assert.equal(raw.value, '{"a":1}');
    assert.ok(raw.metadata.expires >= before + 500 && raw.metadata.expires <= Date.now() + 500, JSON.stringify(raw));
    assert.ok(Math.abs(raw.expiration - (before / 1000 + 60)) < 5, JSON.stringify(raw));
    assert.deepEqual(await kv.fedify(other, { op: "get", key }), { found: true, value: { a: 1 } });
    await sleep(700);
    assert.deepEqual(await kv.fedify(other, { op: "get", key }), { found: false, value: null });

    await kv.fedify(other, { op: "set", key: ["plain"], value: "text" });
    assert.deepEqual(await kv.raw(other, { op: "get", key: '["plain"]' }), { value: '"text"', metadata: {} });
    await kv.fedify(other, { op: "delete", key: ["plain"] });
    assert.deepEqual(await kv.raw(other, { op: "get", key: '["plain"]' }), { value: null, metadata: null });
    // Written over REST in Fedify's layout, read by Fedify.
    await rest("PUT", `${base(other)}/bulk`, {
      body: [{ key: '["from","rest"]', value: "[1,2]", metadata: { expires: Date.now() + 60_000 } }],
    });
    assert.deepEqual(await kv.fedify(other, { op: "get", key: ["from", "rest"] }), { found: true, value: [1, 2] });
  });

  await check("raw: put without metadata, a non-JSON value, list; Fedify's error on it", async () => {
    await kv.raw(other, { op: "put", key: '["junk"]', value: "not json" });
    await kv.raw(other, { op: "put", key: "raw/ttl", value: "v", expirationTtl: 90, metadata: { m: 1 } });
    const { keys } = await kv.raw(other, { op: "list", prefix: "raw/" });
    assert.equal(keys.length, 1);
    assert.equal(keys[0].name, "raw/ttl");
    assert.deepEqual(keys[0].metadata, { m: 1 });
    assert.ok(Math.abs(keys[0].expiration - (nowSeconds() + 90)) < 5);
    await assert.rejects(kv.fedify(other, { op: "get", key: ["junk"] }), /Workers KV emulator/);
    await assert.rejects(kv.raw(other, { op: "put", key: "x", value: "v", expirationTtl: 30 }), /60/);
  });

  await check("the pool: 409 when it is used up (WORKERS_KV_NAMESPACES=2)", async () => {
    const small = await startWorkersKv({ namespaces: 2 });
    try {
      await small.newNamespace();
      await small.newNamespace();
      await assert.rejects(small.newNamespace(), /all 2 namespaces/);
    } finally {
      await small.stop();
    }
  });

  await check("a bad WORKERS_KV_NAMESPACES: one line on stderr, exit status 1", async () => {
    const result = spawnSync(runtimePath("node24"), [here("./emulator.mjs")], {
      env: { ...process.env, WORKERS_KV_NAMESPACES: "lots" },
      encoding: "utf8",
    });
    assert.equal(result.status, 1);
    assert.equal(result.stdout, "");
    assert.equal(result.stderr.trimEnd().split("\n").length, 1, result.stderr);
  });

  await check("the emulator dies with its parent (SIGKILL to the parent)", async () => {
    const dir = mkdtempSync(join(tmpdir(), "workers-kv-smoke-"));
    const script = join(dir, "parent.mjs");
    writeFileSync(
      script,
      `import { startWorkersKv } from ${JSON.stringify(new URL("./start.mjs", import.meta.url).href)};
      const kv = await startWorkersKv();
      console.log(kv.pid);
      setInterval(() => {}, 1000);\n`,
    );
    const args = typeof globalThis.Deno !== "undefined" ? ["run", "-A", script] : [script];
    const parent = spawn(process.execPath, args, { stdio: ["ignore", "pipe", "inherit"] });
    const pid = await new Promise((resolve, reject) => {
      parent.stdout.setEncoding("utf8");
      parent.stdout.once("data", (line) => resolve(Number(line.trim())));
      parent.once("exit", (code) => reject(new Error(`the parent exited (${code})`)));
    });
    const group = descendants(pid);
    assert.ok(group.length > 0, "workerd is not a child of the emulator");
    parent.kill("SIGKILL");
    const deadline = Date.now() + 10_000;
    while ([pid, ...group].some(alive) && Date.now() < deadline) await sleep(100);
    rmSync(dir, { recursive: true, force: true });
    assert.deepEqual([pid, ...group].filter(alive), [], "still running after 10 s");
  });

  await check("stop(): the emulator and workerd are gone", async () => {
    const group = descendants(kv.pid);
    await kv.stop();
    await sleep(100);
    assert.deepEqual([kv.pid, ...group].filter(alive), []);
  });
} finally {
  await kv.stop();
}
console.log("all checks passed");

function alive(pid) {
  try {
    process.kill(pid, 0);
    return !readFileSync(`/proc/${pid}/stat`, "utf8").includes(") Z ");
  } catch {
    return false;
  }
}

/** The PIDs of `root`'s descendants, from /proc. */
function descendants(root) {
  const found = [];
  const queue = [root];
  const ps = spawnSync("ps", ["-e", "-o", "pid=,ppid="], { encoding: "utf8" }).stdout;
  const pairs = ps
    .trim()
    .split("\n")
    .map((line) => line.trim().split(/\s+/).map(Number));
  while (queue.length > 0) {
    const parent = queue.shift();
    for (const [pid, ppid] of pairs) {
      if (ppid === parent) {
        found.push(pid);
        queue.push(pid);
      }
    }
  }
  return found;
}
