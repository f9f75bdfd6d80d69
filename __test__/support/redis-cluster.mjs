// A throwaway Redis Cluster for tests: N masters (and optional replicas) on
// free loopback ports, each in its own temp dir, joined with
// `redis-cli --cluster create`. The nodes are OwnServers (own-servers.mjs):
// only they are ever signalled, by PID, and they die with the test
// process. The machine's own Redis is never touched.
import { execFile } from "node:child_process";
import { setTimeout as sleep } from "node:timers/promises";
import { promisify } from "node:util";
import { OwnServer, freePort, tempDir } from "./own-servers.mjs";

const run = promisify(execFile);

async function cli(port, ...args) {
  const { stdout } = await run("redis-cli", ["-h", "127.0.0.1", "-p", String(port), ...args], { timeout: 30_000 });
  return stdout;
}

/** CRC16/XMODEM, Redis Cluster's key hash. */
function crc16(bytes) {
  let crc = 0;
  for (const byte of bytes) {
    crc ^= byte << 8;
    for (let i = 0; i < 8; i++) crc = crc & 0x8000 ? ((crc << 1) ^ 0x1021) & 0xffff : (crc << 1) & 0xffff;
  }
  return crc;
}

/** The hash slot of a Redis key (its `{hash tag}` only, if it has one). */
export function keySlot(key) {
  const open = key.indexOf("{");
  if (open >= 0) {
    const close = key.indexOf("}", open + 1);
    if (close > open + 1) key = key.slice(open + 1, close);
  }
  return crc16(Buffer.from(key, "utf8")) % 16384;
}

/**
 * The cluster as one node sees it: `[{ id, port, role, master, failed,
 * slots: [[from, to]…] }]` (`master` is the id a replica follows).
 */
export async function clusterNodes(port) {
  const text = await cli(port, "cluster", "nodes");
  return text
    .trim()
    .split("\n")
    .map((line) => {
      const [id, address, flags, master, , , , , ...slots] = line.split(" ");
      return {
        id,
        port: Number(address.split("@")[0].split(":")[1]),
        role: flags.includes("master") ? "master" : "replica",
        master: master === "-" ? null : master,
        failed: flags.includes("fail") && !flags.includes("fail?"),
        slots: slots
          .filter((s) => /^\d/.test(s))
          .map((s) => s.split("-").map(Number))
          .map(([a, b = a]) => [a, b]),
      };
    });
}

/** Waits until every node in `ports` reports cluster_state:ok. */
export async function clusterOk(ports, { timeoutMs = 30_000 } = {}) {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const states = await Promise.all(ports.map((p) => cli(p, "cluster", "info").catch(() => "")));
    if (states.every((s) => s.includes("cluster_state:ok"))) return;
    if (Date.now() > deadline) throw new Error("the Redis Cluster did not reach cluster_state:ok");
    await sleep(100);
  }
}

/**
 * Starts a cluster; resolves to `{ nodes, ports, servers, stop }` where
 * `nodes` are `redis://127.0.0.1:PORT` URLs and `servers` the OwnServers by
 * port (to kill or pause one). `stop()` ends them and removes their dirs.
 * `nodeTimeoutMs` is how long a silent master takes to be failed over.
 * `fullCoverage: false` lets the other masters serve their slots while
 * a master is down (Redis's default, `true`, stops the whole cluster from
 * the moment a master is marked failed until a replica has taken over).
 */
export async function startRedisCluster({ masters = 3, replicas = 0, nodeTimeoutMs = 2000, fullCoverage = true } = {}) {
  const count = masters * (1 + replicas);
  const ports = [];
  for (let i = 0; i < count; i++) ports.push(await freePort());
  const servers = new Map();
  const stop = () => Promise.all([...servers.values()].map((s) => s.stop()));
  try {
    for (const port of ports) {
      const dir = tempDir("redis-cluster");
      const server = new OwnServer({
        name: `redis-server (cluster node ${port})`,
        dir,
        port,
        command: "redis-server",
        args: [
          "--port",
          String(port),
          "--bind",
          "127.0.0.1",
          "--dir",
          dir,
          "--cluster-enabled",
          "yes",
          "--cluster-config-file",
          "nodes.conf",
          "--cluster-node-timeout",
          String(nodeTimeoutMs),
          "--save",
          "",
          "--appendonly",
          "no",
          "--cluster-require-full-coverage",
          fullCoverage ? "yes" : "no",
          "--daemonize",
          "no",
          "--logfile",
          "",
        ],
        ready: async () => {
          if ((await cli(port, "ping")).trim() !== "PONG") throw new Error("no PONG");
        },
      });
      servers.set(port, server);
    }
    await Promise.all([...servers.values()].map((s) => s.start()));
    await run(
      "redis-cli",
      [
        "--cluster",
        "create",
        ...ports.map((p) => `127.0.0.1:${p}`),
        "--cluster-replicas",
        String(replicas),
        "--cluster-yes",
      ],
      { timeout: 60_000 },
    );
    await clusterOk(ports);
    if (replicas > 0) {
      // Replicas are usable for failover once they have synced.
      for (let i = 0; ; i++) {
        const nodes = await clusterNodes(ports[0]);
        const linked = await Promise.all(
          nodes.filter((n) => n.role === "replica").map((n) => cli(n.port, "info", "replication")),
        );
        if (linked.length === masters * replicas && linked.every((info) => info.includes("master_link_status:up")))
          break;
        if (i > 300) throw new Error("the replicas did not sync");
        await sleep(100);
      }
    }
  } catch (error) {
    await stop();
    throw error;
  }
  return { nodes: ports.map((p) => `redis://127.0.0.1:${p}`), ports, servers, stop };
}
