"use strict";
// fedikv's errors, made the way the addon makes its own: the class and the
// `code` of each kind come from the addon (errorCodes()), so an error
// raised in JavaScript and one raised in Rust cannot disagree.

const { native } = require("./native.js");

const CLASSES = { Error, TypeError, RangeError };

/** Each `ERR_FEDIKV_*` code's error class, as the addon lists them. */
const ERROR_CLASSES = new Map(native.errorCodes().map(({ code, className }) => [code, CLASSES[className]]));

function fedikvError(code, message) {
  const ErrorClass = ERROR_CLASSES.get(code);
  if (ErrorClass === undefined) {
    throw new Error(
      `fedikv: bug: fedikvError called with ${JSON.stringify(code)}, which is not one of the addon's error codes`,
    );
  }
  const error = new ErrorClass(message);
  error.code = code;
  return error;
}

/** A short description of a bad value, for messages. */
function describe(value) {
  if (value === null) return "null";
  if (Array.isArray(value)) return "an array";
  if (typeof value === "string") return `the string ${JSON.stringify(value.slice(0, 40))}`;
  return `a ${typeof value}`;
}

module.exports = { fedikvError, describe };
