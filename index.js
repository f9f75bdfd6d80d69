'use strict'
// The public API of fedikv (`require('fedikv')`): the store classes a Fedify
// app passes as `kv`, openKvStore, listWithExpiry and migrate. Only
// re-exports, so the package's surface is readable in one place; the code
// is in lib/, and storage, expiry, atomicity and every rule of the contract
// in the Rust core (src/), reached through the napi binding (binding.js,
// loaded by lib/native.js).

const {
  FedikvKvStore,
  MemoryKvStore,
  SqliteKvStore,
  RedisKvStore,
  PostgresKvStore,
  MysqlKvStore,
  DenoKvStore,
  listWithExpiry,
} = require('./lib/stores.js')
const { openKvStore } = require('./lib/open.js')
const { migrate } = require('./lib/migrate.js')

module.exports = {
  FedikvKvStore,
  MemoryKvStore,
  SqliteKvStore,
  RedisKvStore,
  PostgresKvStore,
  MysqlKvStore,
  DenoKvStore,
  openKvStore,
  listWithExpiry,
  migrate,
}
