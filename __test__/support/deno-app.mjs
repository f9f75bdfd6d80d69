// A "Deno app" for the interop tests, in a child process of its own, driven
// over IPC: on Deno, Deno.openKv() itself; on Node, @deno/kv 0.14.0 (Deno's
// own client for Node.js); on Bun, Deno.openKv() in a Deno process.
//
// A process of its own, as a Deno app would be, and because it must be:
// Deno and @deno/kv bring their own copy of SQLite (see ipc-worker.mjs). Run in the
// test's process, @deno/kv's checked increments and fedikv's cas lost
// updates on a shared file (68 of 80 once); across processes they cannot.
import { fileURLToPath } from "node:url";
import { RUNTIMES } from "../../scripts/runtimes.mjs";
import { startWorker } from "./ipc-worker.mjs";
import { RUNTIME } from "./runtime.mjs";
import { startSqliteReader } from "./sqlite.mjs";

const worker = fileURLToPath(new URL("./deno-app-worker.mjs", import.meta.url));

// On Bun, @deno/kv does not run (it needs V8's serialization; Bun's is
// JavaScriptCore's): the Deno app is Deno itself, in a process of Deno's.
const onDeno = RUNTIME === "bun";

/** Who the Deno app is on this runtime, for test names. */
export const DENO_APP =
  RUNTIME === "deno" ? "Deno.openKv()" : onDeno ? `Deno.openKv() in Deno ${RUNTIMES.deno.version}` : "@deno/kv 0.14.0";

/**
 * Opens `target` (a Deno KV file or a KV Connect URL) with the Deno app
 * (DENO_APP) in a child process. Resolves to an object whose methods (set, setU64, get,
 * list, delete, checkAndSet, increment, close) run there; see the worker.
 */
export function startDenoApp(target, options = {}) {
  return startWorker(worker, [JSON.stringify([target, options])], {
    name: DENO_APP,
    denoFlags: ["--unstable-kv"],
    onDeno,
    ops: ["set", "setU64", "get", "list", "delete", "checkAndSet", "increment"],
  });
}

/**
 * The expiry of every row of a Deno KV file that has one, as Deno keeps it
 * (epoch ms), read with the tests' own SQLite in a process of its own (for
 * the same reason as above).
 */
export async function rawExpiries(path) {
  const reader = await startSqliteReader(path);
  try {
    return await reader.all("SELECT v_encoding, expiration_ms FROM kv WHERE expiration_ms >= 0");
  } finally {
    await reader.close();
  }
}
