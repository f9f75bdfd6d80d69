// A guided tour: two Fedify servers on loopback, each keeping its state in a
// fedikv SqliteKvStore file, talk ActivityPub to each other; then we look at
// what Fedify stored. Run with `npm run demo` (or `node demo/main.mjs`).

import { execFileSync } from "node:child_process";
import fs from "node:fs";
import path from "node:path";
import { fileURLToPath } from "node:url";
import { listWithExpiry, SqliteKvStore } from "../index.js";
import { startApp } from "./app.mjs";

const dataDir = path.join(path.dirname(fileURLToPath(import.meta.url)), "data");
const fedikvBin = fileURLToPath(new URL("../bin/fedikv.mjs", import.meta.url));
const step = (text) => console.log(`\n▶ ${text}`);
const info = (text) => console.log(`  ${text}`);

// Nothing here should take long; never hang.
setTimeout(() => {
  console.error("The demo took too long; giving up.");
  process.exit(1);
}, 60_000).unref();

/** A store on a fresh file: old runs are deleted so the demo is repeatable. */
function freshStore(name) {
  fs.mkdirSync(dataDir, { recursive: true });
  const file = path.join(dataDir, `${name}.db`);
  for (const suffix of ["", "-wal", "-shm"]) fs.rmSync(file + suffix, { force: true });
  return new SqliteKvStore(file);
}

/** Origins and UUIDs make keys long; this shortens them for display. */
function shorten(text, servers) {
  for (const [label, server] of Object.entries(servers)) text = text.replaceAll(server.origin, `<${label}>`);
  return text.replace(/([0-9a-f]{8})-[0-9a-f-]{27}/g, "$1…");
}

const clip = (text, width) => (text.length > width ? `${text.slice(0, width - 1)}…` : text);

/** Each entry's expiry (epoch ms, or null for none), by key JSON. */
async function expiries(store) {
  const at = new Map();
  for await (const { key, expiresAt } of listWithExpiry(store)) at.set(JSON.stringify(key), expiresAt);
  return at;
}

function describeTtl(expires) {
  if (expires === undefined) return "?";
  if (expires === null) return "none";
  const minutes = Math.round((expires - Date.now()) / 60_000);
  return minutes >= 120 ? `${Math.round(minutes / 60)} h` : `${minutes} min`;
}

async function printStore(label, store, servers) {
  const ttl = await expiries(store);
  const rows = [];
  for await (const { key, value } of store.list()) {
    rows.push([
      clip(shorten(JSON.stringify(key), servers), 72),
      clip(shorten(JSON.stringify(value), servers), 32),
      describeTtl(ttl?.get(JSON.stringify(key))),
    ]);
  }
  info(`Server ${label}: ${path.relative(process.cwd(), store.path)}, ${rows.length} entries`);
  const widths = [0, 1, 2].map((i) => Math.max(["key", "value", "ttl"][i].length, ...rows.map((r) => r[i].length)));
  const line = (cells) => `  │ ${cells.map((c, i) => c.padEnd(widths[i])).join(" │ ")} │`;
  console.log(`  ┌${widths.map((w) => "─".repeat(w + 2)).join("┬")}┐`);
  console.log(line(["key", "value", "ttl"]));
  console.log(`  ├${widths.map((w) => "─".repeat(w + 2)).join("┼")}┤`);
  for (const row of rows) console.log(line(row));
  console.log(`  └${widths.map((w) => "─".repeat(w + 2)).join("┴")}┘`);
}

async function main() {
  console.log("fedikv demo: two Fedify servers, each on its own SqliteKvStore");

  step("Starting two Fedify servers on loopback HTTP");
  const kvA = freshStore("a");
  const kvB = freshStore("b");
  const a = await startApp({ kv: kvA, actors: ["alice"] });
  const b = await startApp({ kv: kvB, actors: ["bob"] });
  const servers = { A: a, B: b };
  info(`A: ${a.origin}  actor alice, store ${path.relative(process.cwd(), kvA.path)}`);
  info(`B: ${b.origin}  actor bob,   store ${path.relative(process.cwd(), kvB.path)}`);
  info(
    "(createFederation({ kv: new SqliteKvStore(file), allowPrivateAddress: true }) — no queue, so deliveries are immediate)",
  );

  try {
    step(`WebFinger: who is bob@${new URL(b.origin).host}?`);
    const handle = `acct:bob@${new URL(b.origin).host}`;
    const jrd = await (await fetch(`${b.origin}/.well-known/webfinger?resource=${handle}`)).json();
    const bobUrl = jrd.links.find((link) => link.rel === "self").href;
    info(`GET /.well-known/webfinger?resource=${handle} → ${bobUrl}`);

    step("A fetches Bob's actor document (Fedify caches it in A's store)");
    const bob = await a.lookupActor(bobUrl);
    const keys = [];
    for await (const key of bob.getAssertionMethods()) keys.push(key.publicKey.algorithm.name);
    info(`${bob.constructor.name} "${bob.name}", inbox ${bob.inboxId.href}`);
    info(`public keys: ${keys.join(", ")}`);

    step("alice@A follows bob@B");
    const follow = await a.follow("alice", bobUrl);
    info(`Follow ${shorten(follow.id.href, servers)} delivered: signed by alice, verified by B`);
    info("(B fetched alice's public key from A over HTTP and checked the signatures)");
    for (const [label, server] of Object.entries(servers)) {
      for (const r of server.received)
        info(`${label}'s inbox got: ${r.type} from ${shorten(r.actor, servers)} to ${r.recipient}`);
    }
    info("(B's Follow listener answered with a signed Accept, delivered the same way)");

    step("The same Follow, delivered a second time");
    const before = b.received.length;
    await a.send("alice", bob, follow);
    info(`B accepted the request (2xx), but its inbox listener ran ${b.received.length - before} more times:`);
    info("Fedify found the activity's idempotence record in B's store and skipped it.");

    step('What Fedify stored (listWithExpiry(store); app\'s own entries are under ["app", …])');
    await printStore("A", kvA, servers);
    await printStore("B", kvB, servers);
    info("_fedify/activityIdempotence: activities already processed (kept 1 day)");
    info("_fedify/publicKey: remote actors' public keys, fetched to verify signatures");
    info("_fedify/remoteDocument: cached remote JSON-LD documents (5 minutes)");
    info("_fedify/httpMessageSignaturesSpec: which signature spec each server accepted");
  } finally {
    step("Closing the servers and the stores");
    await a.close();
    await b.close();
    await kvA.close();
    await kvB.close();
  }

  const file = path.relative(process.cwd(), kvB.path);
  for (const args of [
    ["stats", file],
    ["ls", file, "_fedify", "activityIdempotence"],
  ]) {
    step(`The same store through the fedikv command: npx fedikv ${args.join(" ")}`);
    const output = execFileSync(process.execPath, [fedikvBin, ...args], { encoding: "utf8" });
    for (const line of output.trimEnd().split("\n")) info(shorten(line, servers));
  }
  info(`Next: npx fedikv migrate ${file} postgres://… (README: "Outgrowing SQLite")`);
  info("Done.");
}

main().catch((error) => {
  console.error(error);
  process.exitCode = 1;
});
