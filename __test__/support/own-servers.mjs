// Server processes of the tests' own, for tests that kill, pause or
// reconfigure a server: Redis, PostgreSQL and MariaDB, each in a temp dir on
// a free loopback port. The machine's shared services (5432, 3306, 6379)
// are never touched.
//
// Every server runs in a process group of its own (PostgreSQL forks a
// process per connection: a signal to the group reaches them all), and
// only those groups are ever signalled. They die with the test process
// however it ends: on a normal exit they are killed here, and a small
// guard process, which holds the other end of a pipe, kills them when the
// pipe closes (the test process was killed).
import { execFile, execFileSync, spawn } from "node:child_process";
import {
  chmodSync,
  chownSync,
  copyFileSync,
  existsSync,
  mkdtempSync,
  openSync,
  readFileSync,
  readdirSync,
  rmSync,
  writeFileSync,
} from "node:fs";
import { createServer } from "node:net";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { setTimeout as sleep } from "node:timers/promises";
import { promisify } from "node:util";
import { denokvPath } from "../../scripts/denokv.mjs";
import { reachable, skipping } from "../../support/servers.mjs";
import { evalArgs } from "./runtime.mjs";

const run = promisify(execFile);

/** A free TCP port on 127.0.0.1. */
export async function freePort() {
  return await new Promise((resolve, reject) => {
    const server = createServer();
    server.once("error", reject);
    server.listen(0, "127.0.0.1", () => {
      const { port } = server.address();
      server.close(() => resolve(port));
    });
  });
}

// ---------------------------------------------------------------- the guard

const GUARD = `
const { readFileSync, readdirSync, rmSync } = require("node:fs");
${descendants.toString()}
${killGroups.toString()}
const groups = new Set();
const dirs = new Set();
let buffer = "";
process.stdin.on("data", (chunk) => {
  buffer += chunk;
  let end;
  while ((end = buffer.indexOf("\\n")) >= 0) {
    const line = buffer.slice(0, end);
    buffer = buffer.slice(end + 1);
    if (line.startsWith("+")) groups.add(Number(line.slice(1)));
    if (line.startsWith("-")) groups.delete(Number(line.slice(1)));
    if (line.startsWith("d+")) dirs.add(line.slice(2));
    if (line.startsWith("d-")) dirs.delete(line.slice(2));
  }
});
process.stdin.on("end", () => {
  killGroups(groups);
  setTimeout(() => {
    for (const dir of dirs) rmSync(dir, { recursive: true, force: true });
    process.exit(0);
  }, 500);
});
`;

let guard;
const groups = new Set();
const dirs = new Set();

function startGuard() {
  if (guard === undefined) {
    guard = spawn(process.execPath, evalArgs(GUARD), { stdio: ["pipe", "ignore", "ignore"], detached: true });
    guard.unref();
    guard.stdin.unref?.();
    guard.stdin.on("error", () => {});
    process.once("exit", () => {
      killGroups(groups);
      for (const dir of dirs) rmSync(dir, { recursive: true, force: true });
    });
  }
}

function guardGroup(pid) {
  startGuard();
  groups.add(pid);
  guard.stdin.write(`+${pid}\n`);
}

function releaseGroup(pid) {
  groups.delete(pid);
  guard?.stdin.write(`-${pid}\n`);
}

// ------------------------------------------------------------ binaries, CI

function postgresBin() {
  if (process.env.PG_BIN) return process.env.PG_BIN;
  const root = "/usr/lib/postgresql";
  const versions = existsSync(root)
    ? readdirSync(root)
        .filter((v) => /^\d+$/.test(v))
        .sort((a, b) => b - a)
    : [];
  return versions.length > 0 ? join(root, versions[0], "bin") : null;
}

function onPath(name) {
  try {
    execFileSync("sh", ["-c", `command -v ${name}`], { stdio: "pipe" });
    return true;
  } catch {
    return false;
  }
}

