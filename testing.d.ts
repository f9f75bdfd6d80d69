/**
 * fedikv/testing: the KvStore conformance kit.
 *
 * ```ts
 * import { testKvStore } from "fedikv/testing";
 * import { MyKvStore } from "./my-kv-store.ts";
 *
 * testKvStore(() => new MyKvStore(), { name: "MyKvStore" });
 * ```
 *
 * Run it with `node --test`. Every key a run writes lives under a fresh
 * prefix (`["fedikv-test", <uuid>, <n>]`) and is deleted after its test.
 * @module
 */

/** What a store under test can and cannot do. */
export interface TestKvStoreOptions {
  /** The suite's title. `"KvStore"` by default. */
  name?: string;
  /**
   * The shortest TTL the store honours, in milliseconds; tests that need a
   * shorter one are skipped with this reason. `0` by default.
   */
  minTtlMs?: number;
  /**
   * How late the store may expire an entry, in milliseconds. `0` by default:
   * an entry must be gone as soon as its TTL is over (the kit checks a few
   * hundred milliseconds after). With a grace, the tests of expiry ask the
   * store every 100 ms until the entry is gone, and fail only if it is still
   * there when the grace is over too; they take as long as the store does.
   */
  ttlGraceMs?: number;
  /**
   * The largest value the store holds, in bytes (in the store's own
   * measure; a string of that many ASCII characters is at least that
   * large in any encoding): the 1 MB test is skipped, a string 64
   * characters shorter must round-trip, and a larger value must be
   * rejected (by `set` and `cas`) with nothing written. With `errorCodes`,
   * the rejection must be a `TypeError` with the code
   * `ERR_FEDIKV_INVALID_VALUE` and a message naming the limit. Unlimited by
   * default.
   */
  maxValueBytes?: number;
  /**
   * The largest key the store holds, in bytes (in the store's own measure):
   * a key of the test's prefix (under 100 bytes) and one part of
   * `maxKeyBytes - 200` ASCII characters must round-trip, and a key with a
   * part longer than the limit, or whose parts add up to more, must be
   * rejected (by `set` and `cas`) with nothing written.
   * With `errorCodes`, the rejection must be a `TypeError` with the code
   * `ERR_FEDIKV_INVALID_KEY` and a message naming the limit. Unlimited by
   * default.
   */
  maxKeyBytes?: number;
  /**
   * Whether strings with a NUL character (U+0000) round-trip, in keys and
   * values. With `false`, they must be rejected with a `TypeError` and
   * nothing written. `true` by default.
   */
  nul?: boolean;
  /**
   * Whether errors must also carry fedikv's `code`s (`ERR_FEDIKV_INVALID_KEY`…).
   * `false` by default: only the error classes are checked.
   */
  errorCodes?: boolean;
  /**
   * Whether to close (`close()` or `[Symbol.asyncDispose]()`) the store
   * after each test. Turn it off when `open()` returns one shared store;
   * the tests of closing are then skipped. `true` by default.
   */
  closeAfterEach?: boolean;
}

/** The part of Fedify's `KvStore` the kit drives (`cas` is optional). */
export interface KvStoreLike {
  get(key: readonly string[]): Promise<unknown>;
  set(key: readonly string[], value: unknown, options?: { ttl?: unknown }): Promise<void>;
  delete(key: readonly string[]): Promise<void>;
  cas?(key: readonly string[], expected: unknown, value: unknown, options?: { ttl?: unknown }): Promise<boolean>;
  list(prefix?: readonly string[]): AsyncIterable<{ readonly key: readonly string[]; readonly value: unknown }>;
}

/**
 * Registers the KvStore conformance tests with `node:test`.
 * @param open Returns the store to test; called once per test.
 */
export declare function testKvStore(open: () => KvStoreLike | Promise<KvStoreLike>, options?: TestKvStoreOptions): void;

/** Every entry of an async iterable, in an array. */
export declare function collect<T>(iterable: AsyncIterable<T>): Promise<T[]>;

/** Key parts that are patterns, separators or escapes in some backend. */
export declare const ODD_PARTS: readonly string[];
