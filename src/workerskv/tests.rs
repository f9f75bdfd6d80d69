//! Workers KV against a local Worker with real KV bindings (miniflare, see
//! `test_server`): the contract's tests, then the layout Fedify's store
//! reads, the batching, and how the client meets what a network does
//! (rate limits, server errors, silence, a refused token).

use super::test_server::Emulator;
use super::*;
use crate::conformance::{self, list_all, Capabilities, Capability};
use crate::error::ErrorKind;
use serde_json::{json, Value};
use std::time::Instant;

/// A backend on a namespace of its own of the shared emulator.
async fn backend() -> Option<(WorkersKvBackend, &'static Emulator, String)> {
    let emulator = Emulator::shared()?;
    let config = emulator.config().await;
    let namespace = config.namespace_id.clone();
    Some((WorkersKvBackend::new(config).unwrap(), emulator, namespace))
}

fn key(parts: &[&str]) -> Key {
    Key::new(parts.iter().map(|s| s.to_string()).collect()).unwrap()
}

fn ttl(ms: f64) -> Option<Ttl> {
    Some(Ttl::from_millis(ms).unwrap())
}

mod suite {
    use super::*;
    conformance::suite!(
        {
            let Some((backend, _, _)) = backend().await else {
                return;
            };
            backend
        },
        conformance::as_is,
        Capabilities {
            cas: Capability::Lacks(
                "Workers KV has no conditional write, so no cas can be atomic \
                 (@fedify/cfworkers has none either)"
            ),
            ..Capabilities::ALL
        }
    );
}

/// What a Worker's binding sees: `JSON.stringify(key)`, the JSON text,
/// `{ expires }` metadata, and Cloudflare's expiry at least a minute out.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn layout_is_fedify_cfworkers() {
    let Some((b, emulator, namespace)) = backend().await else {
        return;
    };
    let raw = |name: &str| {
        emulator.post(
            "/__test/raw",
            json!({ "namespace": namespace, "op": "get", "key": name }),
        )
    };
    let before = now_ms();
    b.set(&key(&["a", "b é"]), r#"{"x":[1,"y"]}"#.into(), ttl(1500.0))
        .await
        .unwrap();
    b.set(&key(&["forever"]), "true".into(), None)
        .await
        .unwrap();
    b.set(&key(&["long"]), "1".into(), ttl(90_200.0))
        .await
        .unwrap();
    let after = now_ms();

    let short = raw(r#"["a","b é"]"#).await;
    assert_eq!(short["value"], r#"{"x":[1,"y"]}"#);
    let expires = short["metadata"]["expires"].as_i64().unwrap();
    assert!((before + 1500..=after + 1500).contains(&expires), "{short}");
    let expiration = short["expiration"].as_i64().unwrap();
    assert!(
        ((before / 1000 + 59)..=(after / 1000 + 61)).contains(&expiration),
        "Cloudflare's expiry is the 60 s minimum: {short}"
    );

    let forever = raw(r#"["forever"]"#).await;
    assert_eq!(forever["value"], "true");
    assert_eq!(forever["metadata"], json!({}));
    assert!(
        forever.get("expiration").is_none_or(Value::is_null),
        "{forever}"
    );

    let long = raw(r#"["long"]"#).await;
    let expiration = long["expiration"].as_i64().unwrap();
    assert!(
        ((before / 1000 + 90)..=(after / 1000 + 92)).contains(&expiration),
        "a TTL over a minute, rounded up to whole seconds: {long}"
    );
}

/// Calls made together go out as few bulk requests, and all land.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn calls_made_together_leave_together() {
    // An emulator of its own: its request count is this test's alone.
    let Some(emulator) = Emulator::start() else {
        return;
    };
    let b = WorkersKvBackend::new(emulator.config().await).unwrap();
    emulator.delete("/__test/requests").await;
    let keys: Vec<Key> = (0..500)
        .map(|i| key(&["many", &format!("{i:03}")]))
        .collect();
    let sets = keys
        .iter()
        .enumerate()
        .map(|(i, k)| b.set(k, i.to_string(), None));
    for outcome in futures_util::future::join_all(sets).await {
        outcome.unwrap();
    }
    let gets = futures_util::future::join_all(keys.iter().map(|k| b.get(k))).await;
    for (i, got) in gets.into_iter().enumerate() {
        assert_eq!(got.unwrap(), Some(i.to_string()));
    }
    let requests = emulator.get("/__test/requests").await;
    let count = |route: &str| requests["byRoute"][route].as_u64().unwrap_or(0);
    let (writes, reads) = (count("PUT bulk"), count("POST bulk/get"));
    assert!(
        (1..=3).contains(&writes),
        "500 sets in {writes} bulk writes: {requests}"
    );
    assert!(
        (5..=20).contains(&reads),
        "500 gets in {reads} bulk reads of at most 100: {requests}"
    );
}

/// Writes made together land in the order they were made.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn writes_land_in_order() {
    let Some((b, _, _)) = backend().await else {
        return;
    };
    let k = key(&["order"]);
    let (one, two, gone, three) = tokio::join!(
        b.set(&k, "1".into(), None),
        b.set(&k, "2".into(), None),
        b.delete(&k),
        b.set(&k, "3".into(), None)
    );
    one.and(two).and(gone).and(three).unwrap();
    assert_eq!(b.get(&k).await.unwrap().as_deref(), Some("3"));
    let (four, gone) = tokio::join!(b.set(&k, "4".into(), None), b.delete(&k));
    four.and(gone).unwrap();
    assert_eq!(b.get(&k).await.unwrap(), None);
}

async fn fault(emulator: &Emulator, namespace: &str, fault: Value) {
    let mut fault = fault;
    fault["match"] = namespace.into();
    emulator.post("/__test/faults", fault).await;
}

/// A 429 is waited out as long as `Retry-After` says, then the call passes.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn rate_limits_are_waited_out() {
    let Some((b, emulator, namespace)) = backend().await else {
        return;
    };
    fault(
        emulator,
        &namespace,
        json!({ "status": 429, "count": 2, "retryAfter": 1 }),
    )
    .await;
    let started = Instant::now();
    b.set(&key(&["limited"]), "1".into(), None).await.unwrap();
    assert!(started.elapsed() >= Duration::from_secs(2));
    assert_eq!(
        b.get(&key(&["limited"])).await.unwrap().as_deref(),
        Some("1")
    );
}

/// A rate limit that outlasts the retries is `Busy`, and says so.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_rate_limit_past_the_retries_is_busy() {
    let Some(emulator) = Emulator::shared() else {
        return;
    };
    let mut config = emulator.config().await;
    config.retries = 1;
    let namespace = config.namespace_id.clone();
    let b = WorkersKvBackend::new(config).unwrap();
    fault(emulator, &namespace, json!({ "status": 429, "count": 5 })).await;
    let e = b.get(&key(&["limited"])).await.unwrap_err();
    assert_eq!(e.kind, ErrorKind::Busy, "{e}");
    assert!(
        e.message.contains("HTTP 429") && e.message.contains("after 2 attempts"),
        "{e}"
    );
    emulator.delete("/__test/faults").await;
}

