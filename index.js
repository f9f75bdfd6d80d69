"use strict";
// The public API of fedikv (`require('fedikv')`): the store classes a Fedify
// app passes as `kv`, openKvStore, listWithExpiry and migrate. Only
// re-exports, so the package's surface is readable in one place; the code
// is in lib/, and storage, expiry, atomicity and every rule of the contract
// in the Rust core (src/), reached through the napi binding (binding.js,
// loaded by lib/native.js).
//
// One `exports.name =` a line: the form in which Node's and Deno's
// CommonJS analysis see each name, so that `import { SqliteKvStore } from
// "fedikv"` works in ES modules (an object spread is not seen).

const stores = require("./lib/stores.js");

exports.FedikvKvStore = stores.FedikvKvStore;
exports.MemoryKvStore = stores.MemoryKvStore;
exports.SqliteKvStore = stores.SqliteKvStore;
exports.RedisKvStore = stores.RedisKvStore;
exports.PostgresKvStore = stores.PostgresKvStore;
exports.MysqlKvStore = stores.MysqlKvStore;
exports.DenoKvStore = stores.DenoKvStore;
exports.WorkersKvStore = stores.WorkersKvStore;
exports.listWithExpiry = stores.listWithExpiry;
exports.openKvStore = require("./lib/open.js").openKvStore;
exports.migrate = require("./lib/migrate.js").migrate;
