// The `denokv` server binary the Deno KV tests start (KV Connect): Deno's
// own server, version 0.14.0, built from crates.io with cargo, since no
// registry here ships it prebuilt.
//
//   node scripts/denokv.mjs   prints the binary's path, installing it first
//                             if it is missing (`npm test` runs this)
//
// Where it is: $DENOKV_BIN if set (it must exist), else the cache
// ~/.cache/fedikv/denokv-0.14.0/bin/denokv ($XDG_CACHE_HOME instead of
// ~/.cache when set), where this script installs it with
// `cargo install denokv --version 0.14.0 --locked --root <cache>`.
// The Rust tests (src/denokv/test_server.rs) and the JS tests
// (__test__/support/denokv-server.mjs) look in the same places.
import { execFileSync, spawnSync } from "node:child_process";
import { existsSync } from "node:fs";
import { homedir } from "node:os";
import { join } from "node:path";
import { fileURLToPath } from "node:url";

export const DENOKV_VERSION = "0.14.0";

/** The cache folder `cargo install --root` fills (its binary is in bin/). */
export function cacheRoot() {
  const cache = process.env.XDG_CACHE_HOME || join(homedir(), ".cache");
  return join(cache, "fedikv", `denokv-${DENOKV_VERSION}`);
}

/** Where the binary is expected: $DENOKV_BIN, else the cache. */
export function denokvPath() {
  return process.env.DENOKV_BIN || join(cacheRoot(), "bin", "denokv");
}

/** The binary's path if it is there, else null. */
export function findDenokv() {
  const path = denokvPath();
  return existsSync(path) ? path : null;
}

/** Installs denokv into the cache with cargo (several minutes). */
function install() {
  const root = cacheRoot();
  console.error(
    `scripts/denokv.mjs: the denokv ${DENOKV_VERSION} server (Deno KV's KV Connect server, ` +
      `which the Deno KV tests start) is not in ${root}: building it from crates.io with ` +
      `cargo install. It compiles about 400 crates in release mode: expect 5–10 minutes on ` +
      `2 cores, once; later runs reuse it. Set DENOKV_BIN to use a denokv you already have.`,
  );
  const started = Date.now();
  const result = spawnSync("cargo", ["install", "denokv", "--version", DENOKV_VERSION, "--locked", "--root", root], {
    stdio: ["ignore", "inherit", "inherit"],
  });
  if (result.error) throw new Error(`cannot run cargo: ${result.error.message}`);
  if (result.status !== 0) {
    throw new Error(`cargo install denokv ${DENOKV_VERSION} failed (exit status ${result.status})`);
  }
  console.error(`scripts/denokv.mjs: installed in ${Math.round((Date.now() - started) / 1000)} s`);
}

/** The binary's path, installed first if it is missing from the cache. */
export function ensureDenokv() {
  if (process.env.DENOKV_BIN) {
    if (!existsSync(process.env.DENOKV_BIN)) {
      throw new Error(`DENOKV_BIN is ${process.env.DENOKV_BIN}, which does not exist`);
    }
  } else if (findDenokv() === null) {
    install();
  }
  const path = denokvPath();
  // denokv has no --version; --help at least shows that it runs here.
  execFileSync(path, ["--help"], { stdio: "ignore" });
  return path;
}

if (process.argv[1] === fileURLToPath(import.meta.url)) {
  try {
    console.log(ensureDenokv());
  } catch (error) {
    console.error(`scripts/denokv.mjs: ${error.message}`);
    process.exit(1);
  }
}
