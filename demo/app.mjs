// A small Fedify app on a fedikv store, used by the demo (demo/main.mjs) and
// by the end-to-end test (__test__/fedify.test.mjs).
//
// Each app is one ActivityPub server with a few Person actors. It answers
// WebFinger and actor requests, accepts Follow (replying with a signed
// Accept), Accept and Create activities in its inboxes, and can send signed
// activities to actors on other servers. Everything Fedify caches or
// remembers (remote documents, public keys, processed activity ids…) goes to
// the fedikv store passed as `kv`.
//
// Fedify 2.x brings its own Temporal (it imports @js-temporal/polyfill), so
// nothing has to be installed on globalThis on Node 20.

import http from "node:http";

// @fedify/fedify; FEDIKV_FEDIFY names another copy of it for the test on
// the oldest Fedify 2.x that fedikv supports (scripts/test-js.mjs).
const fedifyPackage = process.env.FEDIKV_FEDIFY ?? "@fedify/fedify";
const { createFederation, generateCryptoKeyPair } = await import(fedifyPackage);
const { Accept, Create, Endpoints, Follow, Person, isActor } = await import(`${fedifyPackage}/vocab`);

/**
 * Creates a Fedify app.
 *
 * @param {object} options
 * @param {import("../index.js").FedikvKvStore} options.kv where Fedify keeps
 *   its state (and where this app records followers).
 * @param {string} options.origin the server's origin, e.g.
 *   `http://127.0.0.1:8080` (see {@link startApp} for a server on a free port).
 * @param {string[]} [options.actors] the identifiers of the local actors.
 */
export function createApp({ kv, origin, actors = ["alice", "bob"] }) {
  const federation = createFederation({
    kv,
    origin,
    // Fedify refuses to fetch documents (actors, keys, WebFinger) from
    // loopback and other private addresses unless this is on; plain http: is
    // fine. Tests and demos only. It does not weaken verification: signatures
    // are still checked against the key fetched from the other server.
    allowPrivateAddress: true,
    // No `queue`: activities are delivered and processed immediately, inside
    // sendActivity() and the inbox request, so a delivery is finished (or has
    // failed with an error) when sendActivity() resolves.
  });

  /** What the inbox listeners saw, oldest first: { type, id, actor, recipient }. */
  const received = [];
  /** Key pairs per actor, generated on first use and kept in memory. */
  const keyPairs = new Map();

  federation
    .setActorDispatcher("/users/{identifier}", async (ctx, identifier) => {
      if (!actors.includes(identifier)) return null;
      const keys = await ctx.getActorKeyPairs(identifier);
      return new Person({
        id: ctx.getActorUri(identifier),
        preferredUsername: identifier,
        name: identifier[0].toUpperCase() + identifier.slice(1),
        inbox: ctx.getInboxUri(identifier),
        endpoints: new Endpoints({ sharedInbox: ctx.getInboxUri() }),
        // The RSA key signs HTTP requests and Linked Data Signatures; the
        // Ed25519 key (a Multikey) signs Object Integrity Proofs.
        publicKey: keys[0].cryptographicKey,
        assertionMethods: keys.map((key) => key.multikey),
      });
    })
    .setKeyPairsDispatcher((_ctx, identifier) => {
      if (!actors.includes(identifier)) return [];
      if (!keyPairs.has(identifier)) {
        keyPairs.set(
          identifier,
          Promise.all([generateCryptoKeyPair("RSASSA-PKCS1-v1_5"), generateCryptoKeyPair("Ed25519")]),
        );
      }
      return keyPairs.get(identifier);
    });

  const record = (ctx, activity) =>
    received.push({
      type: activity.constructor.name,
      id: activity.id?.href,
      actor: activity.actorId?.href,
      recipient: ctx.recipient,
    });

  federation
    .setInboxListeners("/users/{identifier}/inbox", "/inbox")
    .on(Follow, async (ctx, follow) => {
      record(ctx, follow);
      const target = ctx.parseUri(follow.objectId);
      if (target?.type !== "actor" || follow.actorId == null) return;
      // The app's own data can live in the same store, beside Fedify's keys.
      await kv.set(["app", "followers", target.identifier, follow.actorId.href], {
        follow: follow.id?.href,
        since: new Date().toISOString(),
      });
      // Fetches the follower's actor document (through Fedify's cache in kv)
      // and answers with a signed Accept to its inbox.
      const follower = await follow.getActor(ctx);
      if (follower == null) return;
      await ctx.sendActivity(
        { identifier: target.identifier },
        follower,
        new Accept({
          id: new URL(`#accepts/${crypto.randomUUID()}`, ctx.getActorUri(target.identifier)),
          actor: ctx.getActorUri(target.identifier),
          object: follow,
        }),
      );
    })
    .on(Accept, async (ctx, accept) => {
      record(ctx, accept);
      if (ctx.recipient != null && accept.actorId != null) {
        await kv.set(["app", "following", ctx.recipient, accept.actorId.href], true);
      }
    })
    .on(Create, (ctx, create) => {
      record(ctx, create);
    });

  /** A Fedify context outside of any request, for sending and fetching. */
  const context = () => federation.createContext(new URL(origin), undefined);

  /** Fetches a remote actor (via Fedify's document loader and kv cache). */
  async function lookupActor(url) {
    const actor = await context().lookupObject(url);
    if (!isActor(actor)) throw new Error(`${url} is not an actor`);
    return actor;
  }

  /**
   * Sends `activity`, signed with the keys of the local actor `identifier`,
   * to the inbox of `recipient` (an actor object or its URL). Resolves when
   * the other server has answered 2xx; rejects otherwise.
   */
  async function send(identifier, recipient, activity) {
    const actor = recipient instanceof URL || typeof recipient === "string" ? await lookupActor(recipient) : recipient;
    await context().sendActivity({ identifier }, actor, activity);
    return activity;
  }

  /** Makes a Follow of `target` (a remote actor URL) by `identifier`; sends it. */
  async function follow(identifier, target) {
    const actorUri = context().getActorUri(identifier);
    const activity = new Follow({
      id: new URL(`#follows/${crypto.randomUUID()}`, actorUri),
      actor: actorUri,
      object: new URL(target),
    });
    return await send(identifier, target, activity);
  }

  return {
    federation,
    origin,
    kv,
    received,
    context,
    lookupActor,
    send,
    follow,
    /** Handles one HTTP request the Fetch API way. */
    handler: (request) => federation.fetch(request, { contextData: undefined }),
  };
}

