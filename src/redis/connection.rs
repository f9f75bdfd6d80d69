//! One lazily made connection per store, shared by every operation: a
//! multiplexed connection to a standalone server, or the `redis` crate's
//! cluster connection (which keeps one connection per node and follows
//! `MOVED`/`ASK` itself).
//!
//! Why not the crate's `ConnectionManager`: once a reconnection attempt has
//! failed it keeps serving that failure, so the first operation after the
//! server returns still fails; and its background retries make an operation
//! wait longer than the connect timeout. Here a failed attempt is forgotten:
//! the next operation makes a fresh one, bounded by the connect timeout, so
//! the store works again as soon as the server does.

use super::error::{cannot_connect, no_connection};
use crate::error::{Error, Result};
use futures_util::future::{BoxFuture, FutureExt, Shared};
use redis::aio::{ConnectionLike, MultiplexedConnection};
use redis::cluster::ClusterClient;
use redis::cluster_async::ClusterConnection;
use redis::{AsyncConnectionConfig, Cmd, Pipeline, RedisFuture, Value};
use std::sync::{Mutex, MutexGuard};
use std::time::Duration;

/// Where the store connects to. One per store, behind an `Arc`, so the
/// size of its variants does not matter.
#[allow(clippy::large_enum_variant)]
pub(super) enum Target {
    Standalone(redis::Client),
    Cluster(ClusterClient),
}

/// A connection, cheap to clone: clones share one connection.
#[derive(Clone)]
pub(super) enum Conn {
    Standalone(MultiplexedConnection),
    Cluster(ClusterConnection),
}

impl ConnectionLike for Conn {
    fn req_packed_command<'a>(&'a mut self, cmd: &'a Cmd) -> RedisFuture<'a, Value> {
        match self {
            Conn::Standalone(c) => c.req_packed_command(cmd),
            Conn::Cluster(c) => c.req_packed_command(cmd),
        }
    }

    fn req_packed_commands<'a>(
        &'a mut self,
        pipeline: &'a Pipeline,
        offset: usize,
        count: usize,
    ) -> RedisFuture<'a, Vec<Value>> {
        match self {
            Conn::Standalone(c) => c.req_packed_commands(pipeline, offset, count),
            Conn::Cluster(c) => c.req_packed_commands(pipeline, offset, count),
        }
    }

    fn get_db(&self) -> i64 {
        match self {
            Conn::Standalone(c) => c.get_db(),
            Conn::Cluster(c) => c.get_db(),
        }
    }
}

type Connecting = Shared<BoxFuture<'static, Result<Conn>>>;

struct State {
    closed: bool,
    /// Counts connection attempts, so that an operation that saw its
    /// connection fail forgets that one and not a newer one.
    generation: u64,
    current: Option<Connecting>,
}

/// Makes the connection on first use and again after it failed.
pub(super) struct Connector {
    target: std::sync::Arc<Target>,
    /// Where to, for messages: host and port, never a password.
    place: String,
    connect_timeout: Duration,
    response_timeout: Option<Duration>,
    state: Mutex<State>,
}

impl Connector {
    pub(super) fn new(
        target: Target,
        place: String,
        connect_timeout: Duration,
        response_timeout: Option<Duration>,
    ) -> Connector {
        Connector {
            target: std::sync::Arc::new(target),
            place,
            connect_timeout,
            response_timeout,
            state: Mutex::new(State {
                closed: false,
                generation: 0,
                current: None,
            }),
        }
    }

    /// Where to, for messages.
    pub(super) fn place(&self) -> &str {
        &self.place
    }

    /// The longest an operation may take, connecting included.
    pub(super) fn operation_limit(&self) -> Option<Duration> {
        crate::net::response_timeout::operation_limit(self.connect_timeout, self.response_timeout)
    }

    fn state(&self) -> MutexGuard<'_, State> {
        self.state.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// The connection and its generation, connecting if there is none or
    /// the last attempt failed. Operations arriving while an attempt is under
    /// way share it.
    pub(super) async fn get(&self) -> Result<(u64, Conn)> {
        let (generation, connecting) = {
            let mut state = self.state();
            if state.closed {
                return Err(Error::closed("Redis"));
            }
            let reusable = state
                .current
                .as_ref()
                .filter(|c| !matches!(c.peek(), Some(Err(_))));
            match reusable {
                Some(connecting) => (state.generation, connecting.clone()),
                None => {
                    let connecting = self.connect().boxed().shared();
                    state.generation += 1;
                    state.current = Some(connecting.clone());
                    (state.generation, connecting)
                }
            }
        };
        connecting.await.map(|conn| (generation, conn))
    }

    /// Forgets the connection of `generation` after it failed, so the next
    /// operation connects again.
    pub(super) fn forget(&self, generation: u64) {
        let mut state = self.state();
        if state.generation == generation {
            state.current = None;
        }
    }

    /// Drops the connection; later operations fail with `Closed`.
    /// Operations in flight keep their clone until they finish.
    pub(super) fn close(&self) {
        let mut state = self.state();
        state.closed = true;
        state.current = None;
    }

    fn connect(&self) -> impl std::future::Future<Output = Result<Conn>> + Send + 'static {
        let target = self.target.clone();
        let place = self.place.clone();
        let connect_timeout = self.connect_timeout;
        let response_timeout = self.response_timeout;
        async move {
            let attempt = async {
                match &*target {
                    Target::Standalone(client) => {
                        let config = AsyncConnectionConfig::new()
                            .set_connection_timeout(Some(connect_timeout))
                            .set_response_timeout(response_timeout);
                        client
                            .get_multiplexed_async_connection_with_config(&config)
                            .await
                            .map(Conn::Standalone)
                    }
                    Target::Cluster(client) => {
                        client.get_async_connection().await.map(Conn::Cluster)
                    }
                }
            };
            // The whole handshake (DNS, TCP, TLS, AUTH, the cluster's slot
            // map) fits in the connect timeout, not just the TCP connect.
            match tokio::time::timeout(connect_timeout, attempt).await {
                Ok(Ok(conn)) => Ok(conn),
                Ok(Err(e)) => Err(cannot_connect(&place, e)),
                Err(_) => Err(no_connection(&place, connect_timeout)),
            }
        }
    }
}
