"use strict";
// migrate(): copies every live entry of one fedikv store into another, each
// with the time it has left, in batches. The `fedikv migrate` command is a
// thin shell around it; an app can call it too (it is the only way to move
// a MemoryKvStore, which lives in the app's process).

const { fedikvError } = require("./errors.js");
const { FedikvKvStore, listWithExpiry } = require("./stores.js");

const DEFAULT_BATCH_SIZE = 500;

/** JSON equality: member order does not matter, as in the stores' `cas`. */
function jsonEqual(a, b) {
  if (a === b) return true;
  if (typeof a !== "object" || typeof b !== "object" || a === null || b === null) return false;
  if (Array.isArray(a) !== Array.isArray(b)) return false;
  if (Array.isArray(a)) return a.length === b.length && a.every((v, i) => jsonEqual(v, b[i]));
  const keys = Object.keys(a);
  if (keys.length !== Object.keys(b).length) return false;
  return keys.every((k) => Object.hasOwn(b, k) && jsonEqual(a[k], b[k]));
}

/** Live entries of `store` under `prefix`. */
async function count(store, prefix) {
  let n = 0;
  for await (const _ of store.list(prefix)) n++;
  return n;
}

async function hasEntries(store, prefix) {
  for await (const _ of store.list(prefix)) return true;
  return false;
}

/**
 * Copies every live entry of `source` under `options.prefix` into `target`,
 * with its remaining TTL. See index.d.ts for the options and the result.
 */
async function migrate(source, target, options = {}) {
  for (const [name, store] of [
    ["source", source],
    ["target", target],
  ]) {
    if (!(store instanceof FedikvKvStore)) {
      throw fedikvError("ERR_FEDIKV_INVALID_OPTION", `fedikv: migrate: the ${name} must be a fedikv store`);
    }
  }
  if (source === target) {
    throw fedikvError("ERR_FEDIKV_INVALID_OPTION", "fedikv: migrate: the source and the target are the same store");
  }
  if (typeof options !== "object" || options === null) {
    throw fedikvError("ERR_FEDIKV_INVALID_OPTION", "fedikv: migrate: options must be an object");
  }
  const prefix = options.prefix ?? [];
  const merge = options.merge ?? false;
  const dryRun = options.dryRun ?? false;
  const batchSize = options.batchSize ?? DEFAULT_BATCH_SIZE;
  const { onProgress, signal } = options;
  if (typeof merge !== "boolean" || typeof dryRun !== "boolean") {
    throw fedikvError("ERR_FEDIKV_INVALID_OPTION", "fedikv: migrate: merge and dryRun must be booleans");
  }
  if (!Number.isInteger(batchSize) || batchSize < 1) {
    throw fedikvError(
      "ERR_FEDIKV_INVALID_OPTION",
      `fedikv: migrate: batchSize must be a whole number of at least 1, not ${batchSize}`,
    );
  }
  if (onProgress !== undefined && typeof onProgress !== "function") {
    throw fedikvError("ERR_FEDIKV_INVALID_OPTION", "fedikv: migrate: onProgress must be a function");
  }
  // Also checks the prefix (a TypeError before anything is read).
  const entries = listWithExpiry(source, prefix);

  const targetHadEntries = await hasEntries(target, prefix);
  if (targetHadEntries && !merge) {
    throw fedikvError(
      "ERR_FEDIKV_NOT_EMPTY",
      `fedikv: migrate: the target already holds entries${prefix.length > 0 ? ` under ${JSON.stringify(prefix)}` : ""}; ` +
        "to copy into it anyway (entries of the source replace those with the same key, others stay), use merge" +
        " (the command: --merge)",
    );
  }

  const started = Date.now();
  const result = {
    dryRun,
    total: onProgress === undefined ? null : await count(source, prefix),
    read: 0,
    copied: 0,
    withTtl: 0,
    unchanged: 0,
    expired: 0,
    sourceCount: 0,
    targetCount: 0,
    ok: true,
  };
  const progress = () =>
    onProgress?.({
      done: result.read,
      total: result.total,
      copied: result.copied,
      unchanged: result.unchanged,
      expired: result.expired,
      elapsedMs: Date.now() - started,
    });

  const flush = async (batch) => {
    // In a merge, what the target holds decides what to write: an equal
    // value without a TTL is left alone, so a second run writes nothing.
    // An equal value with a TTL is written again with the source's expiry
    // (a get cannot tell the target's), which leaves it as it was.
    const current = merge && targetHadEntries ? await Promise.all(batch.map((e) => target.get(e.key))) : null;
    const writes = [];
    batch.forEach((entry, i) => {
      const same = current !== null && current[i] !== undefined && jsonEqual(current[i], entry.value);
      if (same) result.unchanged++;
      if (same && entry.expiresAt === null) return;
      if (dryRun) {
        if (!same) {
          result.copied++;
          if (entry.expiresAt !== null) result.withTtl++;
        }
        return;
      }
      writes.push(async () => {
        let options;
        if (entry.expiresAt !== null) {
          const left = entry.expiresAt - Date.now();
          // Gone while the batch was on its way: not copied.
          if (left <= 0) {
            result.expired++;
            return;
          }
          options = { ttl: { milliseconds: left } };
        }
        await target.set(entry.key, entry.value, options);
        if (!same) {
          result.copied++;
          if (options !== undefined) result.withTtl++;
        }
      });
    });
    await Promise.all(writes.map((write) => write()));
  };

  let batch = [];
  for await (const entry of entries) {
    result.read++;
    batch.push(entry);
    if (batch.length >= batchSize) {
      await flush(batch);
      batch = [];
      progress();
      // A signal aborted with a null reason still stops, with Node's code for an abort.
      if (signal?.aborted)
        throw signal.reason ?? Object.assign(new Error("fedikv: migrate: aborted"), { code: "ABORT_ERR" });
    }
  }
  await flush(batch);
  progress();

  // The check: what is live in both now. Without merge the target held
  // nothing under the prefix, so the counts must agree; with it, the
  // target may hold more.
  result.sourceCount = await count(source, prefix);
  result.targetCount = await count(target, prefix);
  result.ok = dryRun || (merge ? result.targetCount >= result.sourceCount : result.targetCount === result.sourceCount);
  return result;
}

module.exports = { migrate };
