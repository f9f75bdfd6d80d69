//! The tests' stand-in for Cloudflare: a local Worker with real KV
//! bindings in miniflare, serving the REST API's KV endpoints and the
//! tests' own (`support/workers-kv/`, run by Node 24 from the project's
//! runtime cache, which `node scripts/runtimes.mjs` fills; `npm test` runs
//! it first). One per test binary, shared: each test takes a namespace of
//! its own. A test that counts requests starts one of its own.
//! Without Node 24 or miniflare a test skips, or fails under `CI=true`.

use super::WorkersKvConfig;
use crate::net::http::HttpsClient;
use crate::test_support::{skip, spawn};
use bytes::Bytes;
use http_body_util::{BodyExt, Full};
use serde_json::Value;
use std::io::{BufRead, BufReader};
use std::path::Path;
use std::process::{Child, ChildStdin, Command, Stdio};
use std::sync::{Mutex, OnceLock};
use std::time::Duration;

pub struct Emulator {
    child: Mutex<Child>,
    /// Held open: the emulator ends when it closes (when this process ends).
    _stdin: Mutex<ChildStdin>,
    url: String,
    api_url: String,
    account_id: String,
    api_token: String,
}

fn crate_dir() -> &'static Path {
    Path::new(env!("CARGO_MANIFEST_DIR"))
}

/// Node 24's binary, as `scripts/runtimes.mjs` installs and names it.
fn node24() -> Option<String> {
    let output = Command::new("node")
        .arg(crate_dir().join("scripts/runtimes.mjs"))
        .arg("node24")
        .stderr(Stdio::inherit())
        .output();
    let found = output
        .ok()
        .filter(|o| o.status.success())
        .and_then(|o| serde_json::from_slice::<Value>(&o.stdout).ok())
        .and_then(|v| v.get("node24").and_then(Value::as_str).map(str::to_owned));
    if found.is_none() {
        skip(
            "Node 24 is not installed for the Workers KV tests (node scripts/runtimes.mjs node24)",
        );
    }
    found
}

impl Emulator {
    /// The emulator every test of this binary shares; `None` to skip.
    pub fn shared() -> Option<&'static Emulator> {
        static SHARED: OnceLock<Option<Emulator>> = OnceLock::new();
        SHARED.get_or_init(Emulator::start).as_ref()
    }

    /// A new emulator of the caller's own.
    pub fn start() -> Option<Emulator> {
        let node = node24()?;
        let script = crate_dir().join("support/workers-kv/emulator.mjs");
        if !crate_dir().join("node_modules/miniflare").is_dir() {
            skip("miniflare is not installed (npm ci)");
            return None;
        }
        let mut command = Command::new(node);
        command
            .arg(script)
            .current_dir(crate_dir())
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::inherit());
        let mut child = spawn(command).expect("the Workers KV emulator starts");
        let stdin = child.stdin.take().expect("piped");
        let mut line = String::new();
        BufReader::new(child.stdout.take().expect("piped"))
            .read_line(&mut line)
            .expect("the emulator says where it is");
        let ready: Value = serde_json::from_str(&line)
            .unwrap_or_else(|_| panic!("the emulator did not start: {line:?}"));
        let field = |name: &str| {
            ready[name]
                .as_str()
                .unwrap_or_else(|| panic!("the emulator's {name} in {line:?}"))
                .to_owned()
        };
        Some(Emulator {
            url: field("url"),
            api_url: field("apiUrl"),
            account_id: field("accountId"),
            api_token: field("apiToken"),
            child: Mutex::new(child),
            _stdin: Mutex::new(stdin),
        })
    }

    /// A config for a namespace no one else uses.
    pub async fn config(&self) -> WorkersKvConfig {
        let namespace = self.post("/__test/namespaces", Value::Null).await;
        let id = namespace["id"].as_str().expect("a namespace id").to_owned();
        let mut config = WorkersKvConfig::new(self.account_id.clone(), id, self.api_token.clone());
        config.api_url = self.api_url.clone();
        config
    }

    /// A test endpoint's answer, as JSON.
    pub async fn post(&self, path: &str, body: Value) -> Value {
        self.request(http::Method::POST, path, Some(body)).await
    }

    pub async fn get(&self, path: &str) -> Value {
        self.request(http::Method::GET, path, None).await
    }

    pub async fn delete(&self, path: &str) -> Value {
        self.request(http::Method::DELETE, path, None).await
    }

    async fn request(&self, method: http::Method, path: &str, body: Option<Value>) -> Value {
        // A client per request: each test has a runtime of its own, and a
        // pooled connection would belong to a runtime that is gone.
        let client: HttpsClient = crate::net::http::client(Duration::from_secs(5)).unwrap();
        let body = body.map_or_else(Bytes::new, |b| Bytes::from(b.to_string()));
        let request = http::Request::builder()
            .method(method)
            .uri(format!("{}{path}", self.url))
            .header("content-type", "application/json")
            .body(Full::new(body))
            .unwrap();
        let response = client.request(request).await.expect("the emulator answers");
        let status = response.status();
        let body = response.into_body().collect().await.unwrap().to_bytes();
        assert!(status.is_success(), "{path}: {status} {body:?}");
        serde_json::from_slice(&body).unwrap_or(Value::Null)
    }
}

impl Drop for Emulator {
    fn drop(&mut self) {
        crate::test_support::kill(&mut self.child.lock().unwrap());
    }
}
