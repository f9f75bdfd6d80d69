//! The contract of [`KvBackend`], as tests every backend runs.
//!
//! A backend's test module calls `conformance::suite!(make_backend())`, where
//! the expression builds a fresh, empty backend each time it is evaluated
//! (its own table or key prefix for a server). After each test the suite
//! calls `drop_storage()` so that server tables and keys do not pile up.
//! A backend whose server is unreachable can make the expression `return`
//! (see `test_support::server_url`), which skips the test.
//!
//! The macro holds the one list of tests, and every backend gets every
//! test. A test that needs more than the common contract names what it
//! needs there (`ttl_expires needs(prompt_expiry)`), one of the fields of
//! [`Capabilities`]. A backend has all of them unless its call says
//! otherwise, as a third argument:
//! `suite!(make(), conformance::as_is, Capabilities { prompt_expiry:
//! Capability::Lacks("why"), ..Capabilities::ALL })`. A test that needs
//! what the backend lacks is still generated for it, and passes after only
//! printing `skipped: <test> on <module>: <why>` to stderr (before building
//! a backend). So a test added to the list runs everywhere, and a gap is
//! declared once, with its reason, by the backend that has it.

use crate::backend::{Entry, Expiry, KvBackend};
use crate::key::Key;
use crate::ttl::now_ms;
use crate::ttl::Ttl;
use std::sync::Arc;
use std::time::Duration;

macro_rules! suite {
    ($make:expr) => {
        $crate::conformance::suite!($make, $crate::conformance::as_is);
    };
    // `$around(backend, test)` runs each test (see `as_is`).
    ($make:expr, $around:path) => {
        $crate::conformance::suite!($make, $around, $crate::conformance::Capabilities::ALL);
    };
    // `$capabilities`: what the backend has ([`Capabilities`]).
    ($make:expr, $around:path, $capabilities:expr) => {
        $crate::conformance::suite!(@tests $make, $around, $capabilities;
            get_set_delete,
            set_replaces_value_and_expiry,
            ttl_expires needs(prompt_expiry),
            cas_semantics needs(cas),
            cas_treats_expired_as_absent needs(cas, prompt_expiry),
            cas_is_atomic needs(cas),
            list_prefix_is_exact,
            list_pages_visit_each_entry_once,
            list_skips_expired needs(prompt_expiry),
            list_reads_expiry needs(prompt_expiry, list_expiry),
            list_leaves_expiry_unread);
    };
    (@tests $make:expr, $around:path, $capabilities:expr;
        $($name:ident $(needs($($need:ident),+))?),*) => {
        $(
            #[tokio::test(flavor = "multi_thread", worker_threads = 4)]
            async fn $name() {
                let capabilities: $crate::conformance::Capabilities = $capabilities;
                let lacking = capabilities.lacking(&[$($(|c| c.$need),+)?]);
                if !lacking.is_empty() {
                    $crate::conformance::report_skipped(stringify!($name), module_path!(), &lacking);
                    return;
                }
                let backend = std::sync::Arc::new($make);
                $around(backend.clone(), $crate::conformance::$name(backend.clone())).await;
                let _ = $crate::backend::KvBackend::drop_storage(&*backend).await;
            }
        )*
    };
}
pub(crate) use suite;

/// What a backend does beyond what every backend must; each field names
/// something some test of the suite needs.
#[derive(Clone, Copy, Debug)]
pub struct Capabilities {
    /// `cas` is there, and atomic against every other writer.
    pub cas: Capability,
    /// An entry is gone for `get`, `cas` and `list` as soon as its TTL runs
    /// out (the tests look within about 100 ms of it).
    pub prompt_expiry: Capability,
    /// `list_page` with [`Expiry::Read`] gives each entry's expiry instant.
    pub list_expiry: Capability,
}

impl Capabilities {
    /// Everything: what a backend has unless its tests say otherwise.
    pub const ALL: Capabilities = Capabilities {
        cas: Capability::Has,
        prompt_expiry: Capability::Has,
        list_expiry: Capability::Has,
    };

    /// Why each of `needs` (each a field of these) that is lacking is.
    pub fn lacking(&self, needs: &[fn(&Capabilities) -> Capability]) -> Vec<&'static str> {
        needs
            .iter()
            .filter_map(|need| match need(self) {
                Capability::Has => None,
                Capability::Lacks(why) => Some(why),
            })
            .collect()
    }
}

