// A "Deno app" for the interop tests: @deno/kv 0.14.0 (Deno's own client
// for Node.js) in a child process of its own, driven over IPC.
//
// A process of its own, as a Deno app would be, and because it must be:
// @deno/kv brings its own copy of SQLite (see ipc-worker.mjs). Run in the
// test's process, @deno/kv's checked increments and fedikv's cas lost
// updates on a shared file (68 of 80 once); across processes they cannot.
import { execFileSync } from "node:child_process";
import { fileURLToPath } from "node:url";
import { startWorker } from "./ipc-worker.mjs";

const worker = fileURLToPath(new URL("./deno-app-worker.mjs", import.meta.url));
const root = fileURLToPath(new URL("../..", import.meta.url));

/**
 * Opens `target` (a Deno KV file or a KV Connect URL) with @deno/kv in a
 * child process. Resolves to an object whose methods (set, setU64, get,
 * list, delete, checkAndSet, increment, close) run there; see the worker.
 */
export function startDenoApp(target, options = {}) {
  return startWorker(worker, [JSON.stringify([target, options])], {
    name: "@deno/kv",
    ops: ["set", "setU64", "get", "list", "delete", "checkAndSet", "increment"],
  });
}

/**
 * The expiry of every row of a Deno KV file that has one, as Deno keeps it
 * (epoch ms), read with better-sqlite3 in a process of its own (for the
 * same reason as above).
 */
export function rawExpiries(path) {
  const script = `
    const Database = require("better-sqlite3");
    const db = new Database(process.argv[1], { readonly: true, fileMustExist: true });
    const rows = db.prepare("SELECT v_encoding, expiration_ms FROM kv WHERE expiration_ms >= 0").all();
    db.close();
    process.stdout.write(JSON.stringify(rows));`;
  return JSON.parse(execFileSync(process.execPath, ["-e", script, path], { cwd: root, encoding: "utf8" }));
}
