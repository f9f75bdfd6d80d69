"use strict";
// Platform names as the platform packages spell them (fedikv-linux-x64-gnu,
// fedikv-darwin-arm64, fedikv-win32-x64-msvc): this machine's, and those
// of package.json's napi.targets, the platforms with a prebuilt binary;
// and the JavaScript runtime's name.

const { readFileSync } = require("node:fs");
const { join } = require("node:path");

function isMusl() {
  if (process.platform !== "linux") return false;
  try {
    return readFileSync("/usr/bin/ldd", "latin1").includes("musl");
  } catch {
    const header = process.report?.getReport?.()?.header;
    return header ? !header.glibcVersionRuntime : false;
  }
}

/** This machine's platform (`linux-x64-gnu`), as the loader picks its package. */
function hostPlatform() {
  const { platform, arch } = process;
  if (platform === "linux") return `linux-${arch}-${isMusl() ? "musl" : "gnu"}`;
  if (platform === "win32") return `win32-${arch}-msvc`;
  return `${platform}-${arch}`;
}

/** The platform of a Rust target triple: x86_64-unknown-linux-gnu → linux-x64-gnu. */
function platformOf(triple) {
  const [arch, , os, abi] = triple.split("-");
  const node = { x86_64: "x64", aarch64: "arm64" }[arch] ?? arch;
  if (os === "linux") return `linux-${node}-${abi === "musl" ? "musl" : "gnu"}`;
  if (os === "windows") return `win32-${node}-msvc`;
  if (os === "darwin") return `darwin-${node}`;
  return triple;
}

/** The platforms that have a prebuilt binary (package.json's napi.targets). */
function prebuiltPlatforms() {
  const { napi } = JSON.parse(readFileSync(join(__dirname, "..", "package.json"), "utf8"));
  return napi.targets.map(platformOf);
}

/** The JavaScript runtime, as a user would name it. */
function runtimeName() {
  if (typeof globalThis.Deno !== "undefined") return `Deno ${globalThis.Deno.version?.deno ?? ""}`.trim();
  if (typeof globalThis.Bun !== "undefined") return `Bun ${globalThis.Bun.version ?? ""}`.trim();
  return `Node.js ${process.version}`;
}

module.exports = { hostPlatform, platformOf, prebuiltPlatforms, runtimeName };
