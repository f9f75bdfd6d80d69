// The conformance kit itself: it passes a correct store (reporting what the
// store declared it cannot do as skips), and it fails a store that breaks
// the contract, naming what broke. Both run as a user runs them.
import assert from "node:assert/strict";
import { spawnSync } from "node:child_process";
import { test } from "node:test";
import { fileURLToPath } from "node:url";
import { RUNTIME, withoutTestContext } from "./support/runtime.mjs";

const root = fileURLToPath(new URL("..", import.meta.url));

/**
 * Runs the kit test file `file` with this runtime's own test runner, as a
 * user on it would, and reads each test's outcome from its report: Node's
 * TAP, Deno's and Bun's own lines. Bun's carry no skip's reason.
 */
function runKit(file) {
  const args = {
    node: ["--test", "--test-reporter=tap", file],
    deno: ["test", "--allow-all", "--no-check", file],
    bun: ["test", `./${file}`],
  }[RUNTIME];
  const { status, stdout, stderr } = spawnSync(process.execPath, args, {
    cwd: root,
    env: { ...withoutTestContext(), NO_COLOR: "1" },
    encoding: "utf8",
    timeout: 120_000,
  });
  const results = new Map();
  // biome-ignore lint/suspicious/noControlCharactersInRegex: the escape that starts a colour code is what it strips
  const report = (stdout + stderr).replace(/\x1b\[[0-9;]*m/g, "");
  if (RUNTIME === "node") {
    for (const match of report.matchAll(/^ {4}(ok|not ok) \d+ - (.+?)(?: # SKIP (.*))?$/gm)) {
      results.set(match[2], { ok: match[1] === "ok", skip: match[3] });
    }
  } else if (RUNTIME === "deno") {
    // "  <name> ... ok (3ms)", "... FAILED (3ms)", "... ignored (0ms)"
    for (const match of report.matchAll(/^ {2}(.+?) \.\.\. (ok|FAILED|ignored)\b/gm)) {
      results.set(match[1], { ok: match[2] !== "FAILED", skip: match[2] === "ignored" ? "" : undefined });
    }
    // A test that skips itself shows as "ok" there; the kit says it skipped.
    for (const match of report.matchAll(/^SKIPPED\t(.+)\t(.*)$/gm)) {
      if (results.has(match[1])) results.get(match[1]).skip = match[2];
    }
  } else {
    // "(pass) <describe> > <name> [3.00ms]", "(fail) …", "(skip) …"
    for (const match of report.matchAll(/^\((pass|fail|skip)\) (?:.+? > )?(.+?)(?: \[[\d.]+m?s\])?$/gm)) {
      results.set(match[2], { ok: match[1] !== "fail", skip: match[1] === "skip" ? "" : undefined });
    }
  }
  return { status, results };
}

test("a correct hand-written store passes; its missing cas() is reported as skips", () => {
  const { status, results } = runKit("examples/map-kv-store.test.mjs");
  assert.equal(status, 0);
  assert.ok(results.size >= 20, `${results.size} tests ran`);
  for (const [name, r] of results) assert.ok(r.ok, name);
  const skipped = [...results].filter(([, r]) => r.skip !== undefined).map(([name, r]) => `${name}: ${r.skip}`);
  // Bun's report names a skipped test but not its reason.
  const reason = RUNTIME === "bun" ? "" : "the store has no cas\\(\\)";
  assert.ok(
    skipped.some((s) => new RegExp(`^cas: .*: ${reason}$`).test(s)),
    skipped.join("\n"),
  );
});

test("Fedify's MemoryKvStore fails exactly where it breaks the contract", () => {
  const { status, results } = runKit("examples/fedify-memory-kv-store.test.mjs");
  assert.notEqual(status, 0);
  const failed = [...results]
    .filter(([, r]) => !r.ok)
    .map(([name]) => name)
    .sort();
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
