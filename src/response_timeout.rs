//! The response timeout of the SQL server stores: how long an operation
//! waits for the server's answers once it has its connection.
//!
//! A server that stops answering (paused, overloaded, a network that drops
//! packets without a reset) would otherwise hold an operation forever: the
//! TCP connection stays open and nothing fails. Each backend runs the
//! statements of one operation [`within`] the timeout and closes the
//! connection of an operation cut off by it (its state is unknown: a
//! statement half sent, an answer half read), never pooling it again.

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
