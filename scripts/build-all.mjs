// Builds the addon for every platform of package.json's napi.targets on
// this machine (Linux x64): the host natively, the rest cross-compiled
// with napi's CLI (`--cross-compile`: cargo-zigbuild and zig for Linux and
// macOS, cargo-xwin for Windows MSVC). scripts/cross-tools.sh installs
// what that needs. `npm run build:all` runs this.
//
//   node scripts/build-all.mjs [target ...] [--debug]
//
// Each binary lands beside binding.js as fedikv.<platform>.node, where
// the loader, the tests and scripts/pack.mjs find it. A target that fails
// is reported with its error and the others still build; the exit status
// says whether all of them did.
import { execFileSync, spawnSync } from "node:child_process";
import { readFileSync } from "node:fs";
import { delimiter, join } from "node:path";
import { fileURLToPath } from "node:url";

const root = fileURLToPath(new URL("..", import.meta.url));
const { napi } = JSON.parse(readFileSync(join(root, "package.json"), "utf8"));
const HOST = "x86_64-unknown-linux-gnu";

const args = process.argv.slice(2);
const debug = args.includes("--debug");
const named = args.filter((a) => !a.startsWith("--"));
const unknown = named.filter((t) => !napi.targets.includes(t));
if (unknown.length > 0) {
  console.error(`scripts/build-all.mjs: not in package.json's napi.targets: ${unknown.join(", ")}`);
  process.exit(2);
}
const targets = named.length > 0 ? named : napi.targets;

const tools = execFileSync("bash", [join(root, "scripts", "cross-tools.sh")], {
  encoding: "utf8",
  stdio: ["ignore", "pipe", "inherit"],
}).trim();
const env = { ...process.env, PATH: `${tools}${delimiter}${process.env.PATH}` };

// A musl cdylib must not link the C runtime statically (Rust's default
// for musl), or it cannot be loaded into a process.
const RUSTFLAGS = {
  "x86_64-unknown-linux-musl": "-C target-feature=-crt-static",
  "aarch64-unknown-linux-musl": "-C target-feature=-crt-static",
};

const results = [];
for (const target of targets) {
  const started = Date.now();
  const napiArgs = ["napi", "build", "--platform", "--target", target, "--js", "binding.js", "--dts", "binding.d.ts"];
  if (!debug) napiArgs.push("--release");
  if (target !== HOST) napiArgs.push("--cross-compile");
  console.error(`\n# ${target}: npx ${napiArgs.join(" ")}`);
  const result = spawnSync("npx", napiArgs, {
    cwd: root,
    stdio: ["ignore", "inherit", "inherit"],
    env: { ...env, ...(RUSTFLAGS[target] ? { RUSTFLAGS: `${env.RUSTFLAGS ?? ""} ${RUSTFLAGS[target]}`.trim() } : {}) },
  });
  results.push({ target, ok: result.status === 0, seconds: Math.round((Date.now() - started) / 1000) });
}

console.error("\n# build:all");
for (const r of results) console.error(`# ${r.target.padEnd(28)} ${r.ok ? "built" : "FAILED"} (${r.seconds} s)`);
process.exitCode = results.every((r) => r.ok) ? 0 : 1;
