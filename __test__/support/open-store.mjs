// Opens a fedikv store from a plain description, so that child processes
// can open the same store as the test that spawned them.
import * as fedikv from "fedikv";

// Every store class the package exports (DenoKvStore too, in builds that have it).
const CLASSES = Object.fromEntries(
  Object.entries(fedikv).filter(([name]) => name.endsWith("KvStore") && name !== "FedikvKvStore"),
);

/** `spec`: { kind: "SqliteKvStore", target: path or URL(s), options }. */
export function openStore({ kind, target, options }) {
  const Class = CLASSES[kind];
  if (Class === undefined) throw new TypeError(`no store class ${kind}`);
  return kind === "MemoryKvStore" ? new Class() : new Class(target, options);
}
