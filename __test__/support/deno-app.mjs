// A "Deno app" for the interop tests: @deno/kv 0.14.0 (Deno's own client
// for Node.js) in a child process of its own, driven over IPC.
//
// A process of its own, as a Deno app would be, and because it must be:
// @deno/kv brings its own copy of SQLite, and two copies of SQLite in one
// process cannot lock one file against each other (POSIX locks belong to
// the process, so each copy takes the other's locks for its own; SQLite's
// "How To Corrupt" guide, 2.2.1). Run in the test's process, @deno/kv's
// checked increments and fedikv's cas lost updates on a shared file (68 of
// 80 once); across processes they cannot.
import { execFileSync, fork } from "node:child_process";
import { fileURLToPath } from "node:url";

const worker = fileURLToPath(new URL("./deno-app-worker.mjs", import.meta.url));
const root = fileURLToPath(new URL("../..", import.meta.url));

/**
 * Opens `target` (a Deno KV file or a KV Connect URL) with @deno/kv in a
 * child process. Resolves to an object whose methods (set, setU64, get,
 * list, delete, checkAndSet, increment, close) run there; see the worker.
 */
export async function startDenoApp(target, options = {}) {
  const child = fork(worker, [JSON.stringify([target, options])], {
    serialization: "advanced",
    stdio: ["ignore", "inherit", "inherit", "ipc"],
  });
  const pending = new Map();
  let next = 0;
  let exited = false;
  const failAll = (why) => {
    for (const { reject } of pending.values()) reject(new Error(why));
    pending.clear();
  };
  child.on("exit", (code, signal) => {
    exited = true;
    failAll(`the @deno/kv process exited (${signal ?? code})`);
  });
  const kill = () => exited || child.kill("SIGKILL");
  process.once("exit", kill);
  await new Promise((resolve, reject) => {
    child.once("message", resolve);
    child.once("exit", () => reject(new Error("the @deno/kv process did not start")));
  });
  child.on("message", ({ id, result, error }) => {
    const call = pending.get(id);
    if (call === undefined) return;
    pending.delete(id);
    if (error === undefined) call.resolve(result);
    else call.reject(new Error(`@deno/kv: ${error}`));
  });
  const call = (op) => (...args) => new Promise((resolve, reject) => {
    if (exited) return reject(new Error("the @deno/kv process has exited"));
    const id = next++;
    pending.set(id, { resolve, reject });
    child.send({ id, op, args });
  });
  const app = {};
  for (const op of ["set", "setU64", "get", "list", "delete", "checkAndSet", "increment"]) app[op] = call(op);
  app.close = async () => {
    if (!exited) await call("close")();
    process.removeListener("exit", kill);
  };
  return app;
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