impl Default for Capabilities {
    fn default() -> Self {
        Self::ALL
    }
}

#[derive(Clone, Copy, Debug)]
pub enum Capability {
    Has,
    /// Lacking it, with why (printed by each test that needs it).
    Lacks(&'static str),
}

/// A test's line for one it skips: its name, the backend's test module
/// (`module_path!()` at the suite's call), and why.
pub fn report_skipped(test: &str, module: &str, why: &[&str]) {
    let backend = module.split_once("::").map_or(module, |(_, rest)| rest);
    eprintln!("skipped: {test} on {backend}: {}", why.join("; "));
}

/// Runs a test as it is; a backend may need more around it (Redis's
/// pipe runs the suite with its socket driven on the test's thread).
pub async fn as_is<B>(_: Arc<B>, test: impl std::future::Future<Output = ()>) {
    test.await
}

fn key(parts: &[&str]) -> Key {
    Key::new(parts.iter().map(|s| s.to_string()).collect()).unwrap()
}

fn strings(parts: &[&str]) -> Vec<String> {
    parts.iter().map(|s| s.to_string()).collect()
}

fn ms(ms: f64) -> Option<Ttl> {
    Some(Ttl::from_millis(ms).unwrap())
}

/// Every entry under `prefix`, page by page (each page at most `page_size`).
pub(crate) async fn list_all<B: KvBackend>(b: &B, prefix: &[&str], page_size: usize) -> Vec<Entry> {
    list_all_with(b, prefix, page_size, Expiry::Skip).await
}

/// [`list_all`], reading expiry or not.
pub(crate) async fn list_all_with<B: KvBackend>(
    b: &B,
    prefix: &[&str],
    page_size: usize,
    expiry: Expiry,
) -> Vec<Entry> {
    let prefix = strings(prefix);
    let mut out = Vec::new();
    let mut cursor: Option<String> = None;
    loop {
        let page = b
            .list_page(&prefix, cursor.as_deref(), page_size, expiry)
            .await
            .unwrap();
        assert!(page.entries.len() <= page_size);
        out.extend(page.entries);
        match page.cursor {
            Some(c) => cursor = Some(c),
            None => return out,
        }
    }
}

pub async fn get_set_delete<B: KvBackend>(b: Arc<B>) {
    let k = key(&["a", "b"]);
    assert_eq!(b.get(&k).await.unwrap(), None);
    b.set(&k, r#"{"x":[1,2]}"#.into(), None).await.unwrap();
    assert_eq!(b.get(&k).await.unwrap().as_deref(), Some(r#"{"x":[1,2]}"#));
    assert_eq!(b.get(&key(&["a"])).await.unwrap(), None);
    b.delete(&k).await.unwrap();
    assert_eq!(b.get(&k).await.unwrap(), None);
    b.delete(&k).await.unwrap();
}

pub async fn set_replaces_value_and_expiry<B: KvBackend>(b: Arc<B>) {
    let k = key(&["r"]);
    b.set(&k, "1".into(), ms(100.0)).await.unwrap();
    b.set(&k, "2".into(), None).await.unwrap();
    tokio::time::sleep(Duration::from_millis(200)).await;
    assert_eq!(b.get(&k).await.unwrap().as_deref(), Some("2"));
}

pub async fn ttl_expires<B: KvBackend>(b: Arc<B>) {
    let short = key(&["ttl", "short"]);
    let long = key(&["ttl", "long"]);
    // Timed from before the write, so that a slow machine (the whole suite
    // runs at once) cannot make a live entry look expired: the check of
    // life is made only while the TTL certainly runs.
    let written = std::time::Instant::now();
    b.set(&short, "true".into(), ms(500.0)).await.unwrap();
    b.set(&long, "true".into(), ms(60_000.0)).await.unwrap();
    let got = b.get(&short).await.unwrap();
    if written.elapsed() < Duration::from_millis(450) {
        assert_eq!(got.as_deref(), Some("true"));
    }
    tokio::time::sleep(Duration::from_millis(600)).await;
    assert_eq!(b.get(&short).await.unwrap(), None);
    assert_eq!(b.get(&long).await.unwrap().as_deref(), Some("true"));
}

pub async fn cas_semantics<B: KvBackend>(b: Arc<B>) {
    let k = key(&["cas"]);
    assert!(!b.cas(&k, Some("1"), Some("2".into()), None).await.unwrap());
    assert!(b
        .cas(&k, None, Some(r#"{"a":1,"b":2}"#.into()), None)
        .await
        .unwrap());
    assert!(!b.cas(&k, None, Some("3".into()), None).await.unwrap());
    assert!(!b
        .cas(&k, Some(r#"{"a":1}"#), Some("3".into()), None)
        .await
        .unwrap());
    // Member order does not matter.
    assert!(b
        .cas(&k, Some(r#"{"b":2,"a":1}"#), Some("3".into()), None)
        .await
        .unwrap());
    assert_eq!(b.get(&k).await.unwrap().as_deref(), Some("3"));
    // None deletes.
    assert!(b.cas(&k, Some("3"), None, None).await.unwrap());
    assert_eq!(b.get(&k).await.unwrap(), None);
}

/// An expired value counts as absent, and `cas` sets a TTL.
pub async fn cas_treats_expired_as_absent<B: KvBackend>(b: Arc<B>) {
    let k = key(&["cas"]);
    b.set(&k, "4".into(), ms(50.0)).await.unwrap();
    tokio::time::sleep(Duration::from_millis(120)).await;
    assert!(!b.cas(&k, Some("4"), Some("5".into()), None).await.unwrap());
    assert!(b.cas(&k, None, Some("5".into()), ms(50.0)).await.unwrap());
    tokio::time::sleep(Duration::from_millis(120)).await;
    assert_eq!(b.get(&k).await.unwrap(), None);
}

/// 5 workers × 10 increments through get + cas must end at exactly 50.
pub async fn cas_is_atomic<B: KvBackend>(b: Arc<B>) {
    let k = key(&["counter"]);
    let workers: Vec<_> = (0..5)
        .map(|_| {
            let b = b.clone();
            let k = k.clone();
            tokio::spawn(async move {
                for _ in 0..10 {
                    loop {
                        let current = b.get(&k).await.unwrap();
                        let n: i64 = current.as_deref().map_or(0, |v| v.parse().unwrap());
                        let next = (n + 1).to_string();
                        if b.cas(&k, current.as_deref(), Some(next), None)
                            .await
                            .unwrap()
                        {
                            break;
                        }
                    }
                }
            })
        })
        .collect();
    for w in workers {
        w.await.unwrap();
    }
    assert_eq!(b.get(&k).await.unwrap().as_deref(), Some("50"));
}

pub async fn list_prefix_is_exact<B: KvBackend>(b: Arc<B>) {
    let odd = [
        "", ":", "::", "_", "%", "*", "?", "[", "\"", "\\", "é😀", "a:",
    ];
    for part in odd {
        b.set(&key(&["p", part]), format!("{:?}", part.len()), None)
            .await
            .unwrap();
    }
    b.set(&key(&["p"]), "0".into(), None).await.unwrap();
    b.set(&key(&["P", "upper"]), "0".into(), None)
        .await
        .unwrap();
    b.set(&key(&["px", "x"]), "0".into(), None).await.unwrap();
    b.set(&key(&["p", "a", "deep"]), "0".into(), None)
        .await
        .unwrap();

    let all_p = list_all(&*b, &["p"], 1000).await;
    assert_eq!(all_p.len(), odd.len() + 2);
    assert!(all_p.iter().all(|e| e.key.has_prefix(&strings(&["p"]))));
    for part in odd {
        let under = list_all(&*b, &["p", part], 1000).await;
        assert_eq!(under.len(), 1, "prefix {part:?}");
        assert_eq!(under[0].key, key(&["p", part]));
    }
    let a = list_all(&*b, &["p", "a"], 1000).await;
    assert_eq!(
        a.iter().map(|e| e.key.clone()).collect::<Vec<_>>(),
        [key(&["p", "a", "deep"])]
    );
    assert_eq!(list_all(&*b, &["P"], 1000).await.len(), 1);
    assert_eq!(list_all(&*b, &[], 1000).await.len(), odd.len() + 4);
    assert!(list_all(&*b, &["q"], 1000).await.is_empty());
}

pub async fn list_pages_visit_each_entry_once<B: KvBackend>(b: Arc<B>) {
    for i in 0..57 {
        b.set(&key(&["page", &format!("{i:03}")]), i.to_string(), None)
            .await
            .unwrap();
    }
    b.set(&key(&["pagf"]), "0".into(), None).await.unwrap();
    let mut seen: Vec<String> = list_all(&*b, &["page"], 10)
        .await
        .into_iter()
        .map(|e| e.key[1].clone())
        .collect();
    assert_eq!(seen.len(), 57);
    seen.sort();
    seen.dedup();
    assert_eq!(seen.len(), 57);
}

pub async fn list_skips_expired<B: KvBackend>(b: Arc<B>) {
    b.set(&key(&["e", "gone"]), "1".into(), ms(50.0))
        .await
        .unwrap();
    b.set(&key(&["e", "kept"]), "2".into(), ms(60_000.0))
        .await
        .unwrap();
    tokio::time::sleep(Duration::from_millis(120)).await;
    let listed = list_all(&*b, &["e"], 10).await;
    assert_eq!(listed.len(), 1);
    assert_eq!(listed[0].key, key(&["e", "kept"]));
    assert_eq!(listed[0].value, "2");
}

/// A listing that reads expiry gives each entry's expiry instant (within a
/// small tolerance of when it was set plus its TTL: servers count on their
/// own clock, and Redis and PostgreSQL round to the millisecond), `None`
/// for a permanent entry, across pages; one that does not leaves it `None`.
pub async fn list_reads_expiry<B: KvBackend>(b: Arc<B>) {
    const TOLERANCE_MS: i64 = 250;
    let before = now_ms();
    b.set(&key(&["x", "forever"]), "1".into(), None)
        .await
        .unwrap();
    b.set(&key(&["x", "minute"]), "2".into(), ms(60_000.0))
        .await
        .unwrap();
    b.set(&key(&["x", "hour"]), "3".into(), ms(3_600_000.5))
        .await
        .unwrap();
    b.set(&key(&["x", "gone"]), "4".into(), ms(30.0))
        .await
        .unwrap();
    // Set with a TTL, then without: no expiry any more.
    b.set(&key(&["x", "kept"]), "5".into(), ms(60_000.0))
        .await
        .unwrap();
    b.set(&key(&["x", "kept"]), "6".into(), None).await.unwrap();
    tokio::time::sleep(Duration::from_millis(100)).await;
    let after = now_ms();

    let mut listed = list_all_with(&*b, &["x"], 2, Expiry::Read).await;
    listed.sort_by(|a, b| a.key.cmp(&b.key));
    let got: Vec<(&str, &str, Option<i64>)> = listed
        .iter()
        .map(|e| (e.key[1].as_str(), e.value.as_str(), e.expires_at))
        .collect();
    assert_eq!(
        got.iter().map(|(k, v, _)| (*k, *v)).collect::<Vec<_>>(),
        [
            ("forever", "1"),
            ("hour", "3"),
            ("kept", "6"),
            ("minute", "2")
        ]
    );
    let within = |at: Option<i64>, ttl: i64| {
        let at = at.expect("an entry with a TTL lists its expiry");
        assert!(
            at >= before + ttl - TOLERANCE_MS && at <= after + ttl + TOLERANCE_MS,
            "expiry {at} not within [{}, {}]",
            before + ttl - TOLERANCE_MS,
            after + ttl + TOLERANCE_MS
        );
    };
    assert_eq!(got[0].2, None, "a permanent entry has no expiry");
    within(got[1].2, 3_600_000);
    assert_eq!(got[2].2, None, "an entry set again without a TTL has none");
    within(got[3].2, 60_000);

    let plain = list_all(&*b, &["x"], 1000).await;
    assert_eq!(plain.len(), 4);
    assert!(plain.iter().all(|e| e.expires_at.is_none()));
}

/// A listing that does not read expiry leaves it `None`, for entries with
/// a TTL too ([`list_reads_expiry`] without what needs prompt expiry or
/// expiry in listings).
pub async fn list_leaves_expiry_unread<B: KvBackend>(b: Arc<B>) {
    b.set(&key(&["x", "forever"]), "1".into(), None)
        .await
        .unwrap();
    b.set(&key(&["x", "minute"]), "2".into(), ms(60_000.0))
        .await
        .unwrap();
    b.set(&key(&["x", "hour"]), "3".into(), ms(3_600_000.5))
        .await
        .unwrap();
    let mut plain = list_all(&*b, &["x"], 2).await;
    plain.sort_by(|a, b| a.key.cmp(&b.key));
    assert_eq!(
        plain
            .iter()
            .map(|e| (e.key[1].as_str(), e.value.as_str(), e.expires_at))
            .collect::<Vec<_>>(),
        [
            ("forever", "1", None),
            ("hour", "3", None),
            ("minute", "2", None)
        ]
    );
}
