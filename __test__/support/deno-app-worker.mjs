// The child process of deno-app.mjs: a "Deno app" that does what its
// parent asks over IPC (advanced serialization, so Maps, Dates, BigInts and
// typed arrays cross as themselves). On Deno it is Deno's own KV,
// Deno.openKv() (deno-app.mjs starts it with --unstable-kv); elsewhere
// @deno/kv 0.14.0, Deno's client for Node.js, with the same API.
import { serve } from "./ipc-worker.mjs";
import { RUNTIME } from "./runtime.mjs";

const [target, options] = JSON.parse(process.argv[2]);
const { KvU64, openKv } =
  RUNTIME === "deno"
    ? {
        KvU64: Deno.KvU64,
        openKv(target, { accessToken } = {}) {
          // Deno.openKv takes a KV Connect server's token from the environment.
          if (accessToken !== undefined) Deno.env.set("DENO_KV_ACCESS_TOKEN", accessToken);
          return Deno.openKv(target);
        },
      }
    : await import("@deno/kv");
const kv = await openKv(target, options);

const ops = {
  async set(key, value, options) {
    return (await kv.set(key, value, options)).ok;
  },
  async setU64(key, n) {
    return (await kv.set(key, new KvU64(n))).ok;
  },
  async get(key) {
    const { value, versionstamp } = await kv.get(key);
    return { value, versionstamp };
  },
  async list(prefix) {
    const entries = [];
    for await (const { key, value } of kv.list({ prefix })) entries.push({ key, value });
    return entries;
  },
  async delete(key) {
    await kv.delete(key);
  },
  /** A write that happens only if `key` still has `versionstamp` (Deno's check). */
  async checkAndSet(key, versionstamp, value) {
    return (await kv.atomic().check({ key, versionstamp }).set(key, value).commit()).ok;
  },
  /**
   * `loops` concurrent loops of `times` get + checked increments of a
   * number. Resolves to how many commits failed with SQLITE_BUSY: Deno's
   * denokv_sqlite does not wait out a lock another process holds at the
   * moment its write starts ("database is locked"); nothing was written
   * then, so the loop tries again, as a Deno app sharing a file must.
   */
  async increment(key, loops, times) {
    let locked = 0;
    const loop = async () => {
      for (let i = 0; i < times; i++) {
        for (;;) {
          const entry = await kv.get(key);
          try {
            if (
              (
                await kv
                  .atomic()
                  .check(entry)
                  .set(key, entry.value + 1)
                  .commit()
              ).ok
            )
              break;
          } catch (error) {
            if (!/database is locked/.test(error?.message)) throw error;
            locked++;
          }
        }
      }
    };
    await Promise.all(Array.from({ length: loops }, loop));
    return locked;
  },
};

serve(ops, () => kv.close(), { KvU64 });
