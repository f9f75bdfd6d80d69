// The conformance kit itself: it passes a correct store (reporting what the
// store declared it cannot do as skips), and it fails a store that breaks
// the contract, naming what broke. Both run as a user runs them.
import assert from "node:assert/strict";
import { spawnSync } from "node:child_process";
import { test } from "node:test";
import { fileURLToPath } from "node:url";

const root = fileURLToPath(new URL("..", import.meta.url));

function runKit(file) {
  // Without NODE_TEST_CONTEXT, which node:test sets for its own children and
  // which would make this child report in its binary protocol instead of TAP.
  const { NODE_TEST_CONTEXT: _, ...env } = process.env;
  const { status, stdout } = spawnSync(process.execPath, ["--test", "--test-reporter=tap", file], {
    cwd: root,
    env,
    encoding: "utf8",
    timeout: 120_000,
  });
  const results = new Map();
  for (const match of stdout.matchAll(/^ {4}(ok|not ok) \d+ - (.+?)(?: # SKIP (.*))?$/gm)) {
    results.set(match[2], { ok: match[1] === "ok", skip: match[3] });
  }
  return { status, results };
}

test("a correct hand-written store passes; its missing cas() is reported as skips", () => {
  const { status, results } = runKit("examples/map-kv-store.test.mjs");
  assert.equal(status, 0);
  assert.ok(results.size >= 20, `${results.size} tests ran`);
  for (const [name, r] of results) assert.ok(r.ok, name);
  const skipped = [...results].filter(([, r]) => r.skip).map(([name, r]) => `${name}: ${r.skip}`);
  assert.ok(skipped.some((s) => /^cas: .*: the store has no cas\(\)$/.test(s)), skipped.join("\n"));
});

test("Fedify's MemoryKvStore fails exactly where it breaks the contract", () => {
  const { status, results } = runKit("examples/fedify-memory-kv-store.test.mjs");
  assert.notEqual(status, 0);
  const failed = [...results].filter(([, r]) => !r.ok).map(([name]) => name).sort();
  assert.deepEqual(failed, [
    "a negative or non-duration TTL is a RangeError and writes nothing",
    "bad keys are a TypeError and write nothing",
    "bad values are a TypeError and write nothing",
    "set replaces the TTL; a TTL in months lives",
    "set(key, undefined) deletes the key",
    "values are JSON copies",
  ]);
  assert.ok(results.get("cas: 20 concurrent increment loops of 25 end at exactly 500").ok);
});
