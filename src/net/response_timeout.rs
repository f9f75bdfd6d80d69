//! The response timeout of the server stores (PostgreSQL, MySQL, Redis):
//! how long an operation waits for the server's answers once it has its
//! connection, and the bound of a whole operation.
//!
//! A server that stops answering (paused, overloaded, a network that drops
//! packets without a reset) would otherwise hold an operation forever: the
//! TCP connection stays open and nothing fails. The SQL stores run the
//! statements of one operation [`within`] the timeout ([`Timeouts`]) and
//! close the connection of an operation cut off by it (its state is
//! unknown: a statement half sent, an answer half read), never pooling it
//! again. Redis bounds its operations and its pipe's commands the same way,
//! with the same messages ([`no_answer`]).

use crate::error::{Error, ErrorKind};
use std::future::Future;
use std::time::Duration;

/// Runs `work`, giving up after `limit` (`None` waits as long as it takes).
/// `None` when it gave up; `work` is dropped then.
pub async fn within<F: Future>(limit: Option<Duration>, work: F) -> Option<F::Output> {
    match limit {
        Some(limit) => tokio::time::timeout(limit, work).await.ok(),
        None => Some(work.await),
    }
}

/// Which limit an operation ran into, for messages.
#[derive(Clone, Copy, Debug)]
pub enum Limit {
    /// The response timeout of its statements, or of the commands on
    /// Redis's pipe (the `redis` crate reports its own timeouts itself).
    #[cfg_attr(
        not(any(feature = "postgres", feature = "mysql", feature = "redis")),
        allow(dead_code)
    )]
    Response(Option<Duration>),
    /// The bound of the whole operation ([`operation_limit`]).
    Operation(Option<Duration>),
}

/// The error of an operation that got no answer in time. What a write cut
/// off this way did is unknown: the server may still apply it.
pub fn no_answer(backend: &str, address: &str, limit: Limit) -> Error {
    let (limit, name) = match limit {
        Limit::Response(l) => (l, "the response timeout"),
        Limit::Operation(l) => (l, "the connect timeout plus the response timeout"),
    };
    let ms = limit.map_or(0, |l| l.as_millis());
    Error::new(
        ErrorKind::Connection,
        format!(
            "{backend}: no answer from {address} within {ms} ms ({name}); the connection \
             is not used again, and a write cut off this way may or may not have been \
             applied"
        ),
    )
}

/// The longest an operation may take: the connect timeout (waiting for a
/// connection) plus the response timeout, or `None` without the latter.
pub fn operation_limit(connect: Duration, response: Option<Duration>) -> Option<Duration> {
    response.map(|response| connect + response)
}

/// A server store's timeouts, and where its server is for messages.
#[cfg(any(feature = "postgres", feature = "mysql"))]
#[derive(Clone, Debug)]
pub struct Timeouts {
    /// The backend's name, which starts its messages.
    pub backend: &'static str,
    /// `host:port` or a socket path: never the URL (it may hold a password).
    pub address: String,
    /// How long an operation waits for a connection, connecting included.
    pub connect: Duration,
    /// How long an operation waits for the server's answers once it has
    /// its connection; `None` waits as long as it takes.
    pub response: Option<Duration>,
}

#[cfg(any(feature = "postgres", feature = "mysql"))]
impl Timeouts {
    /// The bound of a whole operation ([`operation_limit`]).
    pub fn operation_limit(&self) -> Option<Duration> {
        operation_limit(self.connect, self.response)
    }

    /// The error of statements that got no answer within the response timeout.
    pub fn no_answer(&self) -> Error {
        no_answer(self.backend, &self.address, Limit::Response(self.response))
    }

    /// The error of an operation that took longer than its bound.
    pub fn too_long(&self) -> Error {
        let limit = Limit::Operation(self.operation_limit());
        no_answer(self.backend, &self.address, limit)
    }

    /// Runs `work` (statements on a connection already had) within the
    /// response timeout; [`Self::no_answer`] if cut off, `work` dropped.
    pub async fn answered<F: Future>(&self, work: F) -> Result<F::Output, Error> {
        within(self.response, work)
            .await
            .ok_or_else(|| self.no_answer())
    }

    /// Runs a whole operation within [`Self::operation_limit`];
    /// [`Self::too_long`] if cut off, `work` dropped.
    pub async fn bounded<T>(
        &self,
        work: impl Future<Output = Result<T, Error>>,
    ) -> Result<T, Error> {
        within(self.operation_limit(), work)
            .await
            .unwrap_or_else(|| Err(self.too_long()))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn gives_up_after_the_limit() {
        let started = std::time::Instant::now();
        let never = std::future::pending::<()>();
        assert_eq!(within(Some(Duration::from_millis(20)), never).await, None);
        assert!(started.elapsed() >= Duration::from_millis(20));
        assert_eq!(within(None, async { 7 }).await, Some(7));
        assert_eq!(
            within(Some(Duration::from_secs(5)), async { 7 }).await,
            Some(7)
        );
    }

    #[test]
    fn the_error_names_the_server_and_the_limit() {
        let limit = Limit::Response(Some(Duration::from_millis(1500)));
        let e = no_answer("PostgreSQL", "127.0.0.1:5432", limit);
        assert_eq!(e.kind, ErrorKind::Connection);
        assert!(e.message.starts_with("PostgreSQL: "), "{}", e.message);
        assert!(e.message.contains("127.0.0.1:5432"), "{}", e.message);
        assert!(e.message.contains("1500 ms"), "{}", e.message);
    }
}
