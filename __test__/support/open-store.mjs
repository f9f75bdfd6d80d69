// Opens a fedikv store from a plain description, so that child processes
// can open the same store as the test that spawned them.
import { DenoKvStore, MemoryKvStore, MysqlKvStore, PostgresKvStore, RedisKvStore, SqliteKvStore } from "fedikv";

const CLASSES = { MemoryKvStore, SqliteKvStore, RedisKvStore, PostgresKvStore, MysqlKvStore, DenoKvStore };

/** `spec`: { kind: "SqliteKvStore", target: path or URL(s), options }. */
export function openStore({ kind, target, options }) {
  const Class = CLASSES[kind];
  if (Class === undefined) throw new TypeError(`no store class ${kind}`);
  return kind === "MemoryKvStore" ? new Class() : new Class(target, options);
}
