//! Redis servers of the tests' own, never the machine's: a standalone server
//! that a test may stop and start again, and a Redis Cluster of 3 masters,
//! each on free loopback ports in a temp dir, nothing saved to disk.
//!
//! Every server is a child process, killed by its PID:
//! - a [`Server`] (or a [`Cluster`]'s) when it is dropped;
//! - the shared [`cluster`] when the test binary exits (`atexit`);
//! - any of them by the kernel if the test binary dies some other way: the
//!   children are spawned by a thread that lives as long as the process,
//!   with `PR_SET_PDEATHSIG` set to `SIGKILL` (the signal follows the
//!   spawning *thread*, which is why no test thread spawns them).

use std::io::{Read, Write};
use std::net::TcpStream;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::{Mutex, OnceLock};
use std::time::{Duration, Instant};

use crate::test_support::{free_port, free_ports, kill, skip, spawn, wait_until};

/// Whether `redis-server` can be run here; if not, the caller skips (or,
/// under `CI=true`, fails).
pub fn redis_server_available() -> bool {
    let ok = Command::new("redis-server")
        .arg("--version")
        .stdout(Stdio::null())
        .status()
        .is_ok_and(|s| s.success());
    if !ok {
        skip("redis-server is not installed");
    }
    ok
}

fn redis_server(port: u16, dir: &Path, extra: &[&str]) -> Command {
    let mut command = Command::new("redis-server");
    command
        .args(["--port", &port.to_string(), "--bind", "127.0.0.1"])
        .args(["--save", "", "--appendonly", "no", "--daemonize", "no"])
        .arg("--dir")
        .arg(dir)
        .args(extra)
        .stdout(Stdio::null())
        .stderr(Stdio::null());
    command
}

/// Whether the server on `port` answers `PING`.
fn answers_ping(port: u16) -> bool {
    let pong = TcpStream::connect(("127.0.0.1", port)).and_then(|mut s| {
        s.set_read_timeout(Some(Duration::from_secs(1)))?;
        s.write_all(b"PING\r\n")?;
        let mut buf = [0u8; 64];
        let n = s.read(&mut buf)?;
        Ok(buf[..n].starts_with(b"+PONG") || buf[..n].starts_with(b"-NOAUTH"))
    });
    pong.unwrap_or(false)
}

/// A standalone server of one test; killed when dropped.
pub struct Server {
    pub port: u16,
    dir: tempfile::TempDir,
    extra: Vec<String>,
    child: Option<Child>,
}

impl Server {
    /// Starts `redis-server` on a free port with `extra` options.
    pub fn start(extra: &[&str]) -> Server {
        Server::start_on(free_port(), extra)
    }

    fn start_on(port: u16, extra: &[&str]) -> Server {
        let mut server = Server {
            port,
            dir: tempfile::tempdir().unwrap(),
            extra: extra.iter().map(|s| s.to_string()).collect(),
            child: None,
        };
        server.resume();
        server
    }

    pub fn url(&self) -> String {
        format!("redis://127.0.0.1:{}", self.port)
    }

    /// Kills the server (`SIGKILL`, as a crash would).
    pub fn stop(&mut self) {
        if let Some(mut child) = self.child.take() {
            kill(&mut child);
        }
    }

    /// Freezes the server (`SIGSTOP`): connections stay, nothing answers.
    pub fn pause(&self) {
        self.signal(libc::SIGSTOP);
    }

    /// Lets a paused server go on (`SIGCONT`).
    pub fn unpause(&self) {
        self.signal(libc::SIGCONT);
    }

    fn signal(&self, signal: libc::c_int) {
        if let Some(child) = &self.child {
            // SAFETY: a plain system call on our own child's PID.
            unsafe { libc::kill(child.id() as libc::pid_t, signal) };
        }
    }

    /// Starts it again on the same port.
    pub fn resume(&mut self) {
        let extra: Vec<&str> = self.extra.iter().map(String::as_str).collect();
        let child = spawn(redis_server(self.port, self.dir.path(), &extra)).unwrap();
        self.child = Some(child);
        let port = self.port;
        wait_until(
            &format!("redis-server on port {port}"),
            Duration::from_secs(10),
            || answers_ping(port),
        );
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        self.stop();
    }
}

