// How values cross between JavaScript and Rust, measured both ways on the
// benchmark's documents: JSON text made by V8 (`JSON.stringify` from a fresh
// realm, as index.js does, and `JSON.parse`) and passed as one string,
// against napi's own conversion of a JavaScript value into a
// `serde_json::Value` and back (src/boundary_probe.rs). Single-threaded, no
// store involved: the cost of the crossing alone.
import { createRequire } from "node:module";
import { runInNewContext } from "node:vm";
import { note, remoteDocument } from "./documents.mjs";

const binding = createRequire(import.meta.url)("../../binding.js");
const stringify = runInNewContext("JSON.stringify");

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
        text: rate(() => binding.probeTextIn(stringify(value)), ms),
        napi: rate(() => binding.probeNapiToJson(value), ms),
      },
      get: {
        text: rate(() => JSON.parse(binding.probeText(text)), ms),
        napi: rate(() => binding.probeJsonToNapi(text), ms),
      },
    };
  }
  return out;
}