const NEEDS = {
  redis: () => ["redis-server", "redis-cli"].filter((b) => !onPath(b)),
  postgres: () => {
    const bin = postgresBin();
    return bin && existsSync(join(bin, "postgres")) && existsSync(join(bin, "initdb"))
      ? []
      : ["postgres and initdb (under /usr/lib/postgresql/*/bin, or set PG_BIN)"];
  },
  mariadb: () =>
    ["mariadbd", "mariadb-install-db", "mariadb"].filter((b) => !onPath(b) && !existsSync(`/usr/sbin/${b}`)),
  openssl: () => (onPath("openssl") ? [] : ["openssl"]),
  denokv: () => (existsSync(denokvPath()) ? [] : [`denokv (${denokvPath()}; node scripts/denokv.mjs installs it)`]),
};

/**
 * `undefined` when the binaries of `kinds` are installed, else the reason
 * to skip. Under CI=true a missing binary throws instead: CI never skips.
 */
export function missingBinaries(...kinds) {
  const missing = kinds.flatMap((kind) => NEEDS[kind]());
  return missing.length === 0 ? undefined : skipping(`not installed: ${missing.join(", ")}`);
}

// ------------------------------------------------------------ certificates

/**
 * A CA, a server certificate it signed (for 127.0.0.1 and localhost), a
 * client certificate it signed, and a second CA that signed nothing here,
 * all made with the openssl command in `dir`. Paths of PEM files:
 * `{ ca, cert, key, clientCert, clientKey, otherCa }`.
 */
export async function makeCertificates(dir) {
  const path = (name) => join(dir, name);
  const ssl = (...args) => run("openssl", args, { cwd: dir, timeout: 30_000 });
  const ecKey = ["-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:prime256v1", "-nodes"];
  for (const name of ["ca", "other-ca"]) {
    await ssl(
      "req",
      "-x509",
      ...ecKey,
      "-keyout",
      path(`${name}.key`),
      "-out",
      path(`${name}.pem`),
      "-days",
      "2",
      "-subj",
      `/CN=fedikv test ${name}`,
      "-addext",
      "basicConstraints=critical,CA:TRUE",
      "-addext",
      "keyUsage=critical,keyCertSign,cRLSign",
    );
  }
  /** A key and a certificate for `name`, signed by the test CA, with `extensions`. */
  const issue = async (name, subject, extensions) => {
    await ssl("req", "-new", ...ecKey, "-keyout", path(`${name}.key`), "-out", path(`${name}.csr`), "-subj", subject);
    writeFileSync(path(`${name}.ext`), extensions.join("\n"));
    await ssl(
      ...["x509", "-req", "-in", path(`${name}.csr`), "-CA", path("ca.pem"), "-CAkey", path("ca.key")],
      ...["-CAcreateserial", "-days", "2", "-extfile", path(`${name}.ext`), "-out", path(`${name}.pem`)],
    );
  };
  await issue("server", "/CN=localhost", [
    "basicConstraints=critical,CA:FALSE",
    "keyUsage=critical,digitalSignature,keyEncipherment",
    "extendedKeyUsage=serverAuth",
    "subjectAltName=DNS:localhost,IP:127.0.0.1",
  ]);
  await issue("client", "/CN=fedikv test client", [
    "basicConstraints=critical,CA:FALSE",
    "keyUsage=critical,digitalSignature",
    "extendedKeyUsage=clientAuth",
  ]);
  return {
    ca: path("ca.pem"),
    cert: path("server.pem"),
    key: path("server.key"),
    clientCert: path("client.pem"),
    clientKey: path("client.key"),
    otherCa: path("other-ca.pem"),
  };
}

// ---------------------------------------------------------------- a server

/**
 * One server process (and its children) that a test may kill, pause,
 * resume and restart on the same data dir and port.
 */
class OwnServer {
  #command;
  #args;
  #spawnOptions;
  #ready;
  #child = null;
  #exited = null;