/// A Redis Cluster of 3 masters and no replicas, each node a [`Server`]
/// (killed when the cluster is dropped).
pub struct Cluster {
    pub nodes: Vec<Server>,
}

impl Cluster {
    pub fn start() -> Cluster {
        let ports = free_ports(6);
        let nodes: Vec<Server> = ports[..3]
            .iter()
            .zip(&ports[3..])
            .map(|(&port, bus)| {
                Server::start_on(
                    port,
                    &[
                        "--cluster-enabled",
                        "yes",
                        "--cluster-config-file",
                        "nodes.conf",
                        "--cluster-port",
                        &bus.to_string(),
                        "--cluster-node-timeout",
                        "2000",
                    ],
                )
            })
            .collect();
        let addresses: Vec<String> = nodes
            .iter()
            .map(|n| format!("127.0.0.1:{}", n.port))
            .collect();
        let created = Command::new("redis-cli")
            .arg("--cluster")
            .arg("create")
            .args(&addresses)
            .arg("--cluster-yes")
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .status()
            .unwrap();
        assert!(created.success(), "redis-cli --cluster create failed");
        let cluster = Cluster { nodes };
        cluster.wait_until_ready();
        cluster
    }

    pub fn urls(&self) -> Vec<String> {
        self.nodes.iter().map(Server::url).collect()
    }

    /// Kills every node.
    pub fn stop(&mut self) {
        self.nodes.iter_mut().for_each(Server::stop);
    }

    /// Starts every node again; they find each other from `nodes.conf`.
    pub fn resume(&mut self) {
        self.nodes.iter_mut().for_each(Server::resume);
        self.wait_until_ready();
    }

    /// Waits until every node says the cluster is ok and knows all masters.
    fn wait_until_ready(&self) {
        let deadline = Instant::now() + Duration::from_secs(30);
        for node in &self.nodes {
            loop {
                let info = redis_cli(node.port, &["CLUSTER", "INFO"]);
                let slots = redis_cli(node.port, &["CLUSTER", "SLOTS"]);
                let known = self
                    .nodes
                    .iter()
                    .filter(|n| slots.lines().any(|l| l.trim() == n.port.to_string()))
                    .count();
                if info.contains("cluster_state:ok") && known == self.nodes.len() {
                    break;
                }
                assert!(
                    Instant::now() < deadline,
                    "the test cluster did not become ready"
                );
                std::thread::sleep(Duration::from_millis(100));
            }
        }
    }
}

/// What the shared cluster leaves for `atexit`: its PIDs and directories.
static AT_EXIT: Mutex<(Vec<u32>, Vec<PathBuf>)> = Mutex::new((Vec::new(), Vec::new()));

extern "C" fn stop_shared_cluster() {
    if let Ok(left) = AT_EXIT.lock() {
        for &pid in &left.0 {
            // SAFETY: plain kill(2) on a PID this process spawned (the
            // children themselves are in a static, never dropped).
            unsafe {
                libc::kill(pid as libc::pid_t, libc::SIGKILL);
            }
        }
        for dir in &left.1 {
            let _ = std::fs::remove_dir_all(dir);
        }
    }
}

/// The Cluster that the cluster tests of this binary share, started on
/// first use and stopped when the binary exits; `None` (a skip) when
/// `redis-server` is missing. Statics are never dropped, hence `atexit`.
pub fn cluster() -> Option<&'static Cluster> {
    static CLUSTER: OnceLock<Option<Cluster>> = OnceLock::new();
    CLUSTER
        .get_or_init(|| {
            if !redis_server_available() {
                return None;
            }
            let cluster = Cluster::start();
            let mut left = AT_EXIT.lock().unwrap();
            for node in &cluster.nodes {
                left.0.extend(node.child.as_ref().map(Child::id));
                left.1.push(node.dir.path().to_owned());
            }
            // SAFETY: registers a plain function, once.
            unsafe {
                libc::atexit(stop_shared_cluster);
            }
            Some(cluster)
        })
        .as_ref()
}

fn redis_cli(port: u16, args: &[&str]) -> String {
    let output = Command::new("redis-cli")
        .args(["-p", &port.to_string()])
        .args(args)
        .output()
        .unwrap();
    String::from_utf8_lossy(&output.stdout).into_owned()
}
