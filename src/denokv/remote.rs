//! A Deno KV database behind KV Connect (a self-hosted `denokv` server, or
//! Deno Deploy), through `denokv_remote`.
//!
//! `denokv_remote`'s client is not `Send` (its futures are built for Deno's
//! single-threaded runtime), so it lives on a thread of its own with a
//! single-threaded tokio runtime; calls reach it over a channel and each
//! runs there as a task, so calls still overlap. Its HTTP client is hyper
//! with rustls (ring, the Mozilla roots).
//!
//! The client retries failed HTTP calls forever, and fetches the database
//! metadata (the token exchange) in the background with a backoff of
//! several seconds. So every call here has a deadline (`connect_timeout`),
//! and a call that misses it (or finds the metadata exchange failed) drops
//! the client: the next call starts a fresh one, which exchanges metadata
//! at once, so the store recovers as soon as the server is back.
//!
//! KV Connect does not say when an entry expires: an expired entry stays
//! visible until the server's collector deletes it, which `denokv` does
//! lazily (see the module documentation of `super`).

use super::error::{remote_error, remote_timeout};
use super::{RangeEntry, Row};
use crate::error::{Error, ErrorKind, Result};
use crate::net::http::{source_chain, HttpsClient};
use bytes::Bytes;
use denokv_proto::{
    AtomicWrite, Consistency, Database, ReadRange, ReadRangeOutput, SnapshotReadOptions,
};
use denokv_remote::{MetadataEndpoint, Remote as KvConnect, RemotePermissions, RemoteResponse};
use http_body_util::{BodyExt, Full};
use std::future::Future;
use std::num::NonZeroU32;
use std::sync::{Mutex, MutexGuard};
use std::time::Duration;
use tokio::sync::{mpsc, oneshot};
use url::Url;

type Reply<T> = oneshot::Sender<Result<T>>;

/// The message of a call that missed its deadline on the client thread,
/// which [`Remote::call`] replaces with one naming the server.
const TIMED_OUT: &str = "Deno KV: no answer within the timeout";

/// What the client thread is asked to do.
enum Request {
    Read(Vec<ReadRange>, Reply<Vec<ReadRangeOutput>>),
    Write(AtomicWrite, Reply<bool>),
}

pub(super) struct Remote {
    url: Url,
    access_token: String,
    timeout: Duration,
    client: Mutex<Option<ClientThread>>,
}

/// The running client: where to send requests. Dropping it ends the thread.
struct ClientThread {
    requests: mpsc::UnboundedSender<Request>,
    id: u64,
}

fn lock<T>(mutex: &Mutex<T>) -> MutexGuard<'_, T> {
    mutex.lock().unwrap_or_else(|e| e.into_inner())
}

impl Remote {
    pub fn new(url: Url, access_token: String, timeout: Duration) -> Remote {
        Remote {
            url,
            access_token,
            timeout,
            client: Mutex::new(None),
        }
    }

    /// Where the store connects, for messages (no user info).
    fn endpoint(&self) -> String {
        let mut url = self.url.clone();
        let _ = url.set_username("");
        let _ = url.set_password(None);
        url.to_string()
    }

    /// The client thread's request channel, starting the thread if needed.
    fn client(&self) -> Result<(mpsc::UnboundedSender<Request>, u64)> {
        static NEXT_ID: std::sync::atomic::AtomicU64 = std::sync::atomic::AtomicU64::new(0);
        let mut client = lock(&self.client);
        if let Some(c) = client.as_ref().filter(|c| !c.requests.is_closed()) {
            return Ok((c.requests.clone(), c.id));
        }
        let (requests, inbox) = mpsc::unbounded_channel();
        let endpoint = MetadataEndpoint {
            url: self.url.clone(),
            access_token: self.access_token.clone(),
        };
        let timeout = self.timeout;
        std::thread::Builder::new()
            .name("fedikv-denokv".into())
            .spawn(move || client_thread(endpoint, timeout, inbox))
            .map_err(|e| {
                Error::new(
                    ErrorKind::Backend,
                    format!("Deno KV: cannot start a thread: {e}"),
                )
            })?;
        let id = NEXT_ID.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
        *client = Some(ClientThread {
            requests: requests.clone(),
            id,
        });
        Ok((requests, id))
    }

    /// Drops client `id` (if it is still the current one) so that the next
    /// call starts afresh.
    fn reset(&self, id: u64) {
        let mut client = lock(&self.client);
        if client.as_ref().is_some_and(|c| c.id == id) {
            *client = None;
        }
    }