  constructor({ name, dir, port, command, args, spawnOptions = {}, ready }) {
    this.name = name;
    this.dir = dir;
    this.port = port;
    this.#command = command;
    this.#args = args;
    this.#spawnOptions = spawnOptions;
    this.#ready = ready;
  }

  get pid() {
    return this.#child?.pid;
  }

  /** Starts the server and waits until it answers (at most `timeoutMs`). */
  async start({ timeoutMs = 30_000 } = {}) {
    if (this.#child !== null) throw new Error(`${this.name} is running already`);
    const log = openSync(join(this.dir, "server.log"), "a");
    const child = spawn(this.#command, this.#args, {
      stdio: ["ignore", log, log],
      detached: true,
      ...this.#spawnOptions,
    });
    guardGroup(child.pid);
    child.unref();
    this.#child = child;
    this.#exited = new Promise((resolve) => child.once("exit", resolve));
    const deadline = Date.now() + timeoutMs;
    for (;;) {
      if (child.exitCode !== null || child.signalCode !== null) {
        throw new Error(
          `${this.name} exited at start (${child.exitCode ?? child.signalCode}); log: ${this.log().slice(-2000)}`,
        );
      }
      if (
        (await reachable("127.0.0.1", this.port, { timeoutMs: 1000 })) &&
        (await this.#ready().then(
          () => true,
          () => false,
        ))
      )
        return;
      if (Date.now() > deadline)
        throw new Error(`${this.name} did not start in ${timeoutMs} ms; log: ${this.log().slice(-2000)}`);
      await sleep(50);
    }
  }

  /**
   * Signals the server's process group and every process descended from
   * the server: PostgreSQL puts each child in a session of its own
   * (setsid), out of reach of a signal to the group. The server first, so
   * that it starts no new child meanwhile.
   */
  #signal(signal) {
    if (this.#child === null) throw new Error(`${this.name} is not running`);
    const root = this.#child.pid;
    const before = descendants(root);
    process.kill(-root, signal);
    for (const pid of new Set([...before, ...descendants(root)])) {
      try {
        process.kill(pid, signal);
      } catch {}
    }
  }

  /** SIGKILL to the server's process group; resolves once it is gone. */
  async kill() {
    this.#signal("SIGKILL");
    // The child is unref'd: without a timer of its own, the event loop
    // could end while waiting for its exit.
    const keepAlive = setInterval(() => {}, 1000);
    await this.#exited;
    clearInterval(keepAlive);
    releaseGroup(this.#child.pid);
    this.#child = null;
  }

  /** SIGSTOP to the whole process group. */
  pause() {
    this.#signal("SIGSTOP");
  }

  /** SIGCONT to the whole process group. */
  resume() {
    this.#signal("SIGCONT");
  }

  /** Ends the server (if running) and removes its directory. */
  async stop() {
    if (this.#child !== null) {
      this.#signal("SIGCONT");
      await this.kill();
    }
    removeDir(this.dir);
  }

  log() {
    try {
      return readFileSync(join(this.dir, "server.log"), "utf8");
    } catch {
      return "";
    }
  }
}

/**
 * SIGKILL to each process group in `groups` and to every process descended
 * from its leader (see OwnServer's #signal); in the test process at exit and
 * in the guard (GUARD has its source).
 */
function killGroups(groups) {
  for (const group of groups) {
    const pids = descendants(group);
    try {
      process.kill(-group, "SIGKILL");
    } catch {}
    for (const pid of pids) {
      try {
        process.kill(pid, "SIGKILL");
      } catch {}
    }
  }
}

/** The PIDs of every living descendant of `root`, from /proc. */
function descendants(root) {
  const children = new Map();
  for (const entry of readdirSync("/proc")) {
    if (!/^\d+$/.test(entry)) continue;
    let stat;
    try {
      stat = readFileSync(`/proc/${entry}/stat`, "utf8");
    } catch {
      continue;
    }
    // The command name may hold spaces and parentheses: fields follow its last ')'.
    const [, ppid] = stat.slice(stat.lastIndexOf(")") + 2).split(" ");
    const list = children.get(Number(ppid)) ?? [];
    list.push(Number(entry));
    children.set(Number(ppid), list);
  }
  const found = [];
  const queue = [root];
  while (queue.length > 0) {
    for (const child of children.get(queue.shift()) ?? []) {
      found.push(child);
      queue.push(child);
    }
  }
  return found;
}

