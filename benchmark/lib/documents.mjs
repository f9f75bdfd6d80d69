// Values shaped like what Fedify stores: JSON-LD documents (actors, notes),
// `true` for idempotence records, small state objects.

/** A JSON-LD Note of about `bytes` bytes of JSON (default ~1.5 KB). */
export function note(i, bytes = 1500) {
  const base = {
    "@context": ["https://www.w3.org/ns/activitystreams", "https://w3id.org/security/v1"],
    id: `https://example.com/users/alice/statuses/${i}`,
    type: "Note",
    attributedTo: "https://example.com/users/alice",
    to: ["https://www.w3.org/ns/activitystreams#Public"],
    cc: ["https://example.com/users/alice/followers"],
    published: "2026-11-25T00:00:00Z",
    tag: [{ type: "Hashtag", href: "https://example.com/tags/fedify", name: "#fedify" }],
    content: "",
  };
  const padding = Math.max(0, bytes - JSON.stringify(base).length - 7);
  base.content = `<p>${"Hello, fediverse! ".repeat(Math.ceil(padding / 18)).slice(0, padding)}</p>`;
  return base;
}

/** A remote actor document of 1–20 KB, varying with `i`. */
export function remoteDocument(i) {
  return {
    contextUrl: null,
    documentUrl: `https://remote.example/users/${i}`,
    document: note(i, 1000 + ((i * 7919) % 19000)),
  };
}

/** A public key as Fedify caches it. */
export function publicKey(i) {
  return {
    "@context": "https://w3id.org/security/v1",
    id: `https://remote.example/users/${i}#main-key`,
    type: "CryptographicKey",
    owner: `https://remote.example/users/${i}`,
    publicKeyPem: `-----BEGIN PUBLIC KEY-----\n${"MIIBIjANBgkqhkiG9w0BAQEFAAOCAQ8AMIIBCgKCAQEA".repeat(9)}\n-----END PUBLIC KEY-----\n`,
  };
}
