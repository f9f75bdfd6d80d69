#![deny(clippy::all)]
//! fedikv: key–value stores for Fedify, as a Node.js addon.
//!
//! The shape: [`backend::KvBackend`] is the one trait, the storage
//! contract; each backend is a module that implements it ([`memory`],
//! [`sqlite`], `redis`, `postgres`, `mysql`, `denokv`, `workerskv`); [`store::Store`]
//! adds what every store shares; `exec` is how operations run (where
//! they are first polled, and the executor on Node's event loop for a
//! backend whose socket the JS thread drives); `binding` is the thin napi
//! layer that JavaScript sees. What several backends share without being
//! part of the contract is in `net` (the networked stores: secrets kept out
//! of messages, response timeouts, backoff) and `sql` (the SQL stores:
//! table names, and for the server ones the purge, TLS files and batching).

pub mod backend;
#[cfg(feature = "denokv")]
pub mod denokv;
pub mod error;
pub mod json;
pub mod key;
pub mod memory;
#[cfg(feature = "mysql")]
pub mod mysql;
#[cfg(any(
    feature = "redis",
    feature = "postgres",
    feature = "mysql",
    feature = "denokv",
    feature = "workerskv"
))]
mod net;
#[cfg(feature = "postgres")]
pub mod postgres;
#[cfg(feature = "redis")]
pub mod redis;
mod sql;
pub mod sqlite;
pub mod store;
pub mod ttl;
#[cfg(feature = "workerskv")]
pub mod workerskv;

// Test builds register no napi functions, so nothing calls the binding's
// exports there, nor the execution machinery only the binding reaches.
#[cfg_attr(test, allow(dead_code))]
mod binding;
#[cfg_attr(test, allow(dead_code))]
mod exec;
// Only the benchmark's own build has it (see Cargo.toml); only napi calls
// these, and test builds register no napi functions.
#[cfg(feature = "boundary_probe")]
#[cfg_attr(test, allow(dead_code))]
mod boundary_probe;

#[cfg(test)]
mod conformance;
#[cfg(test)]
mod test_support;
