// The package as a user gets it: packed into tarballs, installed with
// @fedify/fedify into an empty folder, and used there by name.
import assert from "node:assert/strict";
import { execFileSync } from "node:child_process";
import { copyFileSync, mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { after, test } from "node:test";
import { fileURLToPath } from "node:url";
import { scriptArgs } from "./support/runtime.mjs";

const root = fileURLToPath(new URL("..", import.meta.url));
const dir = mkdtempSync(join(tmpdir(), "fedikv-pkg-"));
after(() => rmSync(dir, { recursive: true, force: true }));

test("npm pack, npm install both tarballs and @fedify/fedify, use it", { timeout: 600_000 }, () => {
  const tarballs = JSON.parse(
    execFileSync(process.execPath, scriptArgs(join(root, "scripts", "pack.mjs"), join(dir, "pack")), { encoding: "utf8" }),
  );
  const app = join(dir, "app");
  execFileSync("mkdir", ["-p", app]);
  writeFileSync(join(app, "package.json"), JSON.stringify({ name: "app", private: true, type: "module" }));
  execFileSync(
    "npm",
    ["install", "--no-audit", "--no-fund", "--prefer-offline", "--loglevel=error",
      tarballs.main, tarballs.platform, "@fedify/fedify@2.3.6", "@js-temporal/polyfill"],
    { cwd: app, stdio: ["ignore", "ignore", "inherit"], timeout: 500_000 },
  );
  copyFileSync(join(root, "__test__", "support", "package-user.mjs"), join(app, "main.mjs"));
  const out = execFileSync(process.execPath, scriptArgs("main.mjs"), { cwd: app, encoding: "utf8" });
  assert.match(out, /package works/);
  // The bin, as `npx fedikv` finds it in the installed package.
  const help = execFileSync("npx", ["--no-install", "fedikv", "--help"], { cwd: app, encoding: "utf8" });
  assert.match(help, /^Usage: fedikv <command>/);
  const listed = execFileSync("npx", ["--no-install", "fedikv", "ls", "sqlite:./app.db", "--json"], { cwd: app, encoding: "utf8" });
  // What main.mjs left in app.db: the cas wrote 1 without a TTL.
  assert.deepEqual(JSON.parse(listed), { key: ["_fedify", "check"], value: 1, ttlMs: null, expiresAt: null });
});
