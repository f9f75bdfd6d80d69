"use strict";
// Keys, values and TTLs as the native side takes them: keys and values as
// JSON text made with V8's own JSON.stringify (so what `get` returns is
// exactly JSON.parse(JSON.stringify(value)), and keys are byte for byte what
// Fedify's SQL layouts store), TTLs as milliseconds.

const { runInNewContext } = require("node:vm");
const { describe, fedikvError } = require("./errors.js");

// Fedify depends on jsonld, whose bundle carries core-js; its
// es.json.stringify polyfill replaces the global JSON.stringify with a
// wrapper about 10 times slower on long strings (measured: 33,000 against
// 373,000 stringifies a second of a 1.4 KB note). A fresh realm still has
// V8's own JSON.stringify: the same builtin, the same output, and it works
// on this realm's objects. Errors it throws are rewrapped below as this
// realm's TypeError. JSON.parse stays this realm's, so parsed values have
// this realm's prototypes.
const stringify = runInNewContext("JSON.stringify");

function checkParts(key, what) {
  if (!Array.isArray(key)) {
    throw fedikvError("ERR_FEDIKV_INVALID_KEY", `fedikv: a ${what} must be an array of strings, not ${describe(key)}`);
  }
  for (let i = 0; i < key.length; i++) {
    const part = key[i];
    if (typeof part !== "string") {
      throw fedikvError(
        "ERR_FEDIKV_INVALID_KEY",
        `fedikv: part ${i} of the ${what} must be a string, not ${describe(part)}`,
      );
    }
    if (!part.isWellFormed()) {
      throw fedikvError(
        "ERR_FEDIKV_INVALID_KEY",
        `fedikv: part ${i} of the ${what} has a lone surrogate, which no store can hold`,
      );
    }
  }
}

/** The key as `JSON.stringify(key)`, after checking it is a KvKey. */
function encodeKey(key) {
  checkParts(key, "key");
  if (key.length === 0) {
    throw fedikvError("ERR_FEDIKV_INVALID_KEY", "fedikv: a key must have at least one part");
  }
  return stringify(key);
}

/** A `list()` prefix: like a key, but absent or empty means everything. */
function encodePrefix(prefix) {
  if (prefix === undefined || prefix === null) return null;
  checkParts(prefix, "prefix");
  return prefix.length === 0 ? null : stringify(prefix);
}

/** The value as JSON text; `undefined` stays `null` ("absent"). */
function encodeValue(value) {
  if (value === undefined) return null;
  let text;
  try {
    text = stringify(value);
  } catch (error) {
    throw fedikvError("ERR_FEDIKV_INVALID_VALUE", `fedikv: the value cannot be stored as JSON: ${error.message}`);
  }
  if (text === undefined) {
    throw fedikvError("ERR_FEDIKV_INVALID_VALUE", `fedikv: ${describe(value)} cannot be stored as JSON`);
  }
  return text;
}

function decodeValue(text, keyJson) {
  try {
    return JSON.parse(text);
  } catch (error) {
    throw fedikvError(
      "ERR_FEDIKV_INVALID_DATA",
      `fedikv: the value stored under ${keyJson} is not JSON: ${error.message}`,
    );
  }
}

const DURATION_FIELDS = [
  "years",
  "months",
  "weeks",
  "days",
  "hours",
  "minutes",
  "seconds",
  "milliseconds",
  "microseconds",
  "nanoseconds",
];
const MS = {
  weeks: 7 * 864e5,
  days: 864e5,
  hours: 36e5,
  minutes: 6e4,
  seconds: 1e3,
  milliseconds: 1,
  microseconds: 1e-3,
  nanoseconds: 1e-6,
};

/**
 * Milliseconds in a `Temporal.Duration` (native or polyfill; any object with
 * its fields). Years and months are measured from now, in UTC, with the day
 * constrained to the target month as Temporal does (Jan 31 + 1 month = the
 * last day of February); days are 24 hours.
 */
function durationToMs(ttl) {
  if (typeof ttl !== "object" || ttl === null) {
    throw fedikvError("ERR_FEDIKV_INVALID_TTL", `fedikv: ttl must be a Temporal.Duration, not ${describe(ttl)}`);
  }
  const f = {};
  for (const name of DURATION_FIELDS) {
    const v = ttl[name] ?? 0;
    if (typeof v !== "number" || !Number.isFinite(v)) {
      throw fedikvError(
        "ERR_FEDIKV_INVALID_TTL",
        `fedikv: ttl.${name} must be a finite number (is ttl a Temporal.Duration?)`,
      );
    }
    if (v < 0) throw fedikvError("ERR_FEDIKV_INVALID_TTL", "fedikv: ttl must not be negative");
    f[name] = v;
  }
  let ms = 0;
  if (f.years !== 0 || f.months !== 0) {
    const now = Date.now();
    const start = new Date(now);
    const month = new Date(Date.UTC(start.getUTCFullYear() + f.years, start.getUTCMonth() + f.months, 1));
    const lastDay = new Date(Date.UTC(month.getUTCFullYear(), month.getUTCMonth() + 1, 0)).getUTCDate();
    month.setUTCDate(Math.min(start.getUTCDate(), lastDay));
    month.setUTCHours(start.getUTCHours(), start.getUTCMinutes(), start.getUTCSeconds(), start.getUTCMilliseconds());
    ms = month.getTime() - now;
  }
  for (const name in MS) ms += f[name] * MS[name];
  if (!Number.isFinite(ms)) {
    throw fedikvError("ERR_FEDIKV_INVALID_TTL", "fedikv: ttl is too long");
  }
  return ms;
}

/** The TTL of `set`/`cas` options in milliseconds, or null for none. */
function ttlOf(options) {
  if (options === undefined || options === null) return null;
  if (typeof options !== "object") {
    throw fedikvError("ERR_FEDIKV_INVALID_OPTION", `fedikv: options must be an object, not ${describe(options)}`);
  }
  return options.ttl === undefined || options.ttl === null ? null : durationToMs(options.ttl);
}

module.exports = { stringify, encodeKey, encodePrefix, encodeValue, decodeValue, durationToMs, ttlOf };
