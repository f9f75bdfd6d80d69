// `denokv` servers of the tests' own (KV Connect), for the tests that only
// need one running: each is own-servers.mjs's startDenokv() (a free
// loopback port, its own SQLite file in a temp dir, killed by its PID by
// stop() or when the test process ends), with the tests' access token.
// The machine's services are not involved.
//
// The binary is found as scripts/denokv.mjs says ($DENOKV_BIN, else the
// cache it installs into; `npm test` installs it first). Without it the
// tests skip with the reason, or fail under CI=true.
import { DenoKvStore } from "fedikv";
import { denokvPath, findDenokv } from "../../scripts/denokv.mjs";
import { skipping, unwanted } from "../../support/servers.mjs";
import { startDenokv } from "./own-servers.mjs";

export const ACCESS_TOKEN = "fedikv-test-access-token";

/** The binary, or `{ skip }` with the reason (a throw under CI=true). */
export function denokvBinary() {
  const notWanted = unwanted("denokv");
  if (notWanted !== null) return { skip: notWanted };
  const binary = findDenokv();
  if (binary !== null) return { binary };
  return {
    skip: skipping(
      `the denokv server binary is not at ${denokvPath()}; run \`node scripts/denokv.mjs\` ` +
        "(it installs denokv 0.14.0 with cargo, once, in minutes) or set DENOKV_BIN",
    ),
  };
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
 * Starts `denokv serve` and waits until it answers. Resolves to
 * `{ url, accessToken, pid, sqlitePath, stop }`; `stop` may be called
 * unbound. `clock`: see writeClock.
 */
export async function startDenokvServer({ clock } = {}) {
  const found = denokvBinary();
  if (found.skip) throw new Error(found.skip);
  const server = await startDenokv({
    token: ACCESS_TOKEN,
    prepare: clock && ((sqlitePath) => writeClock(sqlitePath, clock)),
  });
  const { url, pid, sqlitePath } = server;
  return { url, accessToken: ACCESS_TOKEN, pid, sqlitePath, stop: () => server.stop() };
}
