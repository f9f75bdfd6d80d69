// A child process of the multi-process cas tests: increments one counter
// through get + cas, with several loops at once, on the store described by
// its first argument (JSON, see open-store.mjs).
import { openStore } from "./open-store.mjs";

const [spec, loops, increments] = process.argv.slice(2);
const kv = openStore(JSON.parse(spec));
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
