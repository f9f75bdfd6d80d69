// Compiled by `tsc --noEmit` in `npm test`: the shipped index.d.ts must stay
// assignable to Fedify's own KvStore interface, and its methods must type-check
// the way a Fedify app calls them.
import type { KvStore } from "@fedify/fedify";
import { Temporal } from "@js-temporal/polyfill";
import {
  DenoKvStore,
  type FedikvErrorCode,
  listWithExpiry,
  MemoryKvStore,
  migrate,
  type MigrateResult,
  MysqlKvStore,
  openKvStore,
  PostgresKvStore,
  RedisKvStore,
  SqliteKvStore,
  WorkersKvStore,
} from "fedikv";

const stores: KvStore[] = [
  new MemoryKvStore(),
  new SqliteKvStore(),
  new SqliteKvStore("./fedify.db"),
  new SqliteKvStore(new URL("file:///tmp/fedify.db"), { tableName: "kv", initialized: true }),
  new RedisKvStore("redis://localhost:6379", { keyPrefix: "app::", connectTimeout: 1000 }),
  new RedisKvStore(["redis://10.0.0.1:7000", new URL("redis://10.0.0.2:7000")]),
  new PostgresKvStore("postgres://localhost/app", { tableName: "kv", unlogged: true, maxConnections: 4 }),
  new MysqlKvStore(new URL("mysql://localhost/app"), { tableName: "kv", initialized: true }),
  new DenoKvStore("./fedify.kv"),
  new DenoKvStore(new URL("file:///tmp/fedify.kv")),
  new DenoKvStore("https://api.deno.com/databases/x/connect", { accessToken: "token", connectTimeout: 2000 }),
  new WorkersKvStore({ accountId: "a", namespaceId: "n", apiToken: "t", responseTimeout: 5000, retries: 2 }),
  new WorkersKvStore({ namespaceId: "n" }),
  openKvStore(process.env.FEDIFY_KV_URL ?? "sqlite:./fedify.db"),
  openKvStore("postgres://localhost/app", { tableName: "kv", maxConnections: 4 }),
];

// The extras beside KvStore: a listing with expiry, and migrate.
export async function move(): Promise<MigrateResult> {
  const from = new MemoryKvStore();
  for await (const { key, value, expiresAt } of listWithExpiry(from, ["_fedify"])) {
    const at: number | null = expiresAt;
    void [key, value, at];
  }
  return await migrate(from, openKvStore("sqlite:./x.db"), {
    prefix: ["_fedify"],
    merge: true,
    batchSize: 100,
    onProgress: ({ done, total }) => void [done, total],
  });
}

export async function use(kv: KvStore & { close(): Promise<void> }): Promise<number | undefined> {
  await kv.set(["a", "b"], { x: 1 }, { ttl: Temporal.Duration.from({ minutes: 5 }) });
  const ok: boolean | undefined = await kv.cas?.(["a"], undefined, 1);
  for await (const { key, value } of kv.list(["a"])) {
    const first: string = key[0];
    void first;
    void value;
  }
  await kv.close();
  return ok ? await kv.get<number>(["a"]) : undefined;
}

const sqlite = new SqliteKvStore();
export const dropped: Promise<void> = sqlite.drop();
export const denoDropped: Promise<void> = new DenoKvStore("./fedify.kv").drop();
export const grace: number = DenoKvStore.kvConnectExpiryGraceMs;
// A store with cas types it as there; Workers KV's may be absent.
export const swapped: Promise<boolean> = sqlite.cas(["a"], undefined, 1);
const workers = new WorkersKvStore({ namespaceId: "n" });
export const workersCas: undefined | ((...args: never[]) => unknown) = workers.cas;
export const namespaceId: string = workers.namespaceId;
export const checked: Promise<void> = workers.initialize();
export const code: FedikvErrorCode = "ERR_FEDIKV_CLOSED";
void stores;

// The kit accepts fedikv's stores, Fedify's, and anything shaped like a KvStore.
import { MemoryKvStore as FedifyMemoryKvStore } from "@fedify/fedify";
import { collect, testKvStore } from "fedikv/testing";
testKvStore(() => new MemoryKvStore(), { name: "memory", errorCodes: true, minTtlMs: 0 });
testKvStore(async () => new FedifyMemoryKvStore(), { closeAfterEach: false });
export const entries: Promise<{ readonly key: readonly string[]; readonly value: unknown }[]> = collect(
  new MemoryKvStore().list(),
);
