// A library driven in a child process of its own over IPC: the tests' way
// to run another copy of SQLite (@deno/kv's, better-sqlite3's) on a file
// fedikv has open. Two copies of SQLite in one process cannot lock one file
// against each other (POSIX locks belong to the process, so each copy takes
// the other's locks for its own, and closing one copy's descriptor drops
// the other's; SQLite's "How To Corrupt" guide, 2.2.1): a test of both at
// once in one process would show nothing, and could corrupt the file.
//
// The parent calls startWorker(); the child calls serve(). Messages use
// advanced serialization (structured clone), so `undefined` crosses as
// itself.
import { fork, spawn } from "node:child_process";
import { RUNTIME } from "./runtime.mjs";

/**
 * Forks `script` with `args` and resolves, once it says it is ready, to an
 * object with a method per name in `ops` (each runs the child's op of that
 * name and resolves to its result) and `close()`, which closes the child's
 * store and waits for the process to end. `name` says whose process it is
 * in messages. A child's error rejects with an Error whose message starts
 * with `name` and which keeps the child error's `code`. `denoFlags`: flags
 * of Deno's the child needs when the runtime is Deno (--unstable-kv).
 */
export async function startWorker(script, args, { name, ops, denoFlags = [] }) {
  const options = { serialization: "advanced", stdio: ["ignore", "inherit", "inherit", "ipc"] };
  // Deno's fork() takes execArgv as V8 flags: Deno's own flags need a spawn.
  const child = RUNTIME === "deno" && denoFlags.length > 0
    ? spawn(process.execPath, ["run", "--allow-all", ...denoFlags, script, ...args], options)
    : fork(script, args, options);
  const pending = new Map();
  let next = 0;
  let exited = false;
  const exit = new Promise((resolve) => child.once("exit", resolve));
  child.once("exit", (code, signal) => {
    exited = true;
    for (const { reject } of pending.values()) reject(new Error(`the ${name} process exited (${signal ?? code})`));
    pending.clear();
  });
  const kill = () => exited || child.kill("SIGKILL");
  process.once("exit", kill);
  await new Promise((resolve, reject) => {
    child.once("message", resolve);
    child.once("exit", () => reject(new Error(`the ${name} process did not start`)));
  });
  child.on("message", ({ id, result, error }) => {
    const call = pending.get(id);
    if (call === undefined) return;
    pending.delete(id);
    if (error === undefined) call.resolve(result);
    else call.reject(Object.assign(new Error(`${name}: ${error.message}`), { code: error.code }));
  });
  const call = (op) => (...params) => new Promise((resolve, reject) => {
    if (exited) return reject(new Error(`the ${name} process has exited`));
    const id = next++;
    pending.set(id, { resolve, reject });
    child.send({ id, op, args: params });
  });
  const remote = {};
  for (const op of ops) remote[op] = call(op);
  remote.close = async () => {
    if (!exited) await call("close")();
    await exit;
    process.removeListener("exit", kill);
  };
  return remote;
}

/**
 * The child's side: runs each message's op from `ops` (sync or async) and
 * answers with its result or its error (message and code); `close` runs
 * `close()`, answers, and ends the process. Tells the parent it is ready.
 */
export function serve(ops, close) {
  // Deno's IPC channel does not keep a process alive: between its parent's
  // calls (a test waiting out a TTL) the child would exit. Until `close`.
  const alive = setInterval(() => {}, 60_000);
  process.on("message", async ({ id, op, args }) => {
    if (op === "close") {
      clearInterval(alive);
      await close();
      process.send({ id, result: null }, () => process.exit(0));
      return;
    }
    try {
      process.send({ id, result: await ops[op](...args) });
    } catch (error) {
      process.send({ id, error: { message: String(error?.message ?? error), code: error?.code } });
    }
  });
  process.send({ ready: true });
}