/**
 * A temp dir removed when the test process ends (also when it is killed);
 * `removeDir` removes it sooner.
 */
export function tempDir(stem) {
  const dir = mkdtempSync(join(tmpdir(), `fedikv-${stem}-`));
  startGuard();
  dirs.add(dir);
  guard.stdin.write(`d+${dir}\n`);
  return dir;
}

export function removeDir(dir) {
  rmSync(dir, { recursive: true, force: true });
  dirs.delete(dir);
  guard?.stdin.write(`d-${dir}\n`);
}

/**
 * A redis-server in a temp dir. `appendonly` (default true) keeps every
 * acknowledged write on disk (`--appendfsync always`). `password` sets the
 * default user's password; `tls: { cert, key, ca }` adds a TLS port
 * (`tlsPort`) beside the plain one, where `clientCertificates: true` asks
 * every client for a certificate signed by `ca`.
 */
export async function startRedis({ appendonly = true, password, tls, clientCertificates = false } = {}) {
  const dir = tempDir("redis");
  const port = await freePort();
  const args = [
    "--port",
    String(port),
    "--bind",
    "127.0.0.1",
    "--dir",
    dir,
    "--save",
    "",
    "--appendonly",
    appendonly ? "yes" : "no",
    "--appendfsync",
    "always",
    "--daemonize",
    "no",
    "--logfile",
    "",
  ];
  if (password !== undefined) args.push("--requirepass", password);
  let tlsPort;
  if (tls !== undefined) {
    tlsPort = await freePort();
    args.push(
      "--tls-port",
      String(tlsPort),
      "--tls-cert-file",
      tls.cert,
      "--tls-key-file",
      tls.key,
      "--tls-ca-cert-file",
      tls.ca,
      "--tls-auth-clients",
      clientCertificates ? "yes" : "no",
    );
  }
  const auth = password === undefined ? [] : ["--no-auth-warning", "-a", password];
  const server = new OwnServer({
    name: "redis-server",
    dir,
    port,
    command: "redis-server",
    args,
    ready: async () => {
      const { stdout } = await run("redis-cli", ["-h", "127.0.0.1", "-p", String(port), ...auth, "ping"], {
        timeout: 5000,
      });
      if (stdout.trim() !== "PONG") throw new Error(stdout);
    },
  });
  await startOrClean(server);
  const userinfo = password === undefined ? "" : `:${encodeURIComponent(password)}@`;
  server.url = `redis://${userinfo}127.0.0.1:${port}`;
  if (tlsPort !== undefined) server.tlsUrl = `rediss://${userinfo}127.0.0.1:${tlsPort}`;
  server.tlsPort = tlsPort;
  return server;
}

async function startOrClean(server) {
  try {
    await server.start();
  } catch (error) {
    await server.stop().catch(() => {});
    throw error;
  }
}

function passwdEntry(user) {
  const line = readFileSync("/etc/passwd", "utf8")
    .split("\n")
    .find((l) => l.startsWith(`${user}:`));
  if (line === undefined) throw new Error(`no user ${user} on this machine`);
  const [, , uid, gid] = line.split(":");
  return { uid: Number(uid), gid: Number(gid) };
}

/**
 * A PostgreSQL server made with `initdb` in a temp dir, run as the
 * `postgres` user (the test runs as root; PostgreSQL refuses root).
 * Superuser `postgres` with `password` over TCP (scram-sha-256), a database
 * `test`. With `tls: { cert, key }`, SSL is on and the role `tls_only`
 * (same password) may connect only over TLS.
 */
