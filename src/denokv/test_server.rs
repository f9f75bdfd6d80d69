//! `denokv` servers of the tests' own: each on a free loopback port with its
//! own SQLite file in a temp dir, a child process killed by its PID when
//! dropped, or by the kernel when the test binary dies (the children are
//! spawned by a thread that lives as long as the process, with
//! `PR_SET_PDEATHSIG`).
//!
//! The binary is `$DENOKV_BIN`, else `denokv` on the `PATH`, else
//! `~/.cargo/bin/denokv` (`cargo install denokv --version 0.14.0 --locked`).
//! Without it a test skips, or fails under `CI=true`.

use std::net::TcpStream;
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use crate::test_support::{free_ports, spawn};

pub const ACCESS_TOKEN: &str = "fedikv-test-access-token";

/// The `denokv` binary, or `None` after saying why (a panic under CI).
pub fn denokv_binary() -> Option<PathBuf> {
    let candidates = std::env::var_os("DENOKV_BIN")
        .map(PathBuf::from)
        .into_iter()
        .chain(std::env::var_os("PATH").into_iter().flat_map(|path| {
            std::env::split_paths(&path)
                .map(|dir| dir.join("denokv"))
                .collect::<Vec<_>>()
        }))
        .chain(std::env::var_os("HOME").map(|home| PathBuf::from(home).join(".cargo/bin/denokv")));
    let found = candidates.into_iter().find(|p| p.is_file());
    if found.is_none() {
        let message = "the denokv binary is not installed (cargo install denokv --version 0.14.0 \
                       --locked, or set DENOKV_BIN)";
        if std::env::var("CI").as_deref() == Ok("true") {
            panic!("{message}; CI needs it");
        }
        eprintln!("skipped: {message}");
    }
    found
}

pub fn free_port() -> u16 {
    free_ports(1)[0]
}

/// A running `denokv serve`.
pub struct Server {
    child: Child,
    pub port: u16,
    _dir: tempfile::TempDir,
}

impl Server {
    /// Starts a server on `port` (a free one if `None`) and waits until it
    /// accepts connections. `None` if the binary is missing (skip).
    pub fn start(port: Option<u16>) -> Option<Server> {
        let binary = denokv_binary()?;
        let dir = tempfile::tempdir().unwrap();
        let port = port.unwrap_or_else(free_port);
        let mut command = Command::new(binary);
        command
            .arg("--sqlite-path")
            .arg(dir.path().join("kv.sqlite3"))
            .args(["serve", "--access-token", ACCESS_TOKEN])
            .args(["--addr", &format!("127.0.0.1:{port}")])
            .env_remove("DENO_KV_ACCESS_TOKEN")
            .stdout(Stdio::null())
            .stderr(Stdio::null());
        let child = spawn(command).expect("denokv starts");
        let server = Server {
            child,
            port,
            _dir: dir,
        };
        let deadline = Instant::now() + Duration::from_secs(20);
        while TcpStream::connect(("127.0.0.1", port)).is_err() {
            assert!(
                Instant::now() < deadline,
                "denokv on port {port} did not start"
            );
            std::thread::sleep(Duration::from_millis(20));
        }
        Some(server)
    }

    pub fn url(&self) -> String {
        format!("http://127.0.0.1:{}", self.port)
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        // Our own child, by its PID.
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}
