// `denokv` servers of the tests' own (KV Connect): each on a free loopback
// port with its own SQLite file in a temp dir, killed by its PID by stop()
// or when the test process exits. The machine's services are not involved.
//
// The binary is found as scripts/denokv.mjs says ($DENOKV_BIN, else the
// cache it installs into; `npm test` installs it first). Without it the
// tests skip with the reason, or fail under CI=true.
import { spawn } from "node:child_process";
import { mkdtempSync, openSync, closeSync, readFileSync, rmSync } from "node:fs";
import { connect } from "node:net";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { setTimeout as sleep } from "node:timers/promises";
import { DenoKvStore } from "fedikv";
import { denokvPath, findDenokv } from "../../scripts/denokv.mjs";
import { freePort } from "./own-servers.mjs";
import { unwanted } from "../../support/servers.mjs";

export const ACCESS_TOKEN = "fedikv-test-access-token";

/** The binary, or `{ skip }` with the reason (a throw under CI=true). */
export function denokvBinary() {
  const notWanted = unwanted("denokv");
  if (notWanted !== null) return { skip: notWanted };
  const binary = findDenokv();
  if (binary !== null) return { binary };
  const reason = `the denokv server binary is not at ${denokvPath()}; run \`node scripts/denokv.mjs\` ` +
    "(it installs denokv 0.14.0 with cargo, once, in minutes) or set DENOKV_BIN";
  if (process.env.CI === "true") throw new Error(`${reason}. CI needs it.`);
  return { skip: reason };
}

function accepts(port) {
  return new Promise((resolve) => {
    const socket = connect({ host: "127.0.0.1", port });
    socket.once("connect", () => {
      socket.destroy();
      resolve(true);
    });
    socket.once("error", () => resolve(false));
  });
}

/**
 * Writes a "clock" into the database file before the server opens it:
 * entries under ["fedikv-test-clock", n] expiring one every `everyMs`
 * for `forMs`. denokv's expiry collector sleeps until the earliest expiry it
 * knew of at its last run (or a minute when it knew of none), and a write
 * does not wake it; with a clock it wakes every `everyMs` (plus its own
 * jitter of up to 1 s), so expired entries go within about a second rather
 * than a minute, and tests that wait for an expiry finish sooner. The
 * tests still allow the store's whole documented grace.
 */
async function writeClock(path, { everyMs, forMs }) {
  const kv = new DenoKvStore(path);
  try {
    const { Temporal } = await import("@js-temporal/polyfill");
    const writes = [];
    for (let at = everyMs; at <= forMs; at += everyMs) {
      const ttl = Temporal.Duration.from({ milliseconds: at });
      writes.push(kv.set(["fedikv-test-clock", String(at).padStart(9, "0")], at, { ttl }));
    }
    await Promise.all(writes);
  } finally {
    await kv.close();
  }
}

/**
 * Starts `denokv serve` and waits until it accepts connections. Resolves to
 * `{ url, accessToken, pid, stop }`. `clock`: see writeClock.
 */
export async function startDenokvServer({ clock } = {}) {
  const found = denokvBinary();
  if (found.skip) throw new Error(found.skip);
  const dir = mkdtempSync(join(tmpdir(), "fedikv-denokv-"));
  const sqlitePath = join(dir, "kv.sqlite3");
  if (clock) await writeClock(sqlitePath, clock);
  const port = await freePort();
  const log = openSync(join(dir, "denokv.log"), "w");
  const env = { ...process.env };
  delete env.DENO_KV_ACCESS_TOKEN;
  const child = spawn(found.binary, [
    "--sqlite-path", sqlitePath,
    "serve", "--access-token", ACCESS_TOKEN, "--addr", `127.0.0.1:${port}`,
  ], { stdio: ["ignore", log, log], env });
  closeSync(log);
  let exited = null;
  child.once("exit", (code, signal) => (exited = signal ?? code));
  let stopped = false;
  const stop = () => {
    if (stopped) return;
    stopped = true;
    // Our own child, by its PID.
    if (exited === null) child.kill("SIGKILL");
    rmSync(dir, { recursive: true, force: true });
  };
  process.once("exit", stop);
  const deadline = Date.now() + 20_000;
  while (!(await accepts(port))) {
    if (exited !== null || Date.now() > deadline) {
      const output = readFileSync(join(dir, "denokv.log"), "utf8").slice(-2000);
      stop();
      throw new Error(`denokv on port ${port} did not start (${exited ?? "timed out"}): ${output}`);
    }
    await sleep(20);
  }
  return { url: `http://127.0.0.1:${port}`, accessToken: ACCESS_TOKEN, pid: child.pid, sqlitePath, stop };
}