    async fn call<T>(&self, request: impl FnOnce(Reply<T>) -> Request) -> Result<T> {
        let (requests, id) = self.client()?;
        let (reply, answer) = oneshot::channel();
        if requests.send(request(reply)).is_err() {
            self.reset(id);
            return Err(Error::new(
                ErrorKind::Connection,
                "Deno KV: the KV Connect client stopped; try again",
            ));
        }
        // The thread enforces the deadline; this one only guards against a
        // thread that stopped answering altogether.
        let answer = tokio::time::timeout(self.timeout + Duration::from_secs(1), answer).await;
        let result = match answer {
            Ok(Ok(Err(e))) if e.message == TIMED_OUT => {
                Err(remote_timeout(&self.endpoint(), self.timeout))
            }
            Ok(Ok(result)) => result,
            Ok(Err(_)) => Err(Error::new(
                ErrorKind::Connection,
                "Deno KV: the KV Connect client stopped during the call; try again",
            )),
            Err(_) => Err(remote_timeout(&self.endpoint(), self.timeout)),
        };
        if result
            .as_ref()
            .is_err_and(|e| e.kind == ErrorKind::Connection)
        {
            // Start afresh next time rather than wait out the old client's
            // backoff.
            self.reset(id);
        }
        result
    }

    async fn read(&self, ranges: Vec<ReadRange>) -> Result<Vec<ReadRangeOutput>> {
        self.call(|reply| Request::Read(ranges, reply)).await
    }

    pub async fn initialize(&self) -> Result<()> {
        // A read of nothing: the metadata exchange and one data path call.
        self.range(vec![0xFF], vec![0xFF, 0x00], 1)
            .await
            .map(|_| ())
    }

    pub async fn row(&self, key: Vec<u8>) -> Result<Option<Row>> {
        let mut end = key.clone();
        end.push(0x00);
        let entry = self
            .read(vec![range(key, end, 1)])
            .await?
            .into_iter()
            .next()
            .and_then(|r| r.entries.into_iter().next());
        Ok(entry.map(|e| Row {
            value: e.value,
            versionstamp: e.versionstamp,
            live: true,
        }))
    }

    pub async fn range(
        &self,
        start: Vec<u8>,
        end: Vec<u8>,
        limit: usize,
    ) -> Result<Vec<RangeEntry>> {
        let output = self.read(vec![range(start, end, limit)]).await?;
        Ok(output
            .into_iter()
            .flat_map(|r| r.entries)
            .map(|e| RangeEntry {
                key: e.key,
                value: e.value,
                // KV Connect's read answers carry no expiry.
                expires_at: None,
            })
            .collect())
    }

    pub async fn write(&self, write: AtomicWrite) -> Result<bool> {
        self.call(|reply| Request::Write(write, reply)).await
    }

    pub async fn close(&self) -> Result<()> {
        // Ends the thread: its runtime drops the client and any call left.
        lock(&self.client).take();
        Ok(())
    }
}

fn range(start: Vec<u8>, end: Vec<u8>, limit: usize) -> ReadRange {
    ReadRange {
        start,
        end,
        limit: NonZeroU32::new(limit.clamp(1, u32::MAX as usize) as u32).expect("at least 1"),
        reverse: false,
    }
}

/// The client thread: one `denokv_remote` client on a single-threaded
/// runtime, serving requests until the channel closes.
fn client_thread(
    endpoint: MetadataEndpoint,
    timeout: Duration,
    mut inbox: mpsc::UnboundedReceiver<Request>,
) {
    let runtime = match tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
    {
        Ok(runtime) => runtime,
        Err(e) => {
            fail_all(&mut inbox, &format!("cannot start a runtime: {e}"));
            return;
        }
    };
    let local = tokio::task::LocalSet::new();
    local.block_on(&runtime, async move {
        let transport = match HttpTransport::new(timeout) {
            Ok(transport) => transport,
            Err(e) => {
                fail_all(&mut inbox, &e);
                return;
            }
        };
        let db = KvConnect::new(transport, AllowAll, endpoint);
        while let Some(request) = inbox.recv().await {
            let db = db.clone();
            tokio::task::spawn_local(serve(db, request, timeout));
        }
    });
}

