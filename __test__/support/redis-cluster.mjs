// A throwaway Redis Cluster for tests: N masters (and optional replicas) on
// free loopback ports, each in its own temp dir, joined with
// `redis-cli --cluster create`. Only the processes started here are ever
// stopped, by PID. The machine's own Redis is never touched.
import { execFile, spawn } from "node:child_process";
import { mkdtempSync, rmSync } from "node:fs";
import { createServer } from "node:net";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { setTimeout as sleep } from "node:timers/promises";
import { promisify } from "node:util";

const run = promisify(execFile);

async function freePort() {
  return await new Promise((resolve, reject) => {
    const server = createServer();
    server.once("error", reject);
    server.listen(0, "127.0.0.1", () => {
      const { port } = server.address();
      server.close(() => resolve(port));
    });
  });
}

async function cli(port, ...args) {
  const { stdout } = await run("redis-cli", ["-h", "127.0.0.1", "-p", String(port), ...args], { timeout: 30_000 });
  return stdout;
}

/**
 * Starts a cluster; resolves to `{ nodes, ports, stop }` where `nodes` are
 * `redis://127.0.0.1:PORT` URLs. `stop()` kills the servers and removes
 * their directories; it also runs if the process exits first.
 */
export async function startRedisCluster({ masters = 3, replicas = 0 } = {}) {
  const dir = mkdtempSync(join(tmpdir(), "fedikv-redis-cluster-"));
  const count = masters * (1 + replicas);
  const ports = [];
  for (let i = 0; i < count; i++) ports.push(await freePort());
  const children = ports.map((port) => {
    return spawn("redis-server", [
      "--port", String(port), "--bind", "127.0.0.1", "--dir", dir,
      "--cluster-enabled", "yes", "--cluster-config-file", `nodes-${port}.conf`,
      "--cluster-node-timeout", "2000", "--save", "", "--appendonly", "no",
      "--logfile", join(dir, `${port}.log`),
    ], { stdio: "ignore" });
  });
  let stopped = false;
  const stop = () => {
    if (stopped) return;
    stopped = true;
    for (const child of children) child.kill("SIGKILL");
    rmSync(dir, { recursive: true, force: true });
  };
  process.once("exit", stop);
  try {
    for (const port of ports) {
      for (let i = 0; ; i++) {
        try {
          if ((await cli(port, "ping")).trim() === "PONG") break;
        } catch {}
        if (i > 100) throw new Error(`redis-server on ${port} did not start`);
        await sleep(50);
      }
    }
    await run("redis-cli", [
      "--cluster", "create", ...ports.map((p) => `127.0.0.1:${p}`),
      "--cluster-replicas", String(replicas), "--cluster-yes",
    ], { timeout: 60_000 });
    for (let i = 0; ; i++) {
      const states = await Promise.all(ports.map((p) => cli(p, "cluster", "info")));
      if (states.every((s) => s.includes("cluster_state:ok"))) break;
      if (i > 200) throw new Error("the Redis Cluster did not reach cluster_state:ok");
      await sleep(100);
    }
  } catch (error) {
    stop();
    throw error;
  }
  return { nodes: ports.map((p) => `redis://127.0.0.1:${p}`), ports, pids: children.map((c) => c.pid), stop };
}
