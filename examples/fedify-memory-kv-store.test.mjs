// What the kit says about Fedify's own MemoryKvStore (@fedify/fedify 2.3.6):
// node --test examples/fedify-memory-kv-store.test.mjs
import { MemoryKvStore } from "@fedify/fedify";
import { testKvStore } from "fedikv/testing";

testKvStore(() => new MemoryKvStore(), { name: "@fedify/fedify MemoryKvStore" });
