"use strict";
// The native addon, loaded by napi-rs's generated loader (binding.js), with
// an error that says what went wrong when it cannot be loaded: which
// runtime, which platform, each file tried and why it failed (a missing
// symbol, a missing package), and what to do. The generated message blames
// an npm bug whatever the cause; this one never does.

const { hostPlatform, prebuiltPlatforms, runtimeName } = require("./platforms.js");

/** The messages of an error and of every error in its `cause` chain. */
function causes(error) {
  const out = [];
  for (let e = error; e != null && out.length < 20; e = e.cause) {
    out.push(e instanceof Error ? e.message : String(e));
  }
  return out;
}

/** Deno's permission errors name the flag that is missing. */
const DENO_PERMISSION = /Requires \w+ access|NotCapable/;

function loadError(error) {
  const platform = hostPlatform();
  const prebuilt = prebuiltPlatforms();
  // The generated loader chains what each candidate file threw as `cause`;
  // what it threw itself (a permission it lacked) has none.
  const chain = error?.cause === undefined ? [error] : error.cause;
  const tried = causes(chain)
    .reverse()
    .map((message) => message.split("\n")[0]);
  const deno =
    typeof globalThis.Deno !== "undefined" && tried.some((message) => DENO_PERMISSION.test(message))
      ? ["On Deno, fedikv needs --allow-read, --allow-env and --allow-ffi."]
      : [];
  const lines = prebuilt.includes(platform)
    ? [
        `fedikv: the native addon could not be loaded on ${runtimeName()} (${platform}).`,
        "What was tried, and why it failed:",
        ...tried.map((message) => `  - ${message}`),
        ...deno,
        `Reinstalling fedikv brings the platform package fedikv-${platform} back if it is missing; ` +
          "a missing symbol means this runtime lacks a function the addon needs: please report it with this message.",
      ]
    : [
        `fedikv: no prebuilt binary for ${platform} (running ${runtimeName()}).`,
        `Prebuilt binaries: ${prebuilt.join(", ")}.`,
        "To build one from source: clone fedikv, run `npm ci && npm run build` with a Rust toolchain (rustup.rs), " +
          "and set NAPI_RS_NATIVE_LIBRARY_PATH to the .node file it makes.",
        ...(tried.length > 0 ? ["What was tried:", ...tried.map((message) => `  - ${message}`)] : []),
      ];
  const failure = new Error(lines.join("\n"));
  failure.code = "ERR_FEDIKV_LOAD";
  failure.cause = error;
  return failure;
}

let binding;
try {
  binding = require("../binding.js");
} catch (error) {
  throw loadError(error);
}

module.exports = { native: binding };