export async function startPostgres({ password = "pg-secret", tls } = {}) {
  const bin = postgresBin();
  const dir = tempDir("postgres");
  const owner = process.getuid() === 0 ? passwdEntry("postgres") : null;
  const asOwner = owner ? { uid: owner.uid, gid: owner.gid } : {};
  const own = (path) => owner && chownSync(path, owner.uid, owner.gid);
  own(dir);
  const data = join(dir, "data");
  const pwfile = join(dir, "pwfile");
  writeFileSync(pwfile, password);
  own(pwfile);
  await run(
    join(bin, "initdb"),
    ["-D", data, "-U", "postgres", "-N", "-A", "trust", "--auth-host=scram-sha-256", `--pwfile=${pwfile}`],
    { ...asOwner, timeout: 60_000 },
  );
  const hba = ["local all all trust"];
  const conf = [
    "listen_addresses = '127.0.0.1'",
    `unix_socket_directories = '${dir}'`,
    "fsync = on",
    "synchronous_commit = on",
    // After a kill, sync the data dir with one syncfs() instead of an
    // fsync() per file (seconds here, as initdb -N synced nothing).
    "recovery_init_sync_method = syncfs",
    "shared_buffers = 16MB",
    "max_connections = 40",
  ];
  if (tls !== undefined) {
    for (const [from, to] of [
      [tls.cert, "server.pem"],
      [tls.key, "server.key"],
    ]) {
      copyFileSync(from, join(data, to));
      own(join(data, to));
      chmodSync(join(data, to), 0o600);
    }
    conf.push("ssl = on", "ssl_cert_file = 'server.pem'", "ssl_key_file = 'server.key'");
    hba.push("hostnossl all tls_only 127.0.0.1/32 reject");
  }
  hba.push("host all all 127.0.0.1/32 scram-sha-256");
  writeFileSync(join(data, "pg_hba.conf"), `${hba.join("\n")}\n`);
  writeFileSync(join(data, "postgresql.auto.conf"), `${conf.join("\n")}\n`);
  own(join(data, "pg_hba.conf"));
  own(join(data, "postgresql.auto.conf"));
  const port = await freePort();
  const psql = (sql) =>
    run(
      join(bin, "psql"),
      ["-h", dir, "-p", String(port), "-U", "postgres", "-d", "postgres", "-v", "ON_ERROR_STOP=1", "-qAt", "-c", sql],
      { timeout: 10_000 },
    );
  const server = new OwnServer({
    name: "postgres",
    dir,
    port,
    command: join(bin, "postgres"),
    args: ["-D", data, "-p", String(port)],
    spawnOptions: asOwner,
    ready: () => psql("SELECT 1"),
  });
  await startOrClean(server);
  await psql("CREATE DATABASE test");
  const secret = password.replaceAll("'", "''");
  await psql(`CREATE ROLE tls_only LOGIN SUPERUSER PASSWORD '${secret}'`);
  server.psql = psql;
  server.url = `postgres://postgres:${encodeURIComponent(password)}@127.0.0.1:${port}/test`;
  server.tlsOnlyUrl = `postgres://tls_only:${encodeURIComponent(password)}@127.0.0.1:${port}/test`;
  return server;
}

const MARIADB_TUNING = ["--innodb-log-file-size=4M", "--innodb-buffer-pool-size=16M", "--skip-name-resolve"];

/**
 * A MariaDB server made with `mariadb-install-db` in a temp dir (its own
 * datadir, socket and port), durable (`innodb_flush_log_at_trx_commit=1`,
 * the default). User `fedikv` with `password` from 127.0.0.1, a database
 * `test`. With `tls: { cert, key, ca }`, TLS is on and the user `tls_only`
 * (same password) is created `REQUIRE SSL`.
 */
