// A Fedify federation on a fedikv SqliteKvStore, the same file on Node.js,
// Deno and Bun (the README's per-runtime sections show it, and
// __test__/runtimes.test.mjs runs it as written on each):
//
//   node examples/federation.mjs
//   deno run --allow-read --allow-write --allow-env --allow-ffi examples/federation.mjs
//   bun examples/federation.mjs
//
// It answers a WebFinger request and an actor request through
// federation.fetch() (no server, no network), with Fedify's state in
// ./fedify-example.db, and prints what it found.
import { createFederation } from "@fedify/fedify";
import { Person } from "@fedify/fedify/vocab";
import { SqliteKvStore } from "fedikv";

// Deno, Bun and Node 26+ have Temporal built in; Node 22 and 24 take the
// polyfill (npm install @js-temporal/polyfill).
const Temporal = globalThis.Temporal ?? (await import("@js-temporal/polyfill")).Temporal;

const kv = new SqliteKvStore(process.env.FEDIFY_DB ?? "./fedify-example.db");
const federation = createFederation({ kv });

federation.setActorDispatcher("/users/{identifier}", (ctx, identifier) => {
  if (identifier !== "alice") return null;
  return new Person({
    id: ctx.getActorUri(identifier),
    preferredUsername: identifier,
    name: "Alice",
  });
});

const origin = "https://example.com";
const finger = await federation.fetch(new Request(`${origin}/.well-known/webfinger?resource=acct:alice@example.com`), {
  contextData: undefined,
});
const { links } = await finger.json();
const self = links.find((link) => link.rel === "self").href;
const actor = await federation.fetch(new Request(self, { headers: { Accept: "application/activity+json" } }), {
  contextData: undefined,
});
const person = await actor.json();

// Fedify's own use of the store, and ours: a set with a TTL, read back.
await kv.set(["example", "visits"], 1, { ttl: Temporal.Duration.from({ minutes: 5 }) });
console.log(`${person.preferredUsername} is ${self}; visits: ${await kv.get(["example", "visits"])}`);
await kv.close();
