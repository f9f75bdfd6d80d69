//! When a SQL store purges its expired rows: in the background after a
//! write, at most once at a time and at most as often as its
//! [`PurgePolicy`] lets it. The purge itself (the statement, its
//! connection, its timeout) is the backend's.

use crate::ttl::now_ms;
use std::future::Future;
use std::sync::atomic::{AtomicBool, AtomicI64, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

/// The background purge's own bound: it is no caller's operation, and a
/// batch may take longer than one (without an index on expiry it scans).
pub(crate) const PURGE_TIMEOUT: Duration = Duration::from_secs(60);

/// How long a backend waits between purges.
pub(crate) struct PurgePolicy {
    /// The shortest wait after a purge that left nothing waiting (or failed).
    pub interval: Duration,
    /// The wait after a full batch: more expired rows are waiting.
    pub after_full_batch: Duration,
    /// A purge that took longer than `interval / slowdown` makes the next
    /// one wait `slowdown` times as long as it took (0: never).
    pub slowdown: u32,
    /// The most rows one purge deletes.
    pub batch: u64,
}

impl PurgePolicy {
    /// The wait after a purge that took `took` and deleted `purged` rows
    /// (`None`: it failed or was cut off).
    fn wait_after(&self, purged: Option<u64>, took: Duration) -> Duration {
        match purged {
            Some(rows) if rows >= self.batch => self.after_full_batch,
            _ => self.interval.max(took * self.slowdown),
        }
    }
}

/// When the purge may run next, and whether one is running.
#[derive(Default)]
pub(crate) struct PurgeSchedule {
    next_at_ms: AtomicI64,
    running: AtomicBool,
}

impl PurgeSchedule {
    /// Starts `purge()` on the current runtime if one is due and none is
    /// running. Best effort: a purge that fails only waits for the next.
    /// `purge` resolves to the number of rows it deleted, `None` if it
    /// failed; it is called only when a purge starts.
    pub fn after_write<F>(self: &Arc<Self>, policy: &'static PurgePolicy, purge: impl FnOnce() -> F)
    where
        F: Future<Output = Option<u64>> + Send + 'static,
    {
        if now_ms() < self.next_at_ms.load(Ordering::Acquire)
            || self.running.swap(true, Ordering::AcqRel)
        {
            return;
        }
        let Ok(runtime) = tokio::runtime::Handle::try_current() else {
            self.running.store(false, Ordering::Release);
            return;
        };
        runtime.spawn(self.clone().run(policy, purge()));
    }

    /// Runs a purge that [`Self::after_write`] marked as running.
    async fn run(
        self: Arc<Self>,
        policy: &'static PurgePolicy,
        purge: impl Future<Output = Option<u64>>,
    ) {
        // Clears `running` however the task ends (a runtime shutting down
        // drops it mid-way), so that purging never stops for good.
        let _running = Running(&self.running);
        let started = Instant::now();
        let purged = purge.await;
        let wait = policy.wait_after(purged, started.elapsed());
        self.next_at_ms
            .store(now_ms() + wait.as_millis() as i64, Ordering::Release);
    }
}

/// Clears the flag it holds when dropped.
struct Running<'a>(&'a AtomicBool);

impl Drop for Running<'_> {
    fn drop(&mut self) {
        self.0.store(false, Ordering::Release);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    static POLICY: PurgePolicy = PurgePolicy {
        interval: Duration::from_secs(5),
        after_full_batch: Duration::from_secs(1),
        slowdown: 50,
        batch: 1_000,
    };

    #[test]
    fn a_runtime_shutting_down_mid_purge_leaves_purging_possible() {
        let schedule = Arc::new(PurgeSchedule::default());
        let runtime = tokio::runtime::Builder::new_current_thread()
            .build()
            .unwrap();
        let (started, has_started) = tokio::sync::oneshot::channel();
        runtime.block_on(async {
            schedule.after_write(&POLICY, || async move {
                let _ = started.send(());
                std::future::pending::<Option<u64>>().await
            });
            has_started.await.unwrap();
        });
        assert!(schedule.running.load(Ordering::Acquire));
        // The shutdown drops the purge where it waits.
        drop(runtime);
        assert!(!schedule.running.load(Ordering::Acquire));
        let runtime = tokio::runtime::Builder::new_current_thread()
            .build()
            .unwrap();
        runtime.block_on(async {
            let (done, is_done) = tokio::sync::oneshot::channel();
            schedule.after_write(&POLICY, || async move {
                let _ = done.send(());
                Some(0)
            });
            is_done.await.expect("a new purge starts");
        });
    }

    #[tokio::test]
    async fn one_purge_at_a_time_and_then_not_before_it_is_due() {
        let schedule = Arc::new(PurgeSchedule::default());
        let (release, released) = tokio::sync::oneshot::channel::<()>();
        schedule.after_write(&POLICY, || async move {
            let _ = released.await;
            Some(3)
        });
        schedule.after_write(&POLICY, || -> std::future::Ready<Option<u64>> {
            panic!("a second purge while one runs")
        });
        release.send(()).unwrap();
        while schedule.running.load(Ordering::Acquire) {
            tokio::task::yield_now().await;
        }
        schedule.after_write(&POLICY, || -> std::future::Ready<Option<u64>> {
            panic!("a purge before the interval passed")
        });
    }

    #[test]
    fn the_wait_follows_the_batch_and_the_time_taken() {
        let quick = Duration::from_millis(1);
        assert_eq!(
            POLICY.wait_after(Some(1_000), quick),
            POLICY.after_full_batch
        );
        assert_eq!(POLICY.wait_after(Some(999), quick), POLICY.interval);
        assert_eq!(POLICY.wait_after(None, quick), POLICY.interval);
        let slow = Duration::from_millis(200);
        assert_eq!(POLICY.wait_after(Some(10), slow), Duration::from_secs(10));
        let never_slower = PurgePolicy {
            slowdown: 0,
            ..POLICY
        };
        assert_eq!(never_slower.wait_after(None, slow), POLICY.interval);
    }
}
