// Every fedikv store through the conformance kit, exactly as users get it
// (fedikv/testing), with fedikv's error codes checked too.
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { after } from "node:test";
import { MemoryKvStore, SqliteKvStore } from "fedikv";
import { testKvStore } from "fedikv/testing";

const dir = mkdtempSync(join(tmpdir(), "fedikv-test-"));
after(() => rmSync(dir, { recursive: true, force: true }));
let files = 0;

testKvStore(() => new MemoryKvStore(), { name: "MemoryKvStore", errorCodes: true });
testKvStore(() => new SqliteKvStore(), { name: "SqliteKvStore (:memory:)", errorCodes: true });
testKvStore(() => new SqliteKvStore(join(dir, `kv${files++}.db`)), {
  name: "SqliteKvStore (file)",
  errorCodes: true,
});
testKvStore(() => new SqliteKvStore(join(dir, "shared.db"), { tableName: `t${files++}` }), {
  name: "SqliteKvStore (file, custom table)",
  errorCodes: true,
});
