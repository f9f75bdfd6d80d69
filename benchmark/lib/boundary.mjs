// How values cross between JavaScript and Rust, measured both ways on the
// benchmark's documents: JSON text made by V8 (`JSON.stringify` from a fresh
// realm, as index.js does, and `JSON.parse`) and passed as one string,
// against napi's own conversion of a JavaScript value into a
// `serde_json::Value` and back (src/boundary_probe.rs). Single-threaded, no
// store involved: the cost of the crossing alone.
//
// The probe functions are only in an addon of the benchmark's own, built
// with the `boundary_probe` feature into .tmp/boundary-probe/ by
// `npm run build:boundary-probe` (`npm run bench` runs it): the package's
// addon and its committed binding.js leave them out.
import { existsSync } from "node:fs";
import { createRequire } from "node:module";
import { fileURLToPath } from "node:url";
import { runInNewContext } from "node:vm";
import { note, remoteDocument } from "./documents.mjs";

const PROBE_ADDON = fileURLToPath(new URL("../../.tmp/boundary-probe/fedikv.node", import.meta.url));
const stringify = runInNewContext("JSON.stringify");

/** The probe functions, from the benchmark's own addon. */
export function loadProbes() {
  if (!existsSync(PROBE_ADDON)) {
    throw new Error(
      `${PROBE_ADDON} is missing: run \`npm run build:boundary-probe\` (\`npm run bench\` does) to build it`,
    );
  }
  return createRequire(import.meta.url)(PROBE_ADDON);
}

/** Calls per second of `fn` over about `ms` milliseconds. */
function rate(fn, ms) {
  let n = 0;
  const started = performance.now();
  let elapsed = 0;
  while (elapsed < ms) {
    for (let i = 0; i < 200; i++) fn();
    n += 200;
    elapsed = performance.now() - started;
  }
  return n / (elapsed / 1000);
}

/** `{ [document]: { set: { text, napi }, get: { text, napi } } }` in calls/s. */
export function measureBoundary(ms = 1000) {
  const probes = loadProbes();
  const documents = {
    "1.5 KB note": JSON.parse(JSON.stringify(note(0))),
    "idempotence record (true)": true,
    "remote document cache entry": JSON.parse(JSON.stringify(remoteDocument(3))),
  };
  const out = {};
  for (const [name, value] of Object.entries(documents)) {
    const text = stringify(value);
    out[name] = {
      bytes: text.length,
      set: {
        text: rate(() => probes.probeTextIn(stringify(value)), ms),
        napi: rate(() => probes.probeNapiToJson(value), ms),
      },
      get: {
        text: rate(() => JSON.parse(probes.probeText(text)), ms),
        napi: rate(() => probes.probeJsonToNapi(text), ms),
      },
    };
  }
  return out;
}
