// The JavaScript runtimes the tests run on: every maintained Node, Deno
// and Bun, each installed from npm (the runtimes' own binary packages) into
// a cache, once per machine, at the versions pinned here.
//
//   node scripts/runtimes.mjs [name ...]   installs the named runtimes (all
//                                          when none is named) if missing
//                                          and prints { name: binary } as JSON
//
// Names: "node" is the machine's own Node (whatever runs this script), then
// node22, node24, node26, deno, bun. The cache is
// ~/.cache/fedikv/runtimes/<package>@<version> ($XDG_CACHE_HOME instead of
// ~/.cache when set); a copy that does not run is installed again.
import { execFileSync, spawnSync } from "node:child_process";
import { chmodSync, existsSync, mkdirSync, rmSync } from "node:fs";
import { homedir } from "node:os";
import { join } from "node:path";
import { fileURLToPath } from "node:url";

const ARCH = { x64: "x64", arm64: "arm64" }[process.arch];

/** npm package, version and binary inside it, per runtime and architecture. */
export const RUNTIMES = {
  node22: { package: `node-linux-${ARCH}`, version: "22.23.5", bin: "bin/node" },
  node24: { package: `node-linux-${ARCH}`, version: "24.22.3", bin: "bin/node" },
  node26: { package: `node-linux-${ARCH}`, version: "26.12.1", bin: "bin/node" },
  deno: { package: `@deno/linux-${ARCH}-glibc`, version: "2.9.6", bin: "deno" },
  bun: {
    package: `@oven/bun-linux-${process.arch === "arm64" ? "aarch64" : "x64"}`,
    version: "1.4.5",
    bin: "bin/bun",
  },
};

/** Every name the test matrix knows, the machine's Node first. */
export const ALL = ["node", ...Object.keys(RUNTIMES)];

export function cacheDir() {
  const cache = process.env.XDG_CACHE_HOME || join(homedir(), ".cache");
  return join(cache, "fedikv", "runtimes");
}

function prefixOf(spec) {
  return join(cacheDir(), `${spec.package.replace("/", "+")}@${spec.version}`);
}

function binaryOf(spec) {
  return join(prefixOf(spec), "node_modules", spec.package, spec.bin);
}

/** Whether the binary starts and says its version. */
function runs(binary) {
  const result = spawnSync(binary, ["--version"], { encoding: "utf8", timeout: 60_000 });
  return result.status === 0;
}

function install(name, spec) {
  const prefix = prefixOf(spec);
  rmSync(prefix, { recursive: true, force: true });
  mkdirSync(prefix, { recursive: true });
  console.error(`scripts/runtimes.mjs: installing ${name} (${spec.package}@${spec.version}) into ${prefix}`);
  // --ignore-scripts: these packages are a binary and a package.json; no
  // install script is needed, and none of theirs is run.
  execFileSync(
    "npm",
    ["install", "--no-save", "--no-package-lock", "--ignore-scripts", "--no-audit", "--no-fund",
      "--prefix", prefix, `${spec.package}@${spec.version}`],
    { stdio: ["ignore", "ignore", "inherit"] },
  );
  // npm keeps the file modes of the tarball; Bun's lacks the execute bit.
  chmodSync(binaryOf(spec), 0o755);
}

/** The binary of runtime `name`, installed first if it is missing. */
export function ensureRuntime(name) {
  if (name === "node") return process.execPath;
  const spec = RUNTIMES[name];
  if (spec === undefined) {
    throw new Error(`unknown runtime ${JSON.stringify(name)}; known: ${ALL.join(", ")}`);
  }
  if (ARCH === undefined) throw new Error(`no runtime packages for ${process.arch}`);
  const binary = binaryOf(spec);
  if (!(existsSync(binary) && runs(binary))) {
    install(name, spec);
    if (!runs(binary)) throw new Error(`${name}: ${binary} was installed but does not run`);
  }
  return binary;
}

if (process.argv[1] === fileURLToPath(import.meta.url)) {
  try {
    const names = process.argv.length > 2 ? process.argv.slice(2) : ALL;
    console.log(JSON.stringify(Object.fromEntries(names.map((n) => [n, ensureRuntime(n)])), null, 2));
  } catch (error) {
    console.error(`scripts/runtimes.mjs: ${error.message}`);
    process.exit(1);
  }
}
