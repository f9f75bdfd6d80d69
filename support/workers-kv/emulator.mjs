// The Workers KV emulator: a stand-in for Cloudflare that the tests of
// WorkersKvStore talk to (README.md beside this file says what it serves).
// A real Worker (worker.mjs) with real KV bindings, run by Miniflare.
//
//   node support/workers-kv/emulator.mjs     Node.js >= 22 (Miniflare's)
//
// It bundles the Worker with esbuild (in memory: the Worker imports
// Fedify's published WorkersKvStore and its polyfills), starts Miniflare on
// 127.0.0.1 on a free port, prints one line of JSON to stdout when it
// answers,
//
//   {"url":"http://127.0.0.1:PORT","apiUrl":"http://127.0.0.1:PORT/client/v4",
//    "accountId":"…","apiToken":"…"}
//
// and runs until its stdin closes (the parent that holds the other end
// died or let go) or it gets SIGTERM or SIGINT; then it disposes Miniflare
// (which ends workerd) and exits 0. A failure to start is one line on
// stderr and exit status 1. Nothing else is written to stdout: workerd's
// output goes to stderr.
//
// Environment: WORKERS_KV_NAMESPACES, how many KV namespaces the pool has
// (default 64, at most 1000). Miniflare fixes the bindings at start, so
// the tests' "new namespace" is one of the pool that no one was given yet.
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { fileURLToPath } from "node:url";

/** Fixed test credentials: the emulator is for tests only. */
export const ACCOUNT_ID = "fedikv0test0account0000000000000";
export const API_TOKEN = "fedikv-test-api-token";

const DEFAULT_NAMESPACES = 64;
const MAX_NAMESPACES = 1000;
// A date this workerd supports (it must not be later than workerd's own).
const COMPATIBILITY_DATE = "2026-07-01";
const DISPOSE_TIMEOUT_MS = 10_000;

/** The id of the pool's `index`th namespace: 32 characters, as Cloudflare's are, and readable. */
export function namespaceId(index) {
  return `fedikv0test0namespace${String(index).padStart(11, "0")}`;
}

function poolSize() {
  const raw = process.env.WORKERS_KV_NAMESPACES;
  if (raw === undefined || raw === "") return DEFAULT_NAMESPACES;
  const size = Number(raw);
  if (!(Number.isInteger(size) && size >= 1 && size <= MAX_NAMESPACES)) {
    throw new Error(`WORKERS_KV_NAMESPACES must be an integer from 1 to ${MAX_NAMESPACES}, not ${JSON.stringify(raw)}`);
  }
  return size;
}

/** worker.mjs and what it imports, as one ES module's source. */
async function bundleWorker() {
  const { build } = await import("esbuild");
  const result = await build({
    entryPoints: [fileURLToPath(new URL("./worker.mjs", import.meta.url))],
    bundle: true,
    write: false,
    format: "esm",
    platform: "browser",
    conditions: ["workerd", "worker", "browser"],
    target: "es2022",
    logLevel: "silent",
  });
  return result.outputFiles[0].text;
}

async function startMiniflare(Miniflare, script, size) {
  const ids = Array.from({ length: size }, (_, index) => namespaceId(index));
  const miniflare = new Miniflare({
    host: "127.0.0.1",
    port: 0,
    modules: true,
    script,
    compatibilityDate: COMPATIBILITY_DATE,
    kvNamespaces: Object.fromEntries(ids.map((id, index) => [`NS_${index}`, id])),
    bindings: { ACCOUNT_ID, API_TOKEN, NAMESPACE_IDS: ids },
    // stdout carries the one line of JSON and nothing else.
    handleRuntimeStdio(stdout, stderr) {
      stdout.pipe(process.stderr);
      stderr.pipe(process.stderr);
    },
  });
  const url = await miniflare.ready;
  return { miniflare, url };
}

/**
 * Points TMPDIR at a folder of the emulator's own, removed when it exits:
 * Miniflare keeps its KV data in a folder under TMPDIR and removes it only
 * after dispose() has returned, too late for a process that exits then.
 */
function useScratchDir() {
  const scratch = mkdtempSync(join(tmpdir(), "fedikv-workers-kv-"));
  process.env.TMPDIR = scratch;
  process.once("exit", () => rmSync(scratch, { recursive: true, force: true }));
}

function fail(message) {
  process.stderr.write(`support/workers-kv/emulator.mjs: ${message.split("\n")[0]}\n`);
  process.exit(1);
}

async function main() {
  const major = Number(process.versions.node.split(".")[0]);
  if (major < 22) throw new Error(`Miniflare needs Node.js 22 or later; this is ${process.version}`);
  const size = poolSize();
  useScratchDir();

  // Listened for from the start: a parent that dies while Miniflare starts
  // must not leave it running.
  let started;
  let stopping = false;
  const stop = async () => {
    if (stopping) return;
    stopping = true;
    const running = await started?.catch(() => undefined);
    if (running === undefined) process.exit(0);
    const timer = setTimeout(() => fail("Miniflare did not stop in time"), DISPOSE_TIMEOUT_MS);
    try {
      await running.miniflare.dispose();
    } catch (error) {
      fail(`cannot stop Miniflare: ${error.message}`);
    }
    clearTimeout(timer);
    process.exit(0);
  };
  process.stdin.on("end", stop);
  process.stdin.on("error", stop);
  process.stdin.resume();
  process.once("SIGTERM", stop);
  process.once("SIGINT", stop);
  // The parent reads one line and may close its end: nothing more is written.
  process.stdout.on("error", () => {});

  const startedAt = performance.now();
  // Bundling (esbuild's own process) and loading Miniflare (about 0.4 s of
  // this process's time) overlap; workerd's start is the other half.
  started = Promise.all([bundleWorker(), import("miniflare")]).then(([script, { Miniflare }]) =>
    startMiniflare(Miniflare, script, size),
  );
  const { url } = await started;
  if (stopping) return;
  const origin = url.origin;
  process.stdout.write(
    `${JSON.stringify({ url: origin, apiUrl: `${origin}/client/v4`, accountId: ACCOUNT_ID, apiToken: API_TOKEN })}\n`,
  );
  if (process.env.WORKERS_KV_TIMING) {
    process.stderr.write(`support/workers-kv/emulator.mjs: ready in ${Math.round(performance.now() - startedAt)} ms\n`);
  }
}

main().catch((error) => fail(error?.message ?? String(error)));
