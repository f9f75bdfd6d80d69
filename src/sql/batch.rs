//! Reads that wait together are answered together.
//!
//! A server store has a few connections and one statement in flight on
//! each: at concurrency 64 most `get`s wait for a connection. Each waiter
//! joins a [`Batch`] first; whoever gets a connection takes every waiter
//! queued so far (its own included, unless another took it already) and
//! answers them all with one statement. A waiter that another answered
//! stops waiting for a connection.
//!
//! This keeps each `get` exact: a waiter is taken only after it joined, so
//! the statement that answers it starts after the `get` was called, and
//! sees every write that ended before.

use crate::error::{Error, Result};
use std::future::Future;
use std::sync::{Mutex, MutexGuard};
use tokio::sync::oneshot;

/// The most keys one statement reads; the rest wait for the next one.
pub const MAX_BATCH: usize = 128;

/// The queue of one store's waiting reads of keys `K` for answers `V`.
pub struct Batch<K, V> {
    waiting: Mutex<Vec<Waiter<K, V>>>,
}

/// A read taken from the queue, to be answered with [`answer`].
pub struct Waiter<K, V> {
    pub key: K,
    reply: oneshot::Sender<Result<V>>,
}

/// Where a waiter's answer arrives.
pub type Answer<V> = oneshot::Receiver<Result<V>>;

impl<K, V> Default for Batch<K, V> {
    fn default() -> Self {
        Batch {
            waiting: Mutex::new(Vec::new()),
        }
    }
}

impl<K, V> Batch<K, V> {
    /// Queues a read of `key`.
    pub fn join(&self, key: K) -> Answer<V> {
        let (reply, answer) = oneshot::channel();
        self.lock().push(Waiter { key, reply });
        answer
    }

    /// The oldest waiters, at most [`MAX_BATCH`], out of the queue.
    pub fn take(&self) -> Vec<Waiter<K, V>> {
        let mut waiting = self.lock();
        if waiting.len() <= MAX_BATCH {
            return std::mem::take(&mut *waiting);
        }
        waiting.drain(..MAX_BATCH).collect()
    }

    fn lock(&self) -> MutexGuard<'_, Vec<Waiter<K, V>>> {
        // Pushes and drains only: a panic cannot leave the queue half-changed.
        self.waiting.lock().unwrap_or_else(|e| e.into_inner())
    }
}

/// Sends each waiter its answer: `answers[i]` to `waiters[i]`, or the
/// error to all. A waiter that stopped waiting is skipped.
pub fn answer<K, V>(waiters: Vec<Waiter<K, V>>, answers: Result<Vec<V>>) {
    match answers {
        Ok(answers) => {
            debug_assert_eq!(answers.len(), waiters.len());
            for (waiter, answer) in waiters.into_iter().zip(answers) {
                let _ = waiter.reply.send(Ok(answer));
            }
        }
        Err(e) => {
            for waiter in waiters {
                let _ = waiter.reply.send(Err(e.clone()));
            }
        }
    }
}

/// The answer that arrived, or `abandoned` if the read that took this
/// waiter was dropped before answering (it ran out of time). Takes the
/// answer or `&mut` it (to wait for it beside something else).
pub async fn wait<V, A>(answer: A, abandoned: impl FnOnce() -> Error) -> Result<V>
where
    A: Future<Output = std::result::Result<Result<V>, oneshot::error::RecvError>>,
{
    answer.await.unwrap_or_else(|_| Err(abandoned()))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::error::ErrorKind;

    #[tokio::test]
    async fn each_waiter_gets_its_own_answer() {
        let batch = Batch::<u32, u32>::default();
        let answers: Vec<_> = (0..3).map(|k| batch.join(k)).collect();
        let waiters = batch.take();
        assert_eq!(waiters.iter().map(|w| w.key).collect::<Vec<_>>(), [0, 1, 2]);
        assert!(batch.take().is_empty());
        answer(waiters, Ok(vec![10, 11, 12]));
        for (k, a) in answers.into_iter().enumerate() {
            assert_eq!(a.await.unwrap(), Ok(10 + k as u32));
        }
    }

    #[tokio::test]
    async fn a_failure_reaches_every_waiter() {
        let batch = Batch::<u32, u32>::default();
        let (a, b) = (batch.join(1), batch.join(2));
        let e = Error::new(ErrorKind::Connection, "down");
        answer(batch.take(), Err(e.clone()));
        assert_eq!(a.await.unwrap(), Err(e.clone()));
        assert_eq!(b.await.unwrap(), Err(e));
    }

    #[tokio::test]
    async fn a_batch_is_bounded_and_the_oldest_go_first() {
        let batch = Batch::<usize, ()>::default();
        let _answers: Vec<_> = (0..MAX_BATCH + 5).map(|k| batch.join(k)).collect();
        let first = batch.take();
        assert_eq!(first.len(), MAX_BATCH);
        assert_eq!(first[0].key, 0);
        let rest = batch.take();
        assert_eq!(
            rest.iter().map(|w| w.key).collect::<Vec<_>>(),
            (MAX_BATCH..MAX_BATCH + 5).collect::<Vec<_>>()
        );
    }

    #[tokio::test]
    async fn a_dropped_reader_is_reported_not_hung() {
        let batch = Batch::<u32, u32>::default();
        let a = batch.join(1);
        drop(batch.take());
        let e = wait(a, || Error::new(ErrorKind::Connection, "no answer in time")).await;
        assert_eq!(e.unwrap_err().message, "no answer in time");
    }
}
