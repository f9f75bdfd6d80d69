//! `denokv` servers of the tests' own: each on a free loopback port with its
//! own SQLite file in a temp dir, a child process killed by its PID when
//! dropped, or by the kernel when the test binary dies (the children are
//! spawned by a thread that lives as long as the process, with
//! `PR_SET_PDEATHSIG`).
//!
//! The binary is `$DENOKV_BIN` if set; else the cache that
//! `scripts/denokv.mjs` installs it into (`npm test` runs it first):
//! `~/.cache/fedikv/denokv-0.14.0/bin/denokv` (`$XDG_CACHE_HOME` for
//! `~/.cache` when set); else `denokv` on the `PATH` or in `~/.cargo/bin`.
//! Without it a test skips, or fails under `CI=true`.

use std::net::TcpStream;
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::time::Duration;

use crate::test_support::{free_port, kill, skip, spawn, wait_until};

pub const ACCESS_TOKEN: &str = "fedikv-test-access-token";

/// The version the tests are written against, and the cache's folder name.
const DENOKV_VERSION: &str = "0.14.0";

/// Where `scripts/denokv.mjs` installs the binary.
fn cached_binary() -> Option<PathBuf> {
    let cache = std::env::var_os("XDG_CACHE_HOME")
        .filter(|dir| !dir.is_empty())
        .map(PathBuf::from)
        .or_else(|| std::env::var_os("HOME").map(|home| PathBuf::from(home).join(".cache")))?;
    Some(cache.join(format!("fedikv/denokv-{DENOKV_VERSION}/bin/denokv")))
}

/// The `denokv` binary, or `None` after saying why (a panic under CI).
pub fn denokv_binary() -> Option<PathBuf> {
    let candidates: Vec<PathBuf> = match std::env::var_os("DENOKV_BIN").filter(|p| !p.is_empty()) {
        Some(path) => vec![PathBuf::from(path)],
        None => cached_binary()
            .into_iter()
            .chain(std::env::var_os("PATH").into_iter().flat_map(|path| {
                std::env::split_paths(&path)
                    .map(|dir| dir.join("denokv"))
                    .collect::<Vec<_>>()
            }))
            .chain(
                std::env::var_os("HOME").map(|home| PathBuf::from(home).join(".cargo/bin/denokv")),
            )
            .collect(),
    };
    let found = candidates.into_iter().find(|p| p.is_file());
    if found.is_none() {
        skip(
            "the denokv binary is not installed (node scripts/denokv.mjs installs \
              denokv 0.14.0 into ~/.cache/fedikv; or set DENOKV_BIN)",
        );
    }
    found
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
        wait_until(
            &format!("denokv on port {port}"),
            Duration::from_secs(20),
            || TcpStream::connect(("127.0.0.1", port)).is_ok(),
        );
        Some(server)
    }

    pub fn url(&self) -> String {
        format!("http://127.0.0.1:{}", self.port)
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        kill(&mut self.child);
    }
}
