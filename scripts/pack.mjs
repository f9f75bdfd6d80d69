#!/usr/bin/env node
// Packs fedikv as npm would publish it: the main package (with its
// per-platform package as an optional dependency, as napi-rs lays it out)
// and the linux-x64-gnu platform package holding the built addon.
//
//   node scripts/pack.mjs [outDir]   → prints the two tarball paths as JSON
//
// The platform dependency is added only in the staged copy, so `npm ci` in
// this repository never asks the registry for a platform package.
import { execFileSync } from "node:child_process";
import { cpSync, existsSync, mkdirSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { dirname, join, resolve } from "node:path";
import { fileURLToPath } from "node:url";

const root = resolve(dirname(fileURLToPath(import.meta.url)), "..");
const outDir = resolve(process.argv[2] ?? join(root, ".tmp", "pack"));
const platform = "linux-x64-gnu";
const binary = `fedikv.${platform}.node`;

if (!existsSync(join(root, binary))) {
  console.error(`scripts/pack.mjs: ${binary} is missing; run \`npm run build\` first`);
  process.exit(1);
}

const stage = join(outDir, "stage");
rmSync(stage, { recursive: true, force: true });
mkdirSync(stage, { recursive: true });

const pkg = JSON.parse(readFileSync(join(root, "package.json"), "utf8"));
const platformPkg = JSON.parse(readFileSync(join(root, "npm", platform, "package.json"), "utf8"));

const mainDir = join(stage, "fedikv");
mkdirSync(mainDir);
for (const file of [...pkg.files, "README.md"]) {
  if (existsSync(join(root, file))) cpSync(join(root, file), join(mainDir, file), { recursive: true });
}
const published = { ...pkg, optionalDependencies: { [platformPkg.name]: platformPkg.version } };
delete published.devDependencies;
delete published.scripts;
delete published.allowScripts;
writeFileSync(join(mainDir, "package.json"), JSON.stringify(published, null, 2) + "\n");

const platformDir = join(stage, platform);
cpSync(join(root, "npm", platform), platformDir, { recursive: true });
cpSync(join(root, binary), join(platformDir, binary));

const pack = (dir) =>
  join(outDir, JSON.parse(execFileSync("npm", ["pack", "--json", "--pack-destination", outDir], { cwd: dir }))[0].filename);
console.log(JSON.stringify({ main: pack(mainDir), platform: pack(platformDir) }));
