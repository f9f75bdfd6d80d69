//! Helpers for tests that need a server: where it is, and what to do when
//! it is not there (skip with a message by hand, fail under `CI=true`); and
//! for the tests that start servers of their own (`redis::test_servers`,
//! `denokv::test_server`): free ports, spawning children that die with the
//! test binary, waiting until one is ready, killing one by its PID.

use std::net::{TcpListener, TcpStream, ToSocketAddrs};
use std::os::unix::process::CommandExt;
use std::process::{Child, Command};
use std::sync::atomic::{AtomicU32, Ordering};
use std::sync::{mpsc, Mutex, OnceLock};
use std::time::{Duration, Instant};

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
    skip(&format!(
        "{host_port} (from {var}) is not reachable; set {var} to run this test"
    ));
    None
}

/// Says why the calling test skips; under `CI=true` panics instead, since
/// CI must never skip a server test.
pub fn skip(reason: &str) {
    if std::env::var("CI").as_deref() == Ok("true") {
        panic!("{reason}; CI needs it");
    }
    eprintln!("skipped: {reason}");
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

/// `n` loopback ports free right now (held together so they differ).
pub fn free_ports(n: usize) -> Vec<u16> {
    let listeners: Vec<TcpListener> = (0..n)
        .map(|_| TcpListener::bind("127.0.0.1:0").unwrap())
        .collect();
    listeners
        .iter()
        .map(|l| l.local_addr().unwrap().port())
        .collect()
}

/// A loopback port free right now.
pub fn free_port() -> u16 {
    free_ports(1)[0]
}

/// Polls `ready` until it says yes; panics, naming `what`, after `timeout`.
pub fn wait_until(what: &str, timeout: Duration, mut ready: impl FnMut() -> bool) {
    let deadline = Instant::now() + timeout;
    while !ready() {
        assert!(Instant::now() < deadline, "{what} did not start");
        std::thread::sleep(Duration::from_millis(20));
    }
}

/// Kills our own child by its PID (`SIGKILL`, as a crash would) and reaps it.
pub fn kill(child: &mut Child) {
    let _ = child.kill();
    let _ = child.wait();
}

type SpawnRequest = (Command, mpsc::Sender<std::io::Result<Child>>);

/// Spawns `command` from the long-lived spawner thread, so that the child
/// is killed when this process ends however it ends.
pub fn spawn(command: Command) -> std::io::Result<Child> {
    static SPAWNER: OnceLock<Mutex<mpsc::Sender<SpawnRequest>>> = OnceLock::new();
    let spawner = SPAWNER.get_or_init(|| {
        let (tx, rx) = mpsc::channel::<SpawnRequest>();
        std::thread::Builder::new()
            .name("fedikv-test-spawner".into())
            .spawn(move || {
                // The sender lives in a static, so this loop ends only with
                // the process, and with it every child.
                for (mut command, reply) in rx {
                    // SAFETY: prctl is async-signal-safe; nothing else runs
                    // between fork and exec.
                    unsafe {
                        command.pre_exec(|| {
                            if libc::prctl(libc::PR_SET_PDEATHSIG, libc::SIGKILL) != 0 {
                                return Err(std::io::Error::last_os_error());
                            }
                            Ok(())
                        });
                    }
                    let _ = reply.send(command.spawn());
                }
            })
            .unwrap();
        Mutex::new(tx)
    });
    let (reply, answer) = mpsc::channel();
    spawner
        .lock()
        .unwrap()
        .send((command, reply))
        .expect("the spawner thread lives as long as the process");
    answer.recv().expect("the spawner answers")
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