/// 5xx answers are tried again; the call passes once the server is back.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn server_errors_are_retried() {
    let Some((b, emulator, namespace)) = backend().await else {
        return;
    };
    b.set(&key(&["kept"]), "7".into(), None).await.unwrap();
    fault(emulator, &namespace, json!({ "status": 503, "count": 2 })).await;
    assert_eq!(b.get(&key(&["kept"])).await.unwrap().as_deref(), Some("7"));
    fault(emulator, &namespace, json!({ "status": 500, "count": 2 })).await;
    let listed = list_all(&b, &[], 10).await;
    assert_eq!(listed.len(), 1);
}

/// A server that does not answer in time fails the call with the timeout,
/// and the next call works.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn silence_is_a_timeout() {
    let Some(emulator) = Emulator::shared() else {
        return;
    };
    let mut config = emulator.config().await;
    config.retries = 0;
    config.response_timeout = Duration::from_millis(300);
    let namespace = config.namespace_id.clone();
    let b = WorkersKvBackend::new(config).unwrap();
    fault(emulator, &namespace, json!({ "delayMs": 2000, "count": 1 })).await;
    let started = Instant::now();
    let e = b.get(&key(&["slow"])).await.unwrap_err();
    assert_eq!(e.kind, ErrorKind::Connection, "{e}");
    assert!(e.message.contains("within 300 ms"), "{e}");
    assert!(started.elapsed() < Duration::from_millis(1500));
    assert_eq!(b.get(&key(&["slow"])).await.unwrap(), None);
}

