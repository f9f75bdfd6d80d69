// The runtime the tests run on (Node, Deno or Bun), and how to start a
// child process on the same one: the suite runs on each (scripts/test-js.mjs),
// and a child (a worker of the 8-process counter, the fedikv command, a
// process that must exit) must show the same runtime's behaviour.
import { mkdirSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { fileURLToPath } from "node:url";

const root = fileURLToPath(new URL("../..", import.meta.url));

/** "node", "deno" or "bun". */
export const RUNTIME = typeof globalThis.Deno !== "undefined" ? "deno" : typeof globalThis.Bun !== "undefined" ? "bun" : "node";

/** The runtime as a person names it, with its version. */
export const RUNTIME_NAME = RUNTIME === "deno"
  ? `Deno ${globalThis.Deno.version.deno}`
  : RUNTIME === "bun"
  ? `Bun ${globalThis.Bun.version}`
  : `Node.js ${process.version}`;

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
