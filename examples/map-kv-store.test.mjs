// node --test examples/map-kv-store.test.mjs
import { testKvStore } from "fedikv/testing";
import { MapKvStore } from "./map-kv-store.mjs";

testKvStore(() => new MapKvStore(), { name: "MapKvStore" });
