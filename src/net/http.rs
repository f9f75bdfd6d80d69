//! The HTTP client of the stores that speak HTTP (KV Connect in
//! [`crate::denokv`], Cloudflare's REST API in [`crate::workerskv`]):
//! hyper over HTTP/1.1 with keep-alive, rustls (ring, the Mozilla roots)
//! for `https://`, plain TCP for `http://` (a local server, the tests).

use bytes::Bytes;
use http_body_util::Full;
use hyper_util::client::legacy::connect::HttpConnector;
use hyper_util::client::legacy::Client;
use hyper_util::rt::TokioExecutor;
use std::sync::Arc;
use std::time::Duration;

/// A client for `http://` and `https://` URLs, whose request bodies are
/// whole in memory.
pub type HttpsClient = Client<hyper_rustls::HttpsConnector<HttpConnector>, Full<Bytes>>;

/// A client that gives up connecting after `connect_timeout`. Fails only
/// when TLS cannot be set up, with why.
pub fn client(connect_timeout: Duration) -> Result<HttpsClient, String> {
    let mut http = HttpConnector::new();
    http.enforce_http(false);
    http.set_connect_timeout(Some(connect_timeout));
    http.set_nodelay(true);
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let https = hyper_rustls::HttpsConnectorBuilder::new()
        .with_provider_and_webpki_roots(provider)
        .map_err(|e| format!("cannot set up TLS: {e}"))?
        .https_or_http()
        .enable_http1()
        .wrap_connector(http);
    Ok(Client::builder(TokioExecutor::new()).build(https))
}

/// The causes of an error, for messages (hyper's own says little):
/// `": cause: its cause…"`, or nothing when it has none.
pub fn source_chain(e: &dyn std::error::Error) -> String {
    let mut out = String::new();
    let mut source = e.source();
    while let Some(s) = source {
        out.push_str(": ");
        out.push_str(&s.to_string());
        source = s.source();
    }
    out
}
