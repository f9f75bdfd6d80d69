// The package as a user gets it: packed into tarballs (fedikv and its
// platform packages), installed with @fedify/fedify into an empty folder,
// and used there by name; and the loader's choice among the platform
// packages installed there, by CPU and by C library.
import assert from "node:assert/strict";
import { execFileSync } from "node:child_process";
import { copyFileSync, existsSync, mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { after, describe, test } from "node:test";
import { fileURLToPath } from "node:url";
import { command, ensureRuntime, RUNTIMES } from "../scripts/runtimes.mjs";
import { FIRST_RUN, scriptArgs } from "./support/runtime.mjs";

const root = fileURLToPath(new URL("..", import.meta.url));
const dir = mkdtempSync(join(tmpdir(), "fedikv-pkg-"));
after(() => rmSync(dir, { recursive: true, force: true }));

/** The platform packages installed besides the host's: those built here (CI builds both). */
const OTHERS = ["linux-arm64-gnu", "linux-x64-musl"];

let tarballs;
let app;

test("npm pack, npm install the tarballs and @fedify/fedify, use it", { timeout: 600_000 }, () => {
  tarballs = JSON.parse(
    execFileSync(process.execPath, scriptArgs(join(root, "scripts", "pack.mjs"), join(dir, "pack")), {
      encoding: "utf8",
    }),
  );
  app = join(dir, "app");
  execFileSync("mkdir", ["-p", app]);
  writeFileSync(join(app, "package.json"), JSON.stringify({ name: "app", private: true, type: "module" }));
  // Another platform's package too, as a lockfile made on another machine
  // brings it (--force: npm refuses another CPU's or libc's package).
  const others = OTHERS.filter((p) => tarballs.platforms[p]).map((p) => tarballs.platforms[p]);
  execFileSync(
    "npm",
    [
      "install",
      "--no-audit",
      "--no-fund",
      "--prefer-offline",
      "--loglevel=error",
      ...(others.length > 0 ? ["--force"] : []),
      tarballs.main,
      tarballs.platforms["linux-x64-gnu"],
      ...others,
      "@fedify/fedify@2.3.6",
      "@js-temporal/polyfill",
    ],
    { cwd: app, stdio: ["ignore", "ignore", "inherit"], timeout: 500_000 },
  );
  copyFileSync(join(root, "__test__", "support", "package-user.mjs"), join(app, "main.mjs"));
  const out = execFileSync(process.execPath, scriptArgs("main.mjs"), { cwd: app, encoding: "utf8" });
  assert.match(out, /package works/);
  // The bin, as `npx fedikv` finds it in the installed package.
  const help = execFileSync("npx", ["--no-install", "fedikv", "--help"], { cwd: app, encoding: "utf8" });
  assert.match(help, /^Usage: fedikv <command>/);
  const listed = execFileSync("npx", ["--no-install", "fedikv", "ls", "sqlite:./app.db", "--json"], {
    cwd: app,
    encoding: "utf8",
  });
  // What main.mjs left in app.db: the cas wrote 1 without a TTL.
  assert.deepEqual(JSON.parse(listed), { key: ["_fedify", "check"], value: 1, ttlMs: null, expiresAt: null });
});

/** A script that loads fedikv in `app` and prints which platform package's addon the process mapped. */
const WHICH = `
  let failure = null;
  try { require("fedikv"); } catch (error) { failure = error.message; }
  const maps = require("node:fs").readFileSync("/proc/self/maps", "utf8");
  const loaded = [...new Set(maps.match(/fedikv-[a-z0-9-]+(?=\\/fedikv\\.)/g) ?? [])];
  console.log(JSON.stringify({ loaded, failure }));`;

// Once, from the machine's Node: the choice is the loader's, whatever the runtime.
describe("the loader chooses the platform package by CPU and C library", {
  skip: !FIRST_RUN && "run once, from the machine's Node",
}, () => {
  const which = (command, args = []) => {
    const script = join(app, "which.cjs");
    writeFileSync(script, WHICH);
    const out = execFileSync(command, [...args, script], { cwd: app, encoding: "utf8", timeout: 300_000 });
    return JSON.parse(out.trim().split("\n").at(-1));
  };

  test("x64 with glibc: fedikv-linux-x64-gnu, beside the other packages", () => {
    assert.deepEqual(which(process.execPath), { loaded: ["fedikv-linux-x64-gnu"], failure: null });
  });

  test("arm64 (Node 22 under qemu-user): fedikv-linux-arm64-gnu", {
    skip: absent("linux-arm64-gnu"),
    timeout: 300_000,
  }, () => {
    const spec = RUNTIMES["node22-arm64"];
    const run = command(spec, ensureRuntime("node22-arm64"));
    assert.deepEqual(which(run.file, run.args), { loaded: ["fedikv-linux-arm64-gnu"], failure: null });
  });

  test("a musl system (its ldd says musl), Bun's musl build: fedikv-linux-x64-musl, and it works", {
    skip: absent("linux-x64-musl"),
    timeout: 120_000,
  }, () => {
    // A mount namespace where /usr/bin/ldd is musl's: what the loader reads
    // to tell the C library (this machine's is glibc's).
    const fakeLdd = join(dir, "ldd");
    writeFileSync(fakeLdd, "#!/bin/sh\necho 'musl libc (x86_64)'\n", { mode: 0o755 });
    const bun = command(RUNTIMES["bun-musl"], ensureRuntime("bun-musl"));
    const inNamespace = [
      "--mount",
      "sh",
      "-c",
      `mount --bind ${fakeLdd} /usr/bin/ldd && exec "$0" "$@"`,
      bun.file,
      ...bun.args,
    ];
    assert.deepEqual(which("unshare", inNamespace), { loaded: ["fedikv-linux-x64-musl"], failure: null });
  });
});

function absent(platform) {
  if (existsSync(join(root, `fedikv.${platform}.node`))) return false;
  return `fedikv.${platform}.node is not built; \`npm run build:all\` makes it`;
}
