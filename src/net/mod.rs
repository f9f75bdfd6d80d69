//! Helpers shared by the stores that talk to a server over the network
//! ([`crate::redis`], [`crate::postgres`], [`crate::mysql`], KV Connect in
//! [`crate::denokv`], Cloudflare's REST API in [`crate::workerskv`]): what each needs alike, kept in one place so that a
//! fix reaches all.

#[cfg(any(feature = "denokv", feature = "workerskv"))]
pub(crate) mod http;
pub(crate) mod redact;
#[cfg(any(feature = "redis", feature = "postgres", feature = "mysql"))]
pub(crate) mod response_timeout;
#[cfg(any(feature = "redis", feature = "mysql", feature = "denokv"))]
pub(crate) mod retry;
