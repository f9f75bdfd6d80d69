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
// itself; between two runtimes (a Deno child of Bun), whose structured
// clones differ, JSON with the values JSON cannot hold tagged (toWire).
import { fork, spawn } from "node:child_process";
import { ensureRuntime } from "../../scripts/runtimes.mjs";
import { RUNTIME } from "./runtime.mjs";

const TAG = "__fedikvIpc";
/** Set in a child whose parent is another runtime: messages are tagged JSON. */
const WIRE = "FEDIKV_IPC_JSON";

/** `value` as JSON can carry it: undefined, BigInts, Dates, RegExps, Maps, Sets, bytes and KvU64s tagged. */
export function toWire(value) {
  if (value === undefined) return { [TAG]: "undefined" };
  if (typeof value === "bigint") return { [TAG]: "bigint", v: String(value) };
  if (value === null || typeof value !== "object") return value;
  if (Array.isArray(value)) return value.map(toWire);
  if (value instanceof Date) return { [TAG]: "date", v: value.getTime() };
  if (value instanceof RegExp) return { [TAG]: "regexp", v: [value.source, value.flags] };
  if (value instanceof Map) return { [TAG]: "map", v: [...value].map(([k, v]) => [toWire(k), toWire(v)]) };
  if (value instanceof Set) return { [TAG]: "set", v: [...value].map(toWire) };
  if (value instanceof Uint8Array) return { [TAG]: "bytes", v: [...value] };
  if (value.constructor?.name === "KvU64") return { [TAG]: "u64", v: String(value.value) };
  return { [TAG]: "object", v: Object.fromEntries(Object.entries(value).map(([k, v]) => [k, toWire(v)])) };
}

/** The value toWire() made `wire` from (`KvU64`: the class to make u64s with). */
export function fromWire(wire, KvU64) {
  if (wire === null || typeof wire !== "object") return wire;
  if (Array.isArray(wire)) return wire.map((w) => fromWire(w, KvU64));
  const v = wire.v;
  switch (wire[TAG]) {
    case "undefined":
      return undefined;
    case "bigint":
      return BigInt(v);
    case "date":
      return new Date(v);
    case "regexp":
      return new RegExp(v[0], v[1]);
    case "map":
      return new Map(v.map(([k, x]) => [fromWire(k, KvU64), fromWire(x, KvU64)]));
    case "set":
      return new Set(v.map((x) => fromWire(x, KvU64)));
    case "bytes":
      return new Uint8Array(v);
    case "u64":
      return KvU64 ? new KvU64(BigInt(v)) : { value: BigInt(v) };
    case "object":
      return Object.fromEntries(Object.entries(v).map(([k, x]) => [k, fromWire(x, KvU64)]));
    default:
      return wire;
  }
}

/**
 * Forks `script` with `args` and resolves, once it says it is ready, to an
 * object with a method per name in `ops` (each runs the child's op of that
 * name and resolves to its result) and `close()`, which closes the child's
 * store and waits for the process to end. `name` says whose process it is
 * in messages. A child's error rejects with an Error whose message starts
 * with `name` and which keeps the child error's `code`. `denoFlags`: flags
 * of Deno's the child needs when the runtime is Deno (--unstable-kv).
 */
export async function startWorker(script, args, { name, ops, denoFlags = [], onDeno = false }) {
  const options = { serialization: "advanced", stdio: ["ignore", "inherit", "inherit", "ipc"] };
  const wire = onDeno && RUNTIME !== "deno";
  let child;
  if (wire) {
    // On Deno from another runtime: their structured clones differ.
    child = spawn(ensureRuntime("deno"), ["run", "--allow-all", ...denoFlags, script, ...args], {
      ...options,
      serialization: "json",
      env: { ...process.env, [WIRE]: "1" },
    });
  } else if (RUNTIME === "deno" && denoFlags.length > 0) {
    // Deno's fork() takes execArgv as V8 flags: Deno's own flags need a spawn.
    child = spawn(process.execPath, ["run", "--allow-all", ...denoFlags, script, ...args], options);
  } else {
    child = fork(script, args, options);
  }
  const encode = wire ? toWire : (v) => v;
  const decode = wire ? (w) => fromWire(w) : (v) => v;
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
    if (error === undefined) call.resolve(decode(result));
    else call.reject(Object.assign(new Error(`${name}: ${error.message}`), { code: error.code }));
  });
  const call =
    (op) =>
    (...params) =>
      new Promise((resolve, reject) => {
        if (exited) return reject(new Error(`the ${name} process has exited`));
        const id = next++;
        pending.set(id, { resolve, reject });
        child.send({ id, op, args: encode(params) });
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
export function serve(ops, close, { KvU64 } = {}) {
  const wire = process.env[WIRE] === "1";
  const encode = wire ? toWire : (v) => v;
  const decode = wire ? (w) => fromWire(w, KvU64) : (v) => v;
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
      process.send({ id, result: encode(await ops[op](...decode(args))) });
    } catch (error) {
      process.send({ id, error: { message: String(error?.message ?? error), code: error?.code } });
    }
  });
  process.send({ ready: true });
}
