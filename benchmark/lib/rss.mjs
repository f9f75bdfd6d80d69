// Peak memory of the in-process stores: 1,000,000 entries shaped like
// Fedify's idempotence records, then a `list` over all of them. Each store
// runs in a child process of its own (`node rss.mjs <store>`), so that one
// store's heap never counts against another's; the parent reads what the
// child reports.
import { execFileSync } from "node:child_process";
import { readFileSync } from "node:fs";
import { fileURLToPath } from "node:url";

const ENTRIES = 1_000_000;
const STORES = {
  fedikv: async () => new (await import("../../index.js")).MemoryKvStore(),
  fedify: async () => new (await import("@fedify/fedify")).MemoryKvStore(),
};

/** Peak RSS so far (VmHWM) and the current RSS, in MiB. */
function memory() {
  const status = readFileSync("/proc/self/status", "utf8");
  const field = (name) => Number(status.match(new RegExp(`^${name}:\\s+(\\d+) kB`, "m"))[1]) / 1024;
  return { peak: field("VmHWM"), now: field("VmRSS") };
}

/** Resets the kernel's peak-RSS mark, so the next peak is the list's own. */
function resetPeak() {
  try {
    execFileSync("sh", ["-c", `echo 5 > /proc/${process.pid}/clear_refs`]);
    return true;
  } catch {
    return false;
  }
}

async function child(storeName) {
  const { Temporal } = await import("@js-temporal/polyfill");
  const ttl = Temporal.Duration.from({ days: 1 });
  global.gc();
  const baseline = memory().now;
  const kv = await STORES[storeName]();
  const started = performance.now();
  let batch = [];
  for (let i = 0; i < ENTRIES; i++) {
    const key = ["_fedify", "activityIdempotence", `https://remote.example/activities/${i}`];
    batch.push(kv.set(key, true, { ttl }));
    if (batch.length === 1000) {
      await Promise.all(batch);
      batch = [];
    }
  }
  await Promise.all(batch);
  const fillSeconds = (performance.now() - started) / 1000;
  global.gc();
  const filled = memory();
  const peakReset = resetPeak();
  const listStarted = performance.now();
  let listed = 0;
  for await (const _ of kv.list(["_fedify"])) listed++;
  const listSeconds = (performance.now() - listStarted) / 1000;
  const afterList = memory();
  if (listed !== ENTRIES) throw new Error(`listed ${listed} of ${ENTRIES}`);
  process.stdout.write(
    JSON.stringify({
      entries: ENTRIES,
      baselineMiB: baseline,
      filledMiB: filled.now - baseline,
      fillPeakMiB: filled.peak - baseline,
      // Growth of the peak while listing, over the filled store's RSS.
      listGrowthMiB: peakReset ? afterList.peak - filled.now : null,
      fillSeconds,
      listSeconds,
    }),
  );
}

/** Runs each store's measurement in its own process; `{ fedikv, fedify }`. */
export function measureRss() {
  const out = {};
  for (const store of Object.keys(STORES)) {
    const text = execFileSync(process.execPath, ["--expose-gc", fileURLToPath(import.meta.url), store], {
      encoding: "utf8",
      maxBuffer: 1 << 20,
    });
    out[store] = JSON.parse(text);
  }
  return out;
}

if (process.argv[1] === fileURLToPath(import.meta.url)) await child(process.argv[2]);
