#![deny(clippy::all)]
//! fedikv: key–value stores for Fedify, as a Node.js addon.
//!
//! The shape: [`backend::KvBackend`] is the one trait, the storage
//! contract; each backend is a module that implements it ([`memory`],
//! [`sqlite`], `redis`, `postgres`, `mysql`, `denokv`); [`store::Store`]
//! adds what every store shares; `exec` is how operations run (where
//! they are first polled, and the executor on Node's event loop for a
//! backend whose socket the JS thread drives); `binding` is the thin napi
//! layer that JavaScript sees.

pub mod backend;
// Only PostgreSQL batches its reads so far.
#[cfg(feature = "postgres")]
mod batch;
#[cfg(any(feature = "postgres", feature = "mysql"))]
mod certificate_files;
#[cfg(feature = "denokv")]
pub mod denokv;
pub mod error;
pub mod json;
pub mod key;
pub mod memory;
#[cfg(feature = "mysql")]
pub mod mysql;
#[cfg(feature = "postgres")]
pub mod postgres;
#[cfg(any(
    feature = "redis",
    feature = "postgres",
    feature = "mysql",
    feature = "denokv"
))]
mod redact;
#[cfg(feature = "redis")]
pub mod redis;
#[cfg(any(feature = "redis", feature = "postgres", feature = "mysql"))]
mod response_timeout;
#[cfg(any(feature = "redis", feature = "mysql", feature = "denokv"))]
mod retry;
#[cfg(any(feature = "postgres", feature = "mysql"))]
mod sql;
mod sql_names;
pub mod sqlite;
pub mod store;
pub mod ttl;

mod binding;
// Only the binding's calls reach it; test builds register no napi functions.
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
