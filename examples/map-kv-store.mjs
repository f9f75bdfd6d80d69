// A tiny hand-written KvStore: a Map with TTLs, no cas(). The README shows
// how fedikv/testing checks it (map-kv-store.test.mjs).
import { Temporal } from "@js-temporal/polyfill";

export class MapKvStore {
  #entries = new Map(); // JSON.stringify(key) → { value: JSON text, expires }

  #live(text) {
    const entry = this.#entries.get(text);
    if (entry?.expires != null && entry.expires <= Date.now()) {
      this.#entries.delete(text);
      return undefined;
    }
    return entry;
  }

  #check(key) {
    if (!Array.isArray(key) || key.length === 0 || key.some((part) => typeof part !== "string")) {
      throw new TypeError("a key must be a non-empty array of strings");
    }
    if (key.some((part) => !part.isWellFormed())) throw new TypeError("a key part has a lone surrogate");
    return JSON.stringify(key);
  }

  async get(key) {
    const entry = this.#live(this.#check(key));
    return entry === undefined ? undefined : JSON.parse(entry.value);
  }

  async set(key, value, options) {
    const text = this.#check(key);
    if (value === undefined) return void this.#entries.delete(text);
    const json = JSON.stringify(value);
    if (json === undefined) throw new TypeError("the value cannot be JSON");
    let expires = null;
    if (options?.ttl != null) {
      // relativeTo makes months and years count from now.
      const ms = options.ttl.total?.({ unit: "milliseconds", relativeTo: Temporal.Now.zonedDateTimeISO() });
      if (!(ms >= 0) || !Number.isFinite(ms)) throw new RangeError("a TTL must be a non-negative duration");
      expires = Date.now() + ms;
    }
    this.#entries.set(text, { value: json, expires });
  }

  async delete(key) {
    this.#entries.delete(this.#check(key));
  }

  async *list(prefix = []) {
    for (const text of [...this.#entries.keys()]) {
      const key = JSON.parse(text);
      const entry = this.#live(text);
      if (entry && prefix.every((part, i) => key[i] === part)) yield { key, value: JSON.parse(entry.value) };
    }
  }
}
