// cas stays atomic across processes sharing one SQLite file.
import assert from "node:assert/strict";
import { execFile } from "node:child_process";
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { after, test } from "node:test";
import { fileURLToPath } from "node:url";
import { promisify } from "node:util";
import { SqliteKvStore } from "../index.js";

const run = promisify(execFile);
const worker = fileURLToPath(new URL("./support/sqlite-counter-worker.mjs", import.meta.url));
const dir = mkdtempSync(join(tmpdir(), "fedikv-procs-"));
after(() => rmSync(dir, { recursive: true, force: true }));

test("4 processes × 5 loops × 25 increments on one file end at exactly 500", async () => {
  const path = join(dir, "counter.db");
  const kv = new SqliteKvStore(path);
  await kv.initialize();
  const children = Array.from({ length: 4 }, () =>
    run(process.execPath, [worker, path, "5", "25"], { timeout: 120_000 })
  );
  const outputs = await Promise.all(children);
  const retries = outputs.reduce((sum, { stdout }) => sum + JSON.parse(stdout).retries, 0);
  assert.equal(await kv.get(["counter"]), 500);
  // Contention is real: some cas calls lost and were retried.
  assert.ok(retries > 0, "the processes did race");
  await kv.close();
});