/// A refused token and an unknown namespace say what to check.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn refusals_say_what_to_check() {
    let Some(emulator) = Emulator::shared() else {
        return;
    };
    let mut config = emulator.config().await;
    config.api_token = "not-the-token".into();
    config.retries = 0;
    let e = WorkersKvBackend::new(config.clone())
        .unwrap()
        .initialize()
        .await
        .unwrap_err();
    assert_eq!(e.kind, ErrorKind::Connection, "{e}");
    assert!(
        e.message.contains("HTTP 403") && e.message.contains("API token"),
        "{e}"
    );
    assert!(
        !e.message.contains("not-the-token"),
        "no secret in messages: {e}"
    );

    let mut config = emulator.config().await;
    config.namespace_id = "0123456789abcdef0123456789abcdef".into();
    let b = WorkersKvBackend::new(config).unwrap();
    let e = b.initialize().await.unwrap_err();
    assert!(
        e.message.contains("HTTP 404") && e.message.contains("namespace id"),
        "{e}"
    );
    let e = b.get(&key(&["k"])).await.unwrap_err();
    assert_eq!(e.kind, ErrorKind::Connection, "{e}");

    let e = WorkersKvBackend::new(WorkersKvConfig::new(
        "acct/../x".into(),
        "n".into(),
        "t".into(),
    ))
    .err()
    .unwrap();
    assert_eq!(e.kind, ErrorKind::InvalidOption, "{e}");
    let e = WorkersKvBackend::new(WorkersKvConfig::new("a".into(), "n".into(), String::new()))
        .err()
        .unwrap();
    assert!(e.message.contains("CLOUDFLARE_API_TOKEN"), "{e}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn cas_is_unsupported() {
    let Some((b, _, _)) = backend().await else {
        return;
    };
    let e = b
        .cas(&key(&["c"]), None, Some("1".into()), None)
        .await
        .unwrap_err();
    assert_eq!(e.kind, ErrorKind::Unsupported);
    assert_eq!(
        b.get(&key(&["c"])).await.unwrap(),
        None,
        "cas wrote nothing"
    );
}

/// What others wrote into the namespace: keys that are not keys are left
/// out of listings; a value that is not JSON is an error naming its key.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn foreign_data() {
    let Some((b, emulator, namespace)) = backend().await else {
        return;
    };
    let put = |name: &str, value: &str| {
        emulator.post(
            "/__test/raw",
            json!({ "namespace": namespace, "op": "put", "key": name, "value": value }),
        )
    };
    put("__fedify_ordering_inbox", "1700000000000").await;
    put("[1,2]", "1").await;
    put(r#"["spaced", "key"]"#, "1").await;
    b.set(&key(&["mine"]), "1".into(), None).await.unwrap();
    let listed = list_all(&b, &[], 1000).await;
    assert_eq!(
        listed.iter().map(|e| e.key.clone()).collect::<Vec<_>>(),
        [key(&["mine"])]
    );

    put(r#"["bad"]"#, "not json").await;
    let e = b.get(&key(&["bad"])).await.unwrap_err();
    assert_eq!(e.kind, ErrorKind::InvalidData);
    assert!(e.message.contains(r#"["bad"]"#), "{e}");
    let e = b.list_page(&[], None, 100, Expiry::Skip).await.unwrap_err();
    assert_eq!(e.kind, ErrorKind::InvalidData);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn cloudflare_limits_are_checked_before_sending() {
    let Some((b, _, _)) = backend().await else {
        return;
    };
    let long = "k".repeat(MAX_KEY_BYTES);
    let e = b.set(&key(&[&long]), "1".into(), None).await.unwrap_err();
    assert_eq!(e.kind, ErrorKind::InvalidKey, "{e}");
    assert_eq!(
        b.get(&key(&[&long])).await.unwrap_err().kind,
        ErrorKind::InvalidKey
    );
    let big = format!("\"{}\"", "v".repeat(MAX_VALUE_BYTES));
    let e = b.set(&key(&["big"]), big, None).await.unwrap_err();
    assert_eq!(e.kind, ErrorKind::InvalidValue, "{e}");
}

/// Pages of one entry visit the exact prefix key and each child once,
/// across expired entries Cloudflare still lists.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn single_entry_pages() {
    let Some((b, _, _)) = backend().await else {
        return;
    };
    b.set(&key(&["p"]), "0".into(), None).await.unwrap();
    for i in 0..5 {
        let expiry = if i % 2 == 0 { None } else { ttl(20.0) };
        b.set(&key(&["p", &i.to_string()]), i.to_string(), expiry)
            .await
            .unwrap();
    }
    b.set(&key(&["q"]), "9".into(), None).await.unwrap();
    tokio::time::sleep(Duration::from_millis(60)).await;
    let listed = list_all(&b, &["p"], 1).await;
    assert_eq!(
        listed.iter().map(|e| e.value.as_str()).collect::<Vec<_>>(),
        ["0", "0", "2", "4"]
    );
}
