// Every store through the one conformance suite.
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { after } from "node:test";
import { MemoryKvStore, SqliteKvStore } from "../index.js";
import { conformance } from "./conformance.mjs";

const dir = mkdtempSync(join(tmpdir(), "fedikv-test-"));
after(() => rmSync(dir, { recursive: true, force: true }));
let files = 0;

conformance("MemoryKvStore", () => new MemoryKvStore());
conformance("SqliteKvStore (:memory:)", () => new SqliteKvStore());
conformance("SqliteKvStore (file)", () => new SqliteKvStore(join(dir, `kv${files++}.db`)));
conformance(
  "SqliteKvStore (file, custom table)",
  () => new SqliteKvStore(join(dir, "shared.db"), { tableName: `t${files++}` }),
);
