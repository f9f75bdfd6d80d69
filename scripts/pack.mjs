#!/usr/bin/env node
// Packs fedikv as npm publishes it, in the napi-rs layout: the main package,
// whose optionalDependencies name every platform package of package.json's
// napi.targets, and a platform package (npm/<platform>/) for each addon
// built here (fedikv.<platform>.node beside binding.js).
//
//   node scripts/pack.mjs [--all] [outDir]
//     → prints { main, platforms: { <platform>: tarball } } as JSON
//
// Without --all it packs the platforms whose addon is built, and needs the
// host's; with --all (the release) every platform's addon must be there.
// The optional dependencies are added only in the staged copy, so `npm ci`
// in this repository never asks the registry for a platform package.
import { execFileSync } from "node:child_process";
import { cpSync, existsSync, mkdirSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { dirname, join, resolve } from "node:path";
import { createRequire } from "node:module";
import { fileURLToPath } from "node:url";

const root = resolve(dirname(fileURLToPath(import.meta.url)), "..");
const args = process.argv.slice(2);
const all = args.includes("--all");
const outDir = resolve(args.find((a) => !a.startsWith("--")) ?? join(root, ".tmp", "pack"));

const pkg = JSON.parse(readFileSync(join(root, "package.json"), "utf8"));
const { platformOf } = createRequire(import.meta.url)("../lib/platforms.js");
const targets = pkg.napi.targets.map(platformOf);
const binary = (platform) => `fedikv.${platform}.node`;
const built = targets.filter((platform) => existsSync(join(root, binary(platform))));
const host = targets.find((platform) => platform === "linux-x64-gnu");

const missing = all ? targets.filter((p) => !built.includes(p)) : built.includes(host) ? [] : [host];
if (missing.length > 0) {
  console.error(
    `scripts/pack.mjs: ${missing.map(binary).join(", ")} missing; build ${all ? "every platform (npm run build:all, or the release workflow)" : "first (npm run build)"}`,
  );
  process.exit(1);
}

const stage = join(outDir, "stage");
rmSync(stage, { recursive: true, force: true });
mkdirSync(stage, { recursive: true });

const platformPackage = (platform) => JSON.parse(readFileSync(join(root, "npm", platform, "package.json"), "utf8"));

const mainDir = join(stage, "fedikv");
mkdirSync(mainDir);
for (const file of [...pkg.files, "README.md"]) {
  if (existsSync(join(root, file))) cpSync(join(root, file), join(mainDir, file), { recursive: true });
}
const optionalDependencies = Object.fromEntries(
  targets.map((p) => [platformPackage(p).name, platformPackage(p).version]),
);
const published = { ...pkg, optionalDependencies };
delete published.devDependencies;
delete published.scripts;
delete published.allowScripts;
writeFileSync(join(mainDir, "package.json"), `${JSON.stringify(published, null, 2)}\n`);

const pack = (dir) =>
  join(
    outDir,
    JSON.parse(execFileSync("npm", ["pack", "--json", "--pack-destination", outDir], { cwd: dir }))[0].filename,
  );

const platforms = {};
for (const platform of built) {
  const platformDir = join(stage, platform);
  cpSync(join(root, "npm", platform), platformDir, { recursive: true });
  cpSync(join(root, binary(platform)), join(platformDir, binary(platform)));
  platforms[platform] = pack(platformDir);
}
console.log(JSON.stringify({ main: pack(mainDir), platforms }));
