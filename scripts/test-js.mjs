// The JS test suite on every runtime fedikv supports: the machine's Node,
// Node 22, 24 and 26, Deno and Bun (scripts/runtimes.mjs installs them from
// npm into a cache). `npm test` runs this.
//
//   node scripts/test-js.mjs [file ...]     every test file (or those named)
//                                           on every runtime of the matrix
//
// FEDIKV_RUNTIMES narrows the matrix for a quick local run, as a comma-
// separated list of names (node, node22, node24, node26, deno, bun), e.g.
// FEDIKV_RUNTIMES=node,deno; it must name known runtimes only. A runtime
// that cannot be installed is skipped by hand, with a message, and fails
// the run under CI (CI=true). With no file named, the federation test also
// runs on the oldest Fedify 2.x fedikv supports (2.3.3), on the machine's
// Node.
//
// On Node 22 and 24, the files of RUST_SIDE are left out of the full run:
// they test the Rust side under server faults, races between processes,
// random operations and the packed package's install, which no Node version
// between the machine's Node (20) and Node 26 changes (the same N-API, the
// same addon). Every other file runs on every runtime; naming the files
// runs them on every runtime of the matrix.
//
// Each runtime runs its own test runner on the same files (node:test's API
// is what they are written against; Deno and Bun implement it): Node's
// `node --test` over all files, Deno's `deno test` and Bun's `bun test`
// one file per process (a process per file, as node --test does, so no
// test file sees another's native handles or globals). The closing lines
// give, per runtime, the counts each runner reported, then the totals.
import { spawn } from "node:child_process";
import { readdirSync } from "node:fs";
import { join, relative } from "node:path";
import { fileURLToPath } from "node:url";
import { ALL, ensureRuntime } from "./runtimes.mjs";

const root = fileURLToPath(new URL("..", import.meta.url));

/** The runtimes to run, from FEDIKV_RUNTIMES or all of them. */
function matrix() {
  const wanted = process.env.FEDIKV_RUNTIMES;
  if (!wanted) return ALL;
  const names = wanted
    .split(",")
    .map((n) => n.trim())
    .filter(Boolean);
  const unknown = names.filter((n) => !ALL.includes(n));
  if (unknown.length > 0) {
    throw new Error(`FEDIKV_RUNTIMES names unknown runtimes: ${unknown.join(", ")} (known: ${ALL.join(", ")})`);
  }
  return names;
}

/** Files a full run leaves out on the Node versions between the oldest and the newest. */
const RUST_SIDE = ["faults", "processes", "properties", "package"].map((f) => join("__test__", `${f}.test.mjs`));
const BETWEEN = new Set(["node22", "node24"]);

/** The files runtime `name` runs: all of them, but for RUST_SIDE on BETWEEN in a full run. */
function filesFor(name, files, named) {
  if (named.length > 0 || !BETWEEN.has(name)) return files;
  return files.filter((f) => !RUST_SIDE.includes(f));
}

function testFiles(named) {
  if (named.length > 0) return named.map((f) => relative(root, join(process.cwd(), f)));
  return readdirSync(join(root, "__test__"))
    .filter((f) => f.endsWith(".test.mjs"))
    .sort()
    .map((f) => join("__test__", f));
}

/** Runs a command with output passed through; resolves to { status, output }. */
function run(command, args, env) {
  return new Promise((resolve, reject) => {
    const child = spawn(command, args, {
      cwd: root,
      env: { ...process.env, ...env },
      stdio: ["ignore", "pipe", "pipe"],
    });
    let output = "";
    const keep = (stream, to) =>
      stream.on("data", (chunk) => {
        output += chunk;
        to.write(chunk);
      });
    keep(child.stdout, process.stdout);
    keep(child.stderr, process.stderr);
    child.once("error", reject);
    child.once("close", (status, signal) => resolve({ status: status ?? signal, output }));
  });
}

