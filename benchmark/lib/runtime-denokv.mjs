// Fedify's Deno KV store, for the benchmark's Deno side: the calls
// @fedify/denokv's DenoKvStore makes on a Deno.Kv, re-typed here because
// @fedify/denokv is published on JSR only and JSR is unreachable from where
// the benchmark runs (npm has no @fedify/denokv). Read against
// packages/denokv/src/mod.ts of fedify-dev/fedify; the same Deno.Kv calls in
// the same order: get, set with { expireIn } in milliseconds, delete, cas as
// a get, a deep comparison (es-toolkit's isEqual there; node:util's
// isDeepStrictEqual here, which Deno has too, so that the benchmark needs
// no package it does not declare) and an
// atomic().check(entry).set().commit() retried while another writer got in
// between, and list as a get of the prefix key itself followed by
// list({ prefix }) (Deno KV's prefix selector leaves the prefix key out).
import { isDeepStrictEqual } from "node:util";

/** Deno KV's expireIn for a Fedify TTL, or no options at all without one. */
function expiry(options) {
  return options?.ttl == null ? undefined : { expireIn: options.ttl.total("millisecond") };
}

export class FedifyDenoKvLayout {
  #kv;

  /** `kv`: an open Deno.Kv (Deno.openKv(path)); close() closes it. */
  constructor(kv) {
    this.#kv = kv;
  }

  async get(key) {
    const { value } = await this.#kv.get(key);
    // Deno KV has no "absent" apart from null; Fedify answers undefined.
    return value ?? undefined;
  }

  async set(key, value, options) {
    await this.#kv.set(key, value, expiry(options));
  }

  delete(key) {
    return this.#kv.delete(key);
  }

  async cas(key, expected, value, options) {
    for (;;) {
      const entry = await this.#kv.get(key);
      if (!isDeepStrictEqual(entry.value ?? undefined, expected)) return false;
      // The check is on the entry's versionstamp: a writer in between makes
      // the commit fail, and the comparison is made again on what it wrote.
      const { ok } = await this.#kv.atomic().check(entry).set(key, value, expiry(options)).commit();
      if (ok) return true;
    }
  }

  async *list(prefix) {
    if (prefix != null && prefix.length > 0) {
      const own = await this.#kv.get(prefix);
      if (own.value != null) yield { key: prefix, value: own.value };
    }
    for await (const entry of this.#kv.list({ prefix: prefix ?? [] })) {
      if (entry.value != null) yield { key: entry.key, value: entry.value };
    }
  }

  close() {
    this.#kv.close();
  }
}
