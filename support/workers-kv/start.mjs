// Starts the Workers KV emulator (emulator.mjs beside this file) for a JS
// test, on whichever runtime the test runs (Node, Deno or Bun): the
// emulator itself always runs on Node.js 24 from the runtimes' cache
// (scripts/runtimes.mjs; `npm test` installs it), as Miniflare needs
// Node.js 22 or later. Only node: APIs that all three runtimes have are
// used here.
//
//   const kv = await startWorkersKv();
//   describe("WorkersKvStore", { skip: kv.skip }, () => { … kv.apiUrl … });
//   after(() => kv.stop?.());
//
// The emulator dies with the test process: it holds a pipe to it on its
// stdin and stops when that closes, however the test process ended; stop()
// ends it before that, and kills its process group (workerd too) if it
// has not exited in time.
import { spawn } from "node:child_process";
import { existsSync } from "node:fs";
import { createRequire } from "node:module";
import { fileURLToPath } from "node:url";
import { runtimePath } from "../../scripts/runtimes.mjs";
import { skipping, unwanted } from "../servers.mjs";

const EMULATOR = fileURLToPath(new URL("./emulator.mjs", import.meta.url));
const RUNTIME = "node24";
/**
 * The packages the emulator loads, each by a module it resolves (not every
 * package exports its package.json). fedify-cfworkers is @fedify/fedify
 * 1.10.12, whose WorkersKvStore the Worker runs.
 */
const PACKAGES = { miniflare: "miniflare", esbuild: "esbuild", "fedify-cfworkers": "fedify-cfworkers/x/cfworkers" };
const READY_TIMEOUT_MS = 60_000;
const STOP_TIMEOUT_MS = 10_000;
const STDERR_TAIL = 4096;

/**
 * What the emulator needs: `{ node }`, Node.js 24's binary, or `{ skip }`
 * with the reason when it or Miniflare is not installed, or workers-kv is
 * not in FEDIKV_SERVERS (a throw under CI=true: CI does not skip).
 */
export function workersKvPrerequisites() {
  const notWanted = unwanted("workers-kv");
  if (notWanted !== null) return { skip: notWanted };
  let node;
  try {
    node = runtimePath(RUNTIME);
  } catch (error) {
    return { skip: skipping(`no Node.js 24 for the Workers KV emulator: ${error.message}`) };
  }
  if (!existsSync(node)) {
    return {
      skip: skipping(`Node.js 24, which runs the Workers KV emulator, is not at ${node}; run \`npm run runtimes\``),
    };
  }
  const require = createRequire(EMULATOR);
  const missing = Object.keys(PACKAGES).filter((name) => {
    try {
      require.resolve(PACKAGES[name]);
      return false;
    } catch {
      return true;
    }
  });
  if (missing.length > 0) {
    return {
      skip: skipping(
        `the Workers KV emulator needs ${missing.join(", ")} (devDependencies), not installed; run \`npm ci\``,
      ),
    };
  }
  return { node };
}

/**
 * Starts an emulator. Resolves to `{ skip }` (see workersKvPrerequisites),
 * or to its handle: `apiUrl`, `accountId` and `apiToken` for the client;
 * `url` and `pid`; and thin wrappers of its test endpoints (README.md):
 * `newNamespace()` (an id), `faults(spec)`, `clearFaults()`,
 * `requests()`, `resetRequests()`, `fedify(namespaceId, { op, key, value,
 * ttlMs })`, `raw(namespaceId, { op, … })`, and `stop()`, which may be
 * called unbound and more than once. Rejects if the emulator fails to start.
 */