fn fail_all(inbox: &mut mpsc::UnboundedReceiver<Request>, why: &str) {
    inbox.close();
    let error = || Error::new(ErrorKind::Backend, format!("Deno KV: {why}"));
    while let Ok(request) = inbox.try_recv() {
        match request {
            Request::Read(_, reply) => drop(reply.send(Err(error()))),
            Request::Write(_, reply) => drop(reply.send(Err(error()))),
        }
    }
}

/// Runs one request within the deadline; gives up early if the caller has.
async fn serve(db: KvConnect<AllowAll, HttpTransport>, request: Request, timeout: Duration) {
    match request {
        Request::Read(ranges, mut reply) => {
            let options = SnapshotReadOptions {
                consistency: Consistency::Strong,
            };
            let result = tokio::select! {
                r = tokio::time::timeout(timeout, db.snapshot_read(ranges, options)) => r,
                () = reply.closed() => return,
            };
            let _ = reply.send(settle(result));
        }
        Request::Write(write, mut reply) => {
            let result = tokio::select! {
                r = tokio::time::timeout(timeout, db.atomic_write(write)) => r,
                () = reply.closed() => return,
            };
            let _ = reply.send(settle(result).map(|committed| committed.is_some()));
        }
    }
}

fn settle<T>(
    result: Result<Result<T, deno_error::JsErrorBox>, tokio::time::error::Elapsed>,
) -> Result<T> {
    match result {
        Ok(Ok(value)) => Ok(value),
        Ok(Err(e)) => Err(remote_error(&e)),
        Err(_) => Err(Error::new(ErrorKind::Connection, TIMED_OUT)),
    }
}

/// KV Connect may reach any URL its metadata names.
#[derive(Clone)]
struct AllowAll;

impl RemotePermissions for AllowAll {
    fn check_net_url(&self, _url: &Url) -> Result<(), deno_error::JsErrorBox> {
        Ok(())
    }
}

/// HTTP POST for `denokv_remote`, over [`crate::net::http`].
#[derive(Clone)]
struct HttpTransport {
    client: HttpsClient,
    timeout: Duration,
}

impl HttpTransport {
    fn new(timeout: Duration) -> Result<HttpTransport, String> {
        let client = crate::net::http::client(timeout)?;
        Ok(HttpTransport { client, timeout })
    }
}

/// A whole response body (KV Connect's are small protobuf or JSON messages).
struct Body(Bytes);

impl RemoteResponse for Body {
    fn bytes(self) -> impl Future<Output = Result<Bytes, deno_error::JsErrorBox>> + Send + Sync {
        std::future::ready(Ok(self.0))
    }

    fn text(self) -> impl Future<Output = Result<String, deno_error::JsErrorBox>> + Send + Sync {
        std::future::ready(
            String::from_utf8(self.0.to_vec())
                .map_err(|_| deno_error::JsErrorBox::generic("the response is not UTF-8")),
        )
    }

    fn stream(
        self,
    ) -> impl futures_util::Stream<Item = Result<Bytes, deno_error::JsErrorBox>> + Send + Sync {
        futures_util::stream::iter([Ok(self.0)])
    }
}

impl denokv_remote::RemoteTransport for HttpTransport {
    type Response = Body;

    fn post(
        &self,
        url: Url,
        headers: http::HeaderMap,
        body: Bytes,
    ) -> impl Future<Output = Result<(Url, http::StatusCode, Body), deno_error::JsErrorBox>> + Send + Sync
    {
        let client = self.client.clone();
        let timeout = self.timeout;
        // Spawned so that the future handed back holds only a JoinHandle,
        // which is Sync as `denokv_remote` requires (hyper's futures are not).
        let task = tokio::spawn(async move {
            let generic = |e: String| deno_error::JsErrorBox::generic(e);
            let mut request = http::Request::post(url.as_str())
                .body(Full::new(body))
                .map_err(|e| generic(e.to_string()))?;
            *request.headers_mut() = headers;
            let exchange = async {
                let response = client
                    .request(request)
                    .await
                    .map_err(|e| generic(format!("{e}{}", source_chain(&e))))?;
                let status = response.status();
                let body = response
                    .into_body()
                    .collect()
                    .await
                    .map_err(|e| generic(e.to_string()))?
                    .to_bytes();
                Ok::<_, deno_error::JsErrorBox>((status, body))
            };
            let (status, body) = tokio::time::timeout(timeout, exchange)
                .await
                .map_err(|_| generic("the HTTP request timed out".into()))??;
            Ok((url, status, Body(body)))
        });
        async move {
            task.await
                .map_err(|e| deno_error::JsErrorBox::generic(e.to_string()))?
        }
    }
}