export async function startMariadb({ password = "maria-secret", tls } = {}) {
  const dir = tempDir("mariadb");
  const data = join(dir, "data");
  const socket = join(dir, "mariadb.sock");
  await run(
    "mariadb-install-db",
    [
      "--no-defaults",
      `--datadir=${data}`,
      "--user=root",
      "--auth-root-authentication-method=normal",
      "--skip-test-db",
      ...MARIADB_TUNING,
    ],
    { timeout: 120_000 },
  );
  const port = await freePort();
  const args = [
    "--no-defaults",
    `--datadir=${data}`,
    `--socket=${socket}`,
    `--port=${port}`,
    "--bind-address=127.0.0.1",
    "--user=root",
    `--pid-file=${join(dir, "mariadb.pid")}`,
    "--skip-log-bin",
    "--innodb-flush-log-at-trx-commit=1",
    ...MARIADB_TUNING,
  ];
  if (tls !== undefined) args.push(`--ssl-cert=${tls.cert}`, `--ssl-key=${tls.key}`, `--ssl-ca=${tls.ca}`);
  const mariadb = (sql) =>
    run("mariadb", ["--no-defaults", `--socket=${socket}`, "-uroot", "-N", "-B", "-e", sql], { timeout: 10_000 });
  const server = new OwnServer({
    name: "mariadbd",
    dir,
    port,
    command: existsSync("/usr/sbin/mariadbd") ? "/usr/sbin/mariadbd" : "mariadbd",
    args,
    ready: () => mariadb("SELECT 1"),
  });
  await startOrClean(server);
  const secret = password.replaceAll("\\", "\\\\").replaceAll("'", "\\'");
  await mariadb(
    [
      "CREATE DATABASE test",
      `CREATE USER 'fedikv'@'127.0.0.1' IDENTIFIED BY '${secret}'`,
      "GRANT ALL ON *.* TO 'fedikv'@'127.0.0.1'",
      `CREATE USER 'tls_only'@'127.0.0.1' IDENTIFIED BY '${secret}' REQUIRE SSL`,
      "GRANT ALL ON *.* TO 'tls_only'@'127.0.0.1'",
    ].join("; "),
  );
  server.sql = mariadb;
  server.url = `mysql://fedikv:${encodeURIComponent(password)}@127.0.0.1:${port}/test`;
  server.tlsOnlyUrl = `mysql://tls_only:${encodeURIComponent(password)}@127.0.0.1:${port}/test`;
  return server;
}

/**
 * A denokv server (Deno KV's KV Connect server) on a SQLite file in a temp
 * dir. `url` is its KV Connect endpoint; `token` its access token;
 * `sqlitePath` its file, which `prepare(sqlitePath)`, if given, may fill
 * before the server opens it.
 */
export async function startDenokv({ token = "denokv-secret-token", prepare } = {}) {
  const dir = tempDir("denokv");
  const sqlitePath = join(dir, "kv.sqlite3");
  try {
    await prepare?.(sqlitePath);
  } catch (error) {
    removeDir(dir);
    throw error;
  }
  const port = await freePort();
  const url = `http://127.0.0.1:${port}`;
  // The token is the one on its command line, never one from the environment.
  const { DENO_KV_ACCESS_TOKEN: _, ...env } = process.env;
  const server = new OwnServer({
    name: "denokv",
    dir,
    port,
    command: denokvPath(),
    args: ["--sqlite-path", sqlitePath, "serve", "--access-token", token, "--addr", `127.0.0.1:${port}`],
    spawnOptions: { env },
    ready: async () => {
      // The metadata exchange KV Connect starts with answers once the server serves.
      const response = await fetch(url, {
        method: "POST",
        headers: { authorization: `Bearer ${token}`, "content-type": "application/json" },
        body: JSON.stringify({ supportedVersions: [1, 2, 3] }),
        signal: AbortSignal.timeout(2000),
      });
      if (!response.ok) throw new Error(`denokv answered ${response.status}`);
    },
  });
  await startOrClean(server);
  server.url = url;
  server.token = token;
  server.sqlitePath = sqlitePath;
  return server;
}

export { OwnServer };
