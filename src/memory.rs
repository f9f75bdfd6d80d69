//! The in-process backend: an ordered map of JSON texts, so values are
//! copies, `list` visits only the matching range, and expired entries are
//! found through an index of expiry times instead of a scan.

use crate::backend::{Entry, Expiry, KvBackend, Page};
use crate::error::{Error, Result};
use crate::json;
use crate::key::Key;
use crate::ttl::{now_ms, Ttl};
use async_trait::async_trait;
use std::collections::{BTreeMap, BTreeSet};
use std::ops::Bound;
use std::sync::{Mutex, MutexGuard};

/// Entries purged per write at most, so one write never pays for a backlog.
const PURGE_BATCH: usize = 256;

#[derive(Default)]
pub struct MemoryBackend {
    inner: Mutex<Inner>,
}

#[derive(Default)]
struct Inner {
    entries: BTreeMap<Key, Slot>,
    /// (expiry, key) of every entry that has one: the purge walks this from
    /// the oldest and stops at the first that is still live.
    expiries: BTreeSet<(i64, Key)>,
}

struct Slot {
    value: String,
    expires: Option<i64>,
}

impl Slot {
    fn is_live(&self, now: i64) -> bool {
        self.expires.is_none_or(|at| at > now)
    }
}

impl Inner {
    fn live(&self, key: &Key, now: i64) -> Option<&Slot> {
        self.entries.get(key).filter(|slot| slot.is_live(now))
    }

    fn insert(&mut self, key: &Key, value: String, ttl: Option<Ttl>, now: i64) {
        let expires = ttl.map(|ttl| ttl.expires_at(now));
        if let Some(at) = expires {
            self.expiries.insert((at, key.clone()));
        }
        if let Some(old) = self.entries.insert(key.clone(), Slot { value, expires }) {
            self.forget_expiry(key, old.expires, expires);
        }
    }

    fn remove(&mut self, key: &Key) {
        if let Some(old) = self.entries.remove(key) {
            self.forget_expiry(key, old.expires, None);
        }
    }

    fn forget_expiry(&mut self, key: &Key, old: Option<i64>, new: Option<i64>) {
        if let Some(at) = old.filter(|&at| Some(at) != new) {
            self.expiries.remove(&(at, key.clone()));
        }
    }

    /// Removes up to [`PURGE_BATCH`] expired entries, oldest first.
    fn purge(&mut self, now: i64) {
        for _ in 0..PURGE_BATCH {
            match self.expiries.first() {
                Some((at, _)) if *at <= now => {
                    let (_, key) = self.expiries.pop_first().expect("first exists");
                    self.entries.remove(&key);
                }
                _ => break,
            }
        }
    }
}

impl MemoryBackend {
    pub fn new() -> Self {
        Self::default()
    }

    fn lock(&self) -> MutexGuard<'_, Inner> {
        // A panic while holding the lock cannot leave the map half-changed
        // (every change is a single insert or remove), so poisoning is moot.
        self.inner.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// Number of entries held, expired ones not yet purged included.
    pub fn len(&self) -> usize {
        self.lock().entries.len()
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }
}

#[async_trait]
impl KvBackend for MemoryBackend {
    fn name(&self) -> &'static str {
        "memory"
    }

    async fn get(&self, key: &Key) -> Result<Option<String>> {
        let now = now_ms();
        Ok(self.lock().live(key, now).map(|slot| slot.value.clone()))
    }

    async fn set(&self, key: &Key, value: String, ttl: Option<Ttl>) -> Result<()> {
        let now = now_ms();
        let mut inner = self.lock();
        inner.purge(now);
        inner.insert(key, value, ttl, now);
        Ok(())
    }

    async fn delete(&self, key: &Key) -> Result<()> {
        let now = now_ms();
        let mut inner = self.lock();
        inner.purge(now);
        inner.remove(key);
        Ok(())
    }

    async fn cas(
        &self,
        key: &Key,
        expected: Option<&str>,
        new: Option<String>,
        ttl: Option<Ttl>,
    ) -> Result<bool> {
        let now = now_ms();
        let mut inner = self.lock();
        inner.purge(now);
        let current = inner.live(key, now).map(|slot| slot.value.as_str());
        if !json::cas_matches(current, expected)? {
            return Ok(false);
        }
        match new {
            Some(value) => inner.insert(key, value, ttl, now),
            None => inner.remove(key),
        }
        Ok(true)
    }

    async fn list_page(
        &self,
        prefix: &[String],
        cursor: Option<&str>,
        limit: usize,
        expiry: Expiry,
    ) -> Result<Page> {
        let start = match cursor {
            Some(cursor) => Bound::Excluded(
                Key::from_json(cursor)
                    .map_err(|_| Error::invalid_key("memory: not a listing cursor"))?,
            ),
            None if prefix.is_empty() => Bound::Unbounded,
            None => Bound::Included(Key::new(prefix.to_vec())?),
        };
        let now = now_ms();
        let inner = self.lock();
        // Keys order part by part, so every key under a prefix follows the
        // prefix itself contiguously: the range ends at the first key without it.
        let entries: Vec<Entry> = inner
            .entries
            .range((start, Bound::Unbounded))
            .take_while(|(key, _)| key.has_prefix(prefix))
            .filter(|(_, slot)| slot.is_live(now))
            .take(limit)
            .map(|(key, slot)| Entry {
                key: key.clone(),
                value: slot.value.clone(),
                expires_at: slot.expires.filter(|_| expiry == Expiry::Read),
            })
            .collect();
        let cursor = (entries.len() == limit).then(|| entries[limit - 1].key.to_json());
        Ok(Page { entries, cursor })
    }

    async fn close(&self) -> Result<()> {
        let mut inner = self.lock();
        inner.entries.clear();
        inner.expiries.clear();
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::conformance;

    conformance::suite!(MemoryBackend::new());

    #[tokio::test]
    async fn purges_expired_entries_on_writes() {
        let backend = MemoryBackend::new();
        let ttl = Ttl::from_millis(1.0).unwrap();
        for i in 0..100 {
            let key = Key::new(vec!["x".into(), i.to_string()]).unwrap();
            backend.set(&key, "1".into(), Some(ttl)).await.unwrap();
        }
        tokio::time::sleep(std::time::Duration::from_millis(5)).await;
        let other = Key::new(vec!["y".into()]).unwrap();
        backend.set(&other, "1".into(), None).await.unwrap();
        assert_eq!(backend.len(), 1);
        assert!(backend.lock().expiries.is_empty());
    }

    #[tokio::test]
    async fn overwriting_forgets_the_old_expiry() {
        let backend = MemoryBackend::new();
        let key = Key::new(vec!["k".into()]).unwrap();
        backend
            .set(&key, "1".into(), Some(Ttl::from_millis(1.0).unwrap()))
            .await
            .unwrap();
        backend.set(&key, "2".into(), None).await.unwrap();
        tokio::time::sleep(std::time::Duration::from_millis(5)).await;
        backend
            .delete(&Key::new(vec!["other".into()]).unwrap())
            .await
            .unwrap();
        assert_eq!(backend.get(&key).await.unwrap().as_deref(), Some("2"));
        assert!(backend.lock().expiries.is_empty());
    }
}