/**
 * Serves `handler` (Request → Promise<Response>) with node:http on a free
 * loopback port. Resolves to `{ origin, close }`; `close()` stops the server
 * and drops its connections, so nothing keeps the process alive.
 */
export async function serve(handler) {
  let origin;
  const server = http.createServer(async (req, res) => {
    try {
      const chunks = [];
      for await (const chunk of req) chunks.push(chunk);
      const body = chunks.length > 0 ? Buffer.concat(chunks) : undefined;
      const headers = new Headers();
      for (const [name, value] of Object.entries(req.headers)) {
        if (Array.isArray(value)) {
          for (const v of value) headers.append(name, v);
        } else if (value != null) headers.set(name, value);
      }
      // The URL Fedify sees must be the one the client signed (HTTP
      // Signatures cover the request target and the Host header).
      const request = new Request(new URL(req.url, origin), {
        method: req.method,
        headers,
        body: req.method === "GET" || req.method === "HEAD" ? undefined : body,
      });
      const response = await handler(request);
      for (const [name, value] of response.headers) res.appendHeader(name, value);
      res.writeHead(response.status);
      res.end(Buffer.from(await response.arrayBuffer()));
    } catch (error) {
      console.error(error);
      if (!res.headersSent) res.writeHead(500, { "content-type": "text/plain" });
      res.end("Internal server error.");
    }
  });
  await new Promise((resolve, reject) => {
    server.once("error", reject);
    server.listen(0, "127.0.0.1", () => resolve(undefined));
  });
  const { port } = /** @type {import("node:net").AddressInfo} */ (server.address());
  origin = `http://127.0.0.1:${port}`;
  return {
    origin,
    close: () =>
      new Promise((resolve) => {
        server.close(() => resolve());
        server.closeAllConnections();
      }),
  };
}

/**
 * Starts an app on a free loopback port: `createApp()` with the server's
 * origin, plus `close()` to stop the server (the store is the caller's).
 */
export async function startApp({ kv, actors }) {
  let app;
  const server = await serve((request) => app.handler(request));
  app = createApp({ kv, origin: server.origin, actors });
  return { ...app, close: server.close };
}
