// A child process of the fault tests: opens the store described by its
// first argument (JSON, see open-store.mjs), makes one write so that it is
// connected, prints "ready", and on the line "go" from its parent starts
// `count` operations and calls close() while they are in flight. It prints
// what became of each (JSON) and must then exit by itself: it never calls
// process.exit, so a handle left open by the store would keep it alive.
import { createInterface } from "node:readline";
import { openStore } from "./open-store.mjs";

const [spec, count = "100"] = process.argv.slice(2);
const unhandled = [];
process.on("unhandledRejection", (reason) => {
  unhandled.push(String(reason?.stack ?? reason));
  process.exitCode = 1;
});

const kv = openStore(JSON.parse(spec));
await kv.set(["inflight", "warm"], true);
process.stdout.write("ready\n");

const lines = createInterface({ input: process.stdin });
for await (const line of lines) {
  if (line === "go") break;
}
lines.close();

const started = performance.now();
const operations = [];
for (let i = 0; i < Number(count); i++) {
  const key = ["inflight", String(i)];
  operations.push({
    i,
    kind: i % 2 === 0 ? "set" : "get",
    promise: i % 2 === 0 ? kv.set(key, { i }) : kv.get(["inflight", "warm"]),
  });
}
const closing = kv.close();
const outcomes = await Promise.allSettled([...operations.map((o) => o.promise), closing]);
const elapsedMs = Math.round(performance.now() - started);
const close = outcomes.pop();
const report = {
  elapsedMs,
  operations: operations.length,
  settled: outcomes.length,
  fulfilled: outcomes.filter((o) => o.status === "fulfilled").length,
  codes: [...new Set(outcomes.filter((o) => o.status === "rejected").map((o) => o.reason?.code ?? String(o.reason)))],
  messages: [...new Set(outcomes.filter((o) => o.status === "rejected").map((o) => String(o.reason?.message)))].slice(
    0,
    3,
  ),
  // Writes that resolved: the parent checks that they are there.
  ackedSets: operations.filter((o, n) => o.kind === "set" && outcomes[n].status === "fulfilled").map((o) => o.i),
  closed: close.status,
  closeError: close.status === "rejected" ? String(close.reason) : null,
  unhandled,
};
process.stdout.write(`${JSON.stringify(report)}\n`);
