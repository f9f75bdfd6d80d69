// What the migration tests share: a store's worth of entries shaped like
// Fedify's (some with TTLs, one already expired), a snapshot of a store
// with each entry's expiry, and the comparison of two snapshots.
import assert from "node:assert/strict";
import { setTimeout as sleep } from "node:timers/promises";
import { listWithExpiry } from "fedikv";

/** [key, value, ttl in ms or null]: live after seeding. */
export const LIVE = [
  [["_fedify", "activityIdempotence", "https://a.example/activities/1"], true, 3_600_000],
  [
    ["_fedify", "remoteDocument", "https://b.example/users/alice"],
    { "@context": ["https://www.w3.org/ns/activitystreams"], id: "https://b.example/users/alice", n: [1, 2.5, null] },
    300_000,
  ],
  [
    ["_fedify", "publicKey", "https://c.example/users/bob#main-key"],
    { type: "CryptographicKey", pem: "-----BEGIN…" },
    null,
  ],
  [["app", "counter"], 42, null],
  [["app", "odd:part", "a_:b", "*?[%_\\"], 'ünïcode 😀 and "quotes"', 86_400_000],
  [["app", "nothing"], null, null],
];

/** An entry that expires before the migration starts. */
export const EXPIRED = [["app", "expired"], "gone", 100];

/** Seeds `store` with LIVE and EXPIRED, then waits until EXPIRED is gone. */
export async function seed(store) {
  for (const [key, value, ttl] of [...LIVE, EXPIRED]) {
    await store.set(key, value, ttl === null ? undefined : { ttl: { milliseconds: ttl } });
  }
  await sleep(300);
  assert.equal(await store.get(EXPIRED[0]), undefined);
}

/** key JSON → { value, expiresAt } of every live entry under `prefix`. */
export async function snapshot(store, prefix) {
  const entries = new Map();
  for await (const { key, value, expiresAt } of listWithExpiry(store, prefix)) {
    entries.set(JSON.stringify(key), { value, expiresAt });
  }
  return entries;
}

/** Same keys, equal values, expiry within `toleranceMs` (or both none). */
export function assertSameEntries(actual, expected, toleranceMs = 1000) {
  assert.deepEqual([...actual.keys()].sort(), [...expected.keys()].sort());
  for (const [key, want] of expected) {
    const got = actual.get(key);
    assert.deepEqual(got.value, want.value, `value of ${key}`);
    if (want.expiresAt === null) {
      assert.equal(got.expiresAt, null, `${key} has no TTL`);
    } else {
      assert.ok(
        Math.abs(got.expiresAt - want.expiresAt) <= toleranceMs,
        `${key} expires at ${got.expiresAt}, ${got.expiresAt - want.expiresAt} ms from ${want.expiresAt}`,
      );
    }
  }
}

/** What LIVE looks like as a snapshot, with expiries from `setAt`. */
export function expectedSnapshot(setAt, entries = LIVE) {
  return new Map(
    entries.map(([key, value, ttl]) => [JSON.stringify(key), { value, expiresAt: ttl === null ? null : setAt + ttl }]),
  );
}

/** `url` with `?name=value` (or `&name=value`) added. */
export function withParam(url, name, value) {
  return `${url}${url.includes("?") ? "&" : "?"}${name}=${encodeURIComponent(value)}`;
}
