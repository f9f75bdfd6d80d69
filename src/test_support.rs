//! Helpers for tests that need a server: where it is, and what to do when
//! it is not there (skip with a message by hand, fail under `CI=true`).

use std::net::{TcpStream, ToSocketAddrs};
use std::sync::atomic::{AtomicU32, Ordering};
use std::time::Duration;

/// The URL in `var`, or `default`, if a TCP connection to its host and port
/// succeeds. Otherwise `None` after printing why (the caller skips), or a
/// panic when `CI=true`, since CI must never skip a server test.
pub fn server_url(var: &str, default: &str, default_port: u16) -> Option<String> {
    let url = std::env::var(var).unwrap_or_else(|_| default.to_owned());
    let host_port = host_port(&url, default_port);
    let reachable = host_port
        .to_socket_addrs()
        .ok()
        .and_then(|mut addrs| addrs.next())
        .is_some_and(|addr| TcpStream::connect_timeout(&addr, Duration::from_secs(2)).is_ok());
    if reachable {
        return Some(url);
    }
    let message = format!("{host_port} (from {var}) is not reachable");
    if std::env::var("CI").as_deref() == Ok("true") {
        panic!("{message}; CI needs this server");
    }
    eprintln!("skipped: {message}; set {var} to run this test");
    None
}

/// `host:port` of a `scheme://user:pass@host:port/path` URL.
fn host_port(url: &str, default_port: u16) -> String {
    let rest = url.split_once("://").map_or(url, |(_, rest)| rest);
    let authority = rest.split(['/', '?']).next().unwrap_or(rest);
    let host = authority
        .rsplit_once('@')
        .map_or(authority, |(_, host)| host);
    if host
        .rsplit_once(':')
        .is_some_and(|(_, port)| port.parse::<u16>().is_ok())
    {
        host.to_owned()
    } else {
        format!("{host}:{default_port}")
    }
}

/// A name no other test run uses: for tables and key prefixes.
pub fn unique_name(stem: &str) -> String {
    static COUNTER: AtomicU32 = AtomicU32::new(0);
    let n = COUNTER.fetch_add(1, Ordering::Relaxed);
    let nanos = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.subsec_nanos())
        .unwrap_or(0);
    format!("{stem}_{}_{nanos:x}_{n}", std::process::id())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn host_port_of_urls() {
        assert_eq!(host_port("redis://127.0.0.1:6379", 1), "127.0.0.1:6379");
        assert_eq!(host_port("postgres://u:p@db:5433/test", 5432), "db:5433");
        assert_eq!(
            host_port("mysql://root@localhost/test", 3306),
            "localhost:3306"
        );
        assert!(unique_name("t") != unique_name("t"));
    }
}