// Each runner's closing counts, read from its output.
// biome-ignore lint/suspicious/noControlCharactersInRegex: the escape that starts a colour code is what it strips
const strip = (text) => text.replace(/\x1b\[[0-9;]*m/g, "");
const count = (text, pattern) => [...strip(text).matchAll(pattern)].reduce((n, m) => n + Number(m[1]), 0);

function nodeCounts(output) {
  return {
    passed: count(output, /^(?:ℹ|#) pass (\d+)$/gm),
    failed: count(output, /^(?:ℹ|#) fail (\d+)$/gm) + count(output, /^(?:ℹ|#) cancelled (\d+)$/gm),
    skipped: count(output, /^(?:ℹ|#) skipped (\d+)$/gm),
  };
}

// Deno: "ok | 12 passed (30 steps) | 0 failed | 1 ignored": top-level tests
// (a describe block is one), with their steps counted apart.
function denoCounts(output) {
  return {
    passed: count(output, /\| (\d+) passed/g) + count(output, /\| \d+ passed \((\d+) steps?\)/g),
    failed: count(output, /\| (\d+) failed/g) + count(output, /\| \d+ failed \((\d+) steps?\)/g),
    skipped: count(output, /\| (\d+) ignored/g) + count(output, /\| \d+ ignored \((\d+) steps?\)/g),
  };
}

function bunCounts(output) {
  return {
    passed: count(output, /^ *(\d+) pass$/gm),
    failed: count(output, /^ *(\d+) fail$/gm),
    skipped: count(output, /^ *(\d+) skip$/gm),
  };
}

/** How runtime `name` at `binary` runs `files`: one or more commands. */
function plan(name, binary, files) {
  if (name.startsWith("node")) {
    return { counts: nodeCounts, commands: [[binary, ["--test", "--test-concurrency=1", ...files]]] };
  }
  if (name === "deno") {
    return {
      counts: denoCounts,
      commands: files.map((f) => [binary, ["test", "--allow-all", "--no-check", f]]),
    };
  }
  return {
    counts: bunCounts,
    // Bun's default per-test timeout is 5 s; the tests set their own where
    // they need one, as under node:test, which has none.
    commands: files.map((f) => [binary, ["test", "--timeout", "600000", `./${f}`]]),
  };
}

/** The oldest Fedify 2.x fedikv claims (the npm alias fedify-oldest). */
const OLDEST_FEDIFY = "fedify-oldest";

/** Each runtime's binary, or null where it cannot be had (a skip by hand, a failure under CI). */
function binaries(names) {
  return Object.fromEntries(
    names.map((name) => {
      try {
        return [name, ensureRuntime(name)];
      } catch (error) {
        if (process.env.CI === "true") throw error;
        console.error(`scripts/test-js.mjs: SKIPPING ${name}: ${error.message} (under CI=true this fails the run)`);
        return [name, null];
      }
    }),
  );
}

async function main() {
  const named = process.argv.slice(2);
  const files = testFiles(named);
  const names = matrix();
  const binary = binaries(names);
  const jobs = names
    .filter((name) => binary[name] !== null)
    .map((name) => ({ name, ...plan(name, binary[name], filesFor(name, files, named)) }));
  // The federation test once more on the oldest Fedify 2.x, on this Node.
  if (named.length === 0 && binary.node) {
    jobs.push({
      name: "node, Fedify 2.3.3",
      ...plan("node", binary.node, [join("__test__", "fedify.test.mjs")]),
      env: { FEDIKV_FEDIFY: OLDEST_FEDIFY },
    });
  }
  const results = [];
  for (const { name, counts, commands, env = {} } of jobs) {
    const started = Date.now();
    let failedRuns = 0;
    let output = "";
    for (const [command, args] of commands) {
      console.log(`\n# ${name}: ${[command, ...args].map((a) => relative(root, a) || a).join(" ")}`);
      // FEDIKV_RUNTIME tells the tests (and their child processes) which
      // runtime name of the matrix they run on.
      const result = await run(command, args, { FEDIKV_RUNTIME: name, ...env });
      output += result.output;
      if (result.status !== 0) failedRuns++;
    }
    const c = counts(output);
    // A runner that failed without a failing test (a file that did not
    // load, a crash) still fails the run.
    if (failedRuns > 0 && c.failed === 0) c.failed = failedRuns;
    results.push({ name, ...c, seconds: Math.round((Date.now() - started) / 1000) });
  }
  console.log("\n# JS tests by runtime");
  for (const r of results) {
    console.log(`# ${r.name.padEnd(18)} ${r.passed} passed, ${r.failed} failed, ${r.skipped} skipped (${r.seconds} s)`);
  }
  const total = results.reduce(
    (t, r) => ({ passed: t.passed + r.passed, failed: t.failed + r.failed, skipped: t.skipped + r.skipped }),
    { passed: 0, failed: 0, skipped: 0 },
  );
  console.log(`js: ${total.passed} passed, ${total.failed} failed, ${total.skipped} skipped`);
  process.exitCode = total.failed > 0 || total.passed === 0 ? 1 : 0;
}

main().catch((error) => {
  console.error(`scripts/test-js.mjs: ${error.message}`);
  process.exit(1);
});
