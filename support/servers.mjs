// Where the servers of the tests and the benchmark are, and what to do when
// one is not there: a skip with a message naming the variable when run by
// hand, a failure under CI.
import { connect } from "node:net";

export const SERVERS = {
  redis: { variable: "REDIS_URL", fallback: "redis://127.0.0.1:6379", port: 6379 },
  postgres: { variable: "POSTGRES_URL", fallback: "postgres://postgres@127.0.0.1:5432/test", port: 5432 },
  mysql: { variable: "MYSQL_URL", fallback: "mysql://root@127.0.0.1:3306/test", port: 3306 },
};

/**
 * Whether a TCP connection to `host`:`port` succeeds. A refused connection
 * answers at once; `timeoutMs` is for a host that drops packets, by
 * default generous for a slow machine (qemu, a loaded CI).
 */
export function reachable(host, port, { timeoutMs = 10_000 } = {}) {
  return new Promise((resolve) => {
    const socket = connect({ host, port, timeout: timeoutMs });
    const done = (ok) => {
      socket.destroy();
      resolve(ok);
    };
    socket.once("connect", () => done(true));
    socket.once("error", () => done(false));
    socket.once("timeout", () => done(false));
  });
}

/**
 * `reason`, the reason to skip, when run by hand; under CI=true it is
 * thrown instead: CI never skips a test it was not told to leave out.
 */
export function skipping(reason) {
  if (process.env.CI === "true") throw new Error(`${reason}. CI does not skip.`);
  return reason;
}

/**
 * Whether the tests may use server `name` (redis, postgres, mysql, or a
 * server the tests start: redis-cluster, denokv): FEDIKV_SERVERS, a comma-
 * separated list, names the only ones to use, for a run where the others
 * cannot be (arm64 under qemu, a macOS or Windows runner); unset, all.
 * Returns the reason to skip when it is not wanted, else null.
 */
export function unwanted(name) {
  const wanted = process.env.FEDIKV_SERVERS;
  if (wanted === undefined) return null;
  return wanted
    .split(",")
    .map((s) => s.trim())
    .includes(name)
    ? null
    : `${name} is not in FEDIKV_SERVERS (${JSON.stringify(wanted)})`;
}

/**
 * The server's URL, or `{ skip }` with the reason when it is unreachable
 * (or not wanted, see unwanted()). Under CI=true an unreachable server
 * throws: CI never skips a server test it was not told to leave out.
 */
export async function server(name) {
  const notWanted = unwanted(name);
  if (notWanted !== null) return { skip: notWanted };
  const { variable, fallback, port } = SERVERS[name];
  const url = process.env[variable] ?? fallback;
  const parsed = new URL(url);
  const host = parsed.hostname.replace(/^\[|\]$/g, "");
  if (await reachable(host, Number(parsed.port || port))) return { url };
  return { skip: skipping(`${parsed.host} (from ${variable}) is not reachable; set ${variable} to run these tests`) };
}

/** A name no other run uses, for tables and key prefixes. */
export function uniqueName(stem) {
  return `${stem}_${process.pid}_${Date.now().toString(36)}_${Math.random().toString(36).slice(2, 8)}`;
}