export async function startWorkersKv({ namespaces } = {}) {
  const found = workersKvPrerequisites();
  if (found.skip) return { skip: found.skip };
  const env = { ...process.env };
  delete env.NODE_TEST_CONTEXT;
  if (namespaces !== undefined) env.WORKERS_KV_NAMESPACES = String(namespaces);
  // A process group of its own, with workerd in it, for stop() to kill.
  const child = spawn(found.node, [EMULATOR], { stdio: ["pipe", "pipe", "pipe"], env, detached: true });
  const exited = new Promise((resolve) => child.once("exit", (code, signal) => resolve({ code, signal })));
  let stderr = "";
  child.stderr.setEncoding("utf8");
  child.stderr.on("data", (chunk) => {
    stderr = (stderr + chunk).slice(-STDERR_TAIL);
  });
  child.stdin.on("error", () => {});

  let ready;
  try {
    ready = await readyLine(child, exited);
  } catch (error) {
    kill(child.pid);
    throw new Error(`the Workers KV emulator did not start: ${error.message}${stderr ? `\n${stderr.trim()}` : ""}`);
  }
  // From now on its stderr is the test's, and nothing of it keeps the test
  // process alive: when that ends, the emulator's stdin closes and it stops.
  child.stderr.removeAllListeners("data");
  child.stderr.pipe(process.stderr);
  child.unref();
  for (const stream of [child.stdin, child.stdout, child.stderr]) stream.unref?.();

  return handle(ready, child, exited);
}

/** The emulator's JSON line, or a rejection when it exits or takes too long. */
function readyLine(child, exited) {
  return new Promise((resolve, reject) => {
    let buffer = "";
    const timer = setTimeout(() => reject(new Error(`no answer in ${READY_TIMEOUT_MS / 1000} s`)), READY_TIMEOUT_MS);
    child.once("error", (error) => {
      clearTimeout(timer);
      reject(error);
    });
    exited.then(({ code, signal }) => {
      clearTimeout(timer);
      reject(new Error(`it exited (${signal ?? `status ${code}`})`));
    });
    child.stdout.setEncoding("utf8");
    child.stdout.on("data", (chunk) => {
      buffer += chunk;
      const end = buffer.indexOf("\n");
      if (end < 0) return;
      clearTimeout(timer);
      child.stdout.removeAllListeners("data");
      try {
        resolve(JSON.parse(buffer.slice(0, end)));
      } catch {
        reject(new Error(`its first line is not JSON: ${buffer.slice(0, end)}`));
      }
    });
  });
}

/** SIGKILL to the emulator's process group, and to itself should the group be gone. */
function kill(pid) {
  for (const target of [-pid, pid]) {
    try {
      process.kill(target, "SIGKILL");
    } catch {}
  }
}

function handle({ url, apiUrl, accountId, apiToken }, child, exited) {
  const call = async (method, path, body) => {
    const response = await fetch(`${url}/__test/${path}`, {
      method,
      headers: body === undefined ? {} : { "content-type": "application/json" },
      body: body === undefined ? undefined : JSON.stringify(body),
    });
    const answer = await response.json();
    if (!response.ok) throw new Error(`Workers KV emulator: ${method} /__test/${path}: ${answer.error}`);
    return answer;
  };
  let stopped;
  const stop = () => {
    stopped ??= (async () => {
      try {
        process.kill(child.pid, "SIGTERM");
      } catch {}
      let timer;
      const late = new Promise((resolve) => {
        timer = setTimeout(() => resolve("late"), STOP_TIMEOUT_MS);
      });
      if ((await Promise.race([exited, late])) === "late") kill(child.pid);
      clearTimeout(timer);
    })();
    return stopped;
  };
  return {
    url,
    apiUrl,
    accountId,
    apiToken,
    pid: child.pid,
    newNamespace: async () => (await call("POST", "namespaces")).id,
    faults: (spec) => call("POST", "faults", spec),
    clearFaults: () => call("DELETE", "faults"),
    requests: () => call("GET", "requests"),
    resetRequests: () => call("DELETE", "requests"),
    fedify: (namespace, op) => call("POST", "fedify", { ...op, namespace }),
    raw: (namespace, op) => call("POST", "raw", { ...op, namespace }),
    stop,
  };
}
