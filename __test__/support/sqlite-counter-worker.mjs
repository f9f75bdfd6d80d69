// A child process of sqlite-processes.test.mjs: increments one counter in a
// shared SQLite file through get + cas, with several loops at once.
import { SqliteKvStore } from "../../index.js";

const [path, loops, increments] = process.argv.slice(2);
const kv = new SqliteKvStore(path);
let retries = 0;

async function loop() {
  for (let i = 0; i < Number(increments); i++) {
    for (;;) {
      const current = await kv.get(["counter"]);
      if (await kv.cas(["counter"], current, (current ?? 0) + 1)) break;
      retries++;
    }
  }
}

await Promise.all(Array.from({ length: Number(loops) }, loop));
await kv.close();
process.stdout.write(JSON.stringify({ retries }));
