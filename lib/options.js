"use strict";
// The checks of the stores' constructor arguments. Only the type (and the
// range) of an option the user gave is checked here; an option not given
// is passed on as `undefined`, and the addon applies its default, so each
// default is written once, in Rust.

const { describe, fedikvError } = require("./errors.js");

function optionsObject(options, className) {
  if (options === undefined || options === null) return {};
  if (typeof options !== "object") {
    throw fedikvError(
      "ERR_FEDIKV_INVALID_OPTION",
      `fedikv: the options of ${className} must be an object, not ${describe(options)}`,
    );
  }
  return options;
}

function stringOption(options, name, className) {
  const v = options[name];
  if (v === undefined || v === null) return undefined;
  if (typeof v !== "string") {
    throw fedikvError(
      "ERR_FEDIKV_INVALID_OPTION",
      `fedikv: ${className} option ${name} must be a string, not ${describe(v)}`,
    );
  }
  return v;
}

function booleanOption(options, name, className) {
  const v = options[name];
  if (v === undefined || v === null) return undefined;
  if (typeof v !== "boolean") {
    throw fedikvError(
      "ERR_FEDIKV_INVALID_OPTION",
      `fedikv: ${className} option ${name} must be a boolean, not ${describe(v)}`,
    );
  }
  return v;
}

function numberOption(options, name, className, { min = 0, integer = false } = {}) {
  const v = options[name];
  if (v === undefined || v === null) return undefined;
  if (typeof v !== "number" || !Number.isFinite(v) || v < min || (integer && !Number.isInteger(v))) {
    throw fedikvError(
      "ERR_FEDIKV_INVALID_OPTION",
      `fedikv: ${className} option ${name} must be a ${integer ? "whole " : ""}number of at least ${min}, not ${describe(v)}`,
    );
  }
  return v;
}

/** A PEM option (`tls.ca`, …): text, or its bytes (a Buffer from readFileSync). */
function pemOption(options, name, className) {
  const v = options[name];
  if (v === undefined || v === null) return undefined;
  if (typeof v === "string") return v;
  if (v instanceof Uint8Array) return Buffer.from(v.buffer, v.byteOffset, v.byteLength).toString("latin1");
  throw fedikvError(
    "ERR_FEDIKV_INVALID_OPTION",
    `fedikv: ${className} option tls.${name} must be PEM text (a string or Buffer), not ${describe(v)}`,
  );
}

function urlArgument(url, className) {
  if (typeof url !== "string" && !(url instanceof URL)) {
    throw fedikvError("ERR_FEDIKV_INVALID_OPTION", `fedikv: ${className} needs a connection URL, not ${describe(url)}`);
  }
  return String(url);
}

/** The options of the SQL server stores, as their native factories take them. */
function sqlServerOptions(opts, className) {
  return {
    tableName: stringOption(opts, "tableName", className),
    initialized: booleanOption(opts, "initialized", className),
    maxConnections: numberOption(opts, "maxConnections", className, { min: 1, integer: true }),
    connectTimeoutMs: numberOption(opts, "connectTimeout", className, { min: 1 }),
    responseTimeoutMs: numberOption(opts, "responseTimeout", className, { min: 0 }),
  };
}

module.exports = {
  optionsObject,
  stringOption,
  booleanOption,
  numberOption,
  pemOption,
  urlArgument,
  sqlServerOptions,
};
