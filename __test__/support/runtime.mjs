// The runtime the tests run on (Node, Deno or Bun), and how to start a
// child process on the same one: the suite runs on each (scripts/test-js.mjs),
// and a child (a worker of the 8-process counter, the fedikv command, a
// process that must exit) must show the same runtime's behaviour.
import { mkdirSync, writeFileSync } from "node:fs";
import { createRequire } from "node:module";
import { join } from "node:path";
import { fileURLToPath } from "node:url";

const root = fileURLToPath(new URL("../..", import.meta.url));
const { runtimeName } = createRequire(import.meta.url)("../../lib/platforms.js");

/** "node", "deno" or "bun". */
export const RUNTIME =
  typeof globalThis.Deno !== "undefined" ? "deno" : typeof globalThis.Bun !== "undefined" ? "bun" : "node";

/** The runtime as a person names it, with its version (as fedikv's load errors name it). */
export const RUNTIME_NAME = runtimeName();

/**
 * Whether this is the matrix's first run, on the machine's Node
 * (scripts/test-js.mjs names each run in FEDIKV_RUNTIME): for the checks
 * that are the same whatever the runtime, run once.
 */
export const FIRST_RUN = RUNTIME === "node" && (process.env.FEDIKV_RUNTIME ?? "node") === "node";

/** This environment without NODE_TEST_CONTEXT, which would make a child node:test report in its binary protocol. */
export function withoutTestContext() {
  const { NODE_TEST_CONTEXT: _, ...env } = process.env;
  return env;
}

/** The arguments that run the script `file` with `args` on this runtime. */
export function scriptArgs(file, ...args) {
  return RUNTIME === "deno" ? ["run", "--allow-all", file, ...args] : [file, ...args];
}

let evalFiles = 0;

/**
 * The arguments that run `code`, a CommonJS script (`require` works), on
 * this runtime. Its `process.argv.slice(2)` is `args` on every runtime
 * (`node -e` would make it slice(1), so the code is run from a file, in
 * the repository's .tmp/, where `require` finds its node_modules).
 */
export function evalArgs(code, ...args) {
  const dir = join(root, ".tmp", "eval");
  mkdirSync(dir, { recursive: true });
  const file = join(dir, `${process.pid}-${evalFiles++}.cjs`);
  writeFileSync(file, code);
  return scriptArgs(file, ...args);
}
