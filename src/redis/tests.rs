//! The Redis backend against the machine's Redis (`REDIS_URL`, shared:
//! every test under its own key prefix, and cleans up) and against servers
//! of the tests' own (a Cluster, a server to stop, a TLS server).

use super::test_servers::{self, Server};
use super::*;
use crate::conformance;
use crate::test_support::{server_url, unique_name};
use redis::aio::MultiplexedConnection;
use std::sync::Arc;
use std::time::{Duration, Instant};

fn shared_url() -> Option<String> {
    server_url("REDIS_URL", "redis://127.0.0.1:6379", 6379)
}

fn unique_prefix() -> String {
    format!("{}::", unique_name("fedikv_test"))
}

fn config(url: String) -> RedisConfig {
    let mut config = RedisConfig::standalone(url);
    config.key_prefix = unique_prefix();
    config
}

fn cluster_config(urls: Vec<String>) -> RedisConfig {
    let mut config = RedisConfig::cluster(urls);
    config.key_prefix = unique_prefix();
    config
}

fn key(parts: &[&str]) -> Key {
    Key::new(parts.iter().map(|s| s.to_string()).collect()).unwrap()
}

fn ms(ms: f64) -> Option<Ttl> {
    Some(Ttl::from_millis(ms).unwrap())
}

/// A connection of the test's own, to look at Redis directly.
async fn raw(url: &str) -> MultiplexedConnection {
    redis::Client::open(url)
        .unwrap()
        .get_multiplexed_async_connection()
        .await
        .unwrap()
}

use crate::conformance::list_all;

mod standalone {
    use super::*;
    conformance::suite!({
        let Some(url) = shared_url() else { return };
        RedisBackend::new(config(url)).unwrap()
    });
}

/// The suite again with the pipe up ([`pipe`]): the test's own calls go
/// through it, those of tasks it spawns on other threads through the
/// multiplexed connection.
mod standalone_pipe {
    use super::*;
    conformance::suite!(
        {
            let Some(url) = shared_url() else { return };
            RedisBackend::new(config(url)).unwrap()
        },
        on_pipe
    );
}

/// Runs `test` on this thread with the backend's pipe up and driven here.
async fn on_pipe(b: Arc<RedisBackend>, test: impl std::future::Future<Output = ()>) {
    let pipe = b.pipe.clone().expect("a plain standalone URL has a pipe");
    wait_for_pipe(&pipe).await;
    let io: Arc<dyn LocalIo> = pipe;
    tokio::select! {
        () = test => {}
        () = drive(io) => unreachable!("drives forever"),
    }
}

/// Waits until the pipe is up for this thread.
async fn wait_for_pipe(pipe: &Arc<Pipe>) {
    let deadline = Instant::now() + Duration::from_secs(5);
    while !pipe.usable_here() {
        assert!(Instant::now() < deadline, "the pipe did not come up");
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
}

/// What `src/exec/event_loop.rs` does with Node's event loop, done with tokio's
/// `AsyncFd`: watches the pipe's socket and says when it is ready, overdue
/// or to be let go.
async fn drive(io: Arc<dyn LocalIo>) {
    use tokio::io::unix::AsyncFd;
    use tokio::io::Interest;
    loop {
        let Some(watch) = io.watch() else {
            tokio::time::sleep(Duration::from_millis(1)).await;
            continue;
        };
        if watch.done {
            io.release(watch.fd);
            continue;
        }
        let interest = if watch.write {
            Interest::READABLE | Interest::WRITABLE
        } else {
            Interest::READABLE
        };
        // SAFETY: the pipe keeps the descriptor open until `release`,
        // which comes only after this registration is dropped.
        let fd = unsafe { AsyncFd::register_with_interest(watch.fd, interest) }
            .map_err(|e| e.to_string())
            .unwrap();
        // Commands sent meanwhile are written at the latest after this.
        let wait = watch.deadline.unwrap_or(Duration::from_millis(10));
        let (readable, writable, overdue) = tokio::select! {
            _ = fd.readable() => (true, false, false),
            _ = fd.writable(), if watch.write => (false, true, false),
            _ = tokio::time::sleep(wait) => (false, false, watch.deadline.is_some()),
        };
        drop(fd);
        if overdue {
            io.expire();
        }
        io.ready(readable, writable);
        // Answered calls run before the loop's next turn on Node; here
        // they run when this task yields.
        tokio::task::yield_now().await;
        io.ready(false, true);
    }
}

#[tokio::test]
async fn the_pipe_reads_replies_longer_than_its_buffer() {
    let Some(url) = shared_url() else { return };
    let b = Arc::new(RedisBackend::new(config(url)).unwrap());
    on_pipe(b.clone(), async {
        // One value of 300 KB; then 100 of 1.5 KB asked at once, whose
        // replies come in reads that each hold many.
        let long = format!("\"{}\"", "x".repeat(300_000));
        b.set(&key(&["long"]), long.clone(), None).await.unwrap();
        assert_eq!(b.get(&key(&["long"])).await.unwrap(), Some(long));
        let note = |i: usize| format!("{{\"i\":{i},\"content\":\"{}\"}}", "y".repeat(1500));
        for i in 0..100 {
            b.set(&key(&["n", &i.to_string()]), note(i), None)
                .await
                .unwrap();
        }
        let keys: Vec<Key> = (0..100).map(|i| key(&["n", &i.to_string()])).collect();
        let got = futures_util::future::join_all(keys.iter().map(|k| b.get(k))).await;
        for (i, value) in got.into_iter().enumerate() {
            assert_eq!(value.unwrap(), Some(note(i)));
        }
    })
    .await;
    let _ = b.drop_storage().await;
}

#[tokio::test]
async fn the_pipe_fails_what_is_overdue_or_cut_off_and_comes_back() {
    if !test_servers::redis_server_available() {
        return;
    }
    let mut server = Server::start(&[]);
    let mut config = config(server.url());
    config.connect_timeout = Duration::from_millis(500);
    config.response_timeout = Some(Duration::from_millis(300));
    let b = Arc::new(RedisBackend::new(config).unwrap());
    let pipe = b.pipe.clone().unwrap();
    let io: Arc<dyn LocalIo> = pipe.clone();
    let test = async {
        wait_for_pipe(&pipe).await;
        b.set(&key(&["k"]), "1".into(), None).await.unwrap();

        // Paused: the calls in flight fail at the response timeout.
        server.pause();
        let started = Instant::now();
        let (k, j) = (key(&["k"]), key(&["j"]));
        let (a, c) = tokio::join!(b.get(&k), b.set(&j, "2".into(), None));
        let elapsed = started.elapsed();
        server.unpause();
        for e in [a.unwrap_err(), c.unwrap_err()] {
            assert_eq!(e.kind, ErrorKind::Connection, "{e:?}");
            assert!(e.message.contains("within 300 ms"), "{}", e.message);
        }
        assert!(elapsed >= Duration::from_millis(300), "{elapsed:?}");
        assert!(elapsed < Duration::from_millis(1500), "{elapsed:?}");

        // The failed pipe is not used again; the other connection answers
        // meanwhile, and a new pipe comes up.
        assert_eq!(b.get(&key(&["k"])).await.unwrap().as_deref(), Some("1"));
        wait_for_pipe(&pipe).await;
        assert_eq!(b.get(&key(&["k"])).await.unwrap().as_deref(), Some("1"));

        // Killed: the calls in flight fail at once, as a lost connection.
        server.stop();
        let e = b.get(&key(&["k"])).await.unwrap_err();
        assert_eq!(e.kind, ErrorKind::Connection, "{e:?}");
        server.resume();
        wait_for_pipe(&pipe).await;
        assert_eq!(
            b.get(&key(&["k"])).await.unwrap(),
            None,
            "a new server, empty"
        );
        b.set(&key(&["k"]), "3".into(), None).await.unwrap();
        assert_eq!(b.get(&key(&["k"])).await.unwrap().as_deref(), Some("3"));

        // After close, the pipe lets go of its socket.
        b.close().await.unwrap();
        let deadline = Instant::now() + Duration::from_secs(2);
        while pipe.watch().is_some() {
            assert!(Instant::now() < deadline, "the socket was kept");
            tokio::time::sleep(Duration::from_millis(5)).await;
        }
    };
    tokio::select! {
        () = test => {}
        () = drive(io) => unreachable!(),
    }
}

mod cluster {
    use super::*;
    conformance::suite!({
        let Some(cluster) = test_servers::cluster() else {
            return;
        };
        RedisBackend::new(cluster_config(cluster.urls())).unwrap()
    });
}

/// The same suite with a hash-tag prefix: every key in one slot.
mod cluster_one_slot {
    use super::*;
    conformance::suite!({
        let Some(cluster) = test_servers::cluster() else {
            return;
        };
        let mut config = cluster_config(cluster.urls());
        config.key_prefix = format!("{{{}}}::", unique_name("fedikv_test"));
        RedisBackend::new(config).unwrap()
    });
}

#[tokio::test]
async fn writes_the_keys_and_values_of_fedify_redis() {
    let Some(url) = shared_url() else { return };
    let b = RedisBackend::new(config(url.clone())).unwrap();
    let p = b.prefix.clone();
    let mut r = raw(&url).await;
    b.set(&key(&["foo", "baz"]), r#""baz""#.into(), None)
        .await
        .unwrap();
    b.set(
        &key(&["_fedify", "remoteDocument", "https://example.com/a:b"]),
        r#"{"a":[1,"é"]}"#.into(),
        ms(1500.0),
    )
    .await
    .unwrap();
    // What @fedify/redis's own test expects: `${keyPrefix}foo::baz` = '"baz"'.
    let v: Option<String> = redis::cmd("GET")
        .arg(format!("{p}foo::baz"))
        .query_async(&mut r)
        .await
        .unwrap();
    assert_eq!(v.as_deref(), Some(r#""baz""#));
    let k = format!("{p}_fedify::remoteDocument::https_://example.com/a_:b");
    let v: Option<String> = redis::cmd("GET").arg(&k).query_async(&mut r).await.unwrap();
    assert_eq!(v.as_deref(), Some(r#"{"a":[1,"é"]}"#));
    // Millisecond TTL: 1.5 s, not rounded to whole seconds.
    let pttl: i64 = redis::cmd("PTTL")
        .arg(&k)
        .query_async(&mut r)
        .await
        .unwrap();
    assert!((1400..=1500).contains(&pttl), "{pttl}");
    let mut keys: Vec<String> = redis::cmd("KEYS")
        .arg(format!("{}*", keys::glob_escape(&p)))
        .query_async(&mut r)
        .await
        .unwrap();
    keys.sort();
    assert_eq!(keys, [k, format!("{p}foo::baz")]);
    b.drop_storage().await.unwrap();
}

#[tokio::test]
async fn reads_what_fedify_redis_writes() {
    let Some(url) = shared_url() else { return };
    let b = RedisBackend::new(config(url.clone())).unwrap();
    let p = b.prefix.clone();
    let mut r = raw(&url).await;
    // As in @fedify/redis's tests: `redis.set(`${keyPrefix}foo::bar`, '"foobar"')`;
    // its `set` with a TTL sends SETEX with whole seconds.
    let writes = [
        (format!("{p}foo::bar"), r#""foobar""#),
        (format!("{p}a_:::b"), "1"),
        (format!("{p}a_::_:b"), "2"),
        (format!("{p}a_:"), "3"),
    ];
    for (k, v) in &writes {
        redis::cmd("SET")
            .arg(k)
            .arg(v)
            .exec_async(&mut r)
            .await
            .unwrap();
    }
    redis::cmd("SETEX")
        .arg(format!("{p}ttl"))
        .arg(60)
        .arg("true")
        .exec_async(&mut r)
        .await
        .unwrap();
    assert_eq!(
        b.get(&key(&["foo", "bar"])).await.unwrap().as_deref(),
        Some(r#""foobar""#)
    );
    assert_eq!(
        b.get(&key(&["ttl"])).await.unwrap().as_deref(),
        Some("true")
    );
    // Keys @fedify/redis itself would split wrongly read back exactly.
    assert_eq!(
        b.get(&key(&["a:", "b"])).await.unwrap().as_deref(),
        Some("1")
    );
    assert_eq!(
        b.get(&key(&["a_", ":b"])).await.unwrap().as_deref(),
        Some("2")
    );
    let mut listed: Vec<(Vec<String>, String)> = list_all(&b, &["a:"], 10)
        .await
        .into_iter()
        .map(|e| (e.key.into_parts(), e.value))
        .collect();
    listed.sort();
    assert_eq!(
        listed,
        [
            (vec!["a:".to_owned()], "3".to_owned()),
            (vec!["a:".to_owned(), "b".to_owned()], "1".to_owned())
        ]
    );
    b.drop_storage().await.unwrap();
}

#[tokio::test]
async fn keys_that_are_not_entries_are_skipped() {
    let Some(url) = shared_url() else { return };
    let b = RedisBackend::new(config(url.clone())).unwrap();
    let p = b.prefix.clone();
    let mut r = raw(&url).await;
    b.set(&key(&["ok"]), "1".into(), None).await.unwrap();
    // Not the encoding of any key, and not a string.
    for k in [format!("{p}a:b"), format!("{p}x:::y")] {
        redis::cmd("SET")
            .arg(&k)
            .arg("0")
            .exec_async(&mut r)
            .await
            .unwrap();
    }
    redis::cmd("RPUSH")
        .arg(format!("{p}list"))
        .arg("x")
        .exec_async(&mut r)
        .await
        .unwrap();
    let listed = list_all(&b, &[], 1).await;
    assert_eq!(
        listed.into_iter().map(|e| e.key).collect::<Vec<_>>(),
        [key(&["ok"])]
    );
    assert_eq!(
        b.get(&key(&["list"])).await.unwrap_err().kind,
        ErrorKind::InvalidData
    );
    b.drop_storage().await.unwrap();
    // drop_storage leaves what is not the store's alone (a list is no
    // value of Fedify's either).
    let left: i64 = redis::cmd("DEL")
        .arg(format!("{p}a:b"))
        .arg(format!("{p}x:::y"))
        .arg(format!("{p}list"))
        .query_async(&mut r)
        .await
        .unwrap();
    assert_eq!(left, 3);
}

#[tokio::test]
async fn a_list_prefix_with_glob_characters_matches_only_itself() {
    let Some(url) = shared_url() else { return };
    let b = RedisBackend::new(config(url)).unwrap();
    for k in [
        &["a*"][..],
        &["a*", "x"],
        &["ab"],
        &["a?"],
        &["[a]"],
        &["a"],
        &["\\"],
        &["\\", "x"],
    ] {
        b.set(&key(k), "0".into(), None).await.unwrap();
    }
    let keys = |entries: Vec<Entry>| {
        let mut keys: Vec<Key> = entries.into_iter().map(|e| e.key).collect();
        keys.sort();
        keys
    };
    assert_eq!(
        keys(list_all(&b, &["a*"], 10).await),
        [key(&["a*"]), key(&["a*", "x"])]
    );
    assert_eq!(keys(list_all(&b, &["a?"], 10).await), [key(&["a?"])]);
    assert_eq!(keys(list_all(&b, &["[a]"], 10).await), [key(&["[a]"])]);
    assert_eq!(
        keys(list_all(&b, &["\\"], 10).await),
        [key(&["\\"]), key(&["\\", "x"])]
    );
    assert_eq!(list_all(&b, &[], 3).await.len(), 8);
    b.drop_storage().await.unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn pages_of_one_carry_the_rest_of_a_scan_in_the_cursor() {
    let Some(url) = shared_url() else { return };
    let b = RedisBackend::new(config(url)).unwrap();
    for i in 0..40 {
        b.set(&key(&["k", &i.to_string()]), i.to_string(), None)
            .await
            .unwrap();
    }
    let mut seen: Vec<String> = list_all(&b, &["k"], 1)
        .await
        .into_iter()
        .map(|e| e.value)
        .collect();
    seen.sort();
    let mut expected: Vec<String> = (0..40).map(|i: i32| i.to_string()).collect();
    expected.sort();
    assert_eq!(seen, expected);
    b.drop_storage().await.unwrap();
}

async fn cas_race_on_an_absent_key(b: Arc<RedisBackend>) {
    let k = key(&["race"]);
    let tasks: Vec<_> = (0..20)
        .map(|i| {
            let b = b.clone();
            let k = k.clone();
            tokio::spawn(async move { (i, b.cas(&k, None, Some(i.to_string()), None).await) })
        })
        .collect();
    let mut winners = Vec::new();
    for t in tasks {
        let (i, won) = t.await.unwrap();
        if won.unwrap() {
            winners.push(i);
        }
    }
    assert_eq!(winners.len(), 1, "{winners:?}");
    assert_eq!(b.get(&k).await.unwrap(), Some(winners[0].to_string()));
    b.drop_storage().await.unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn exactly_one_of_20_cas_on_an_absent_key_wins() {
    let Some(url) = shared_url() else { return };
    cas_race_on_an_absent_key(Arc::new(RedisBackend::new(config(url)).unwrap())).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn exactly_one_of_20_cas_on_an_absent_key_wins_in_a_cluster() {
    let Some(cluster) = test_servers::cluster() else {
        return;
    };
    let b = RedisBackend::new(cluster_config(cluster.urls())).unwrap();
    cas_race_on_an_absent_key(Arc::new(b)).await;
}

/// Values nested deeper than the script's JSON library reads are compared
/// outside it, and the swap stays atomic: 8 loops of 10 increments of a
/// counter 1100 levels deep, each expecting its members in another order
/// than stored, end at exactly 80.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn cas_of_values_deeper_than_the_script_reads_stays_atomic() {
    let Some(url) = shared_url() else { return };
    let b = Arc::new(RedisBackend::new(config(url)).unwrap());
    let k = key(&["deep-counter"]);
    let deep = |n: u32, reversed: bool| {
        let inner = if reversed {
            format!("{{\"pad\":0,\"n\":{n}}}")
        } else {
            format!("{{\"n\":{n},\"pad\":0}}")
        };
        format!("{}{inner}{}", "[".repeat(1100), "]".repeat(1100))
    };
    b.set(&k, deep(0, false), None).await.unwrap();
    let loops: Vec<_> = (0..8)
        .map(|_| {
            let (b, k) = (b.clone(), k.clone());
            tokio::spawn(async move {
                for _ in 0..10 {
                    loop {
                        let text = b.get(&k).await.unwrap().unwrap();
                        let n: u32 = text
                            .trim_matches(['[', ']', '{', '}'])
                            .split(',')
                            .find_map(|m| m.strip_prefix("\"n\":"))
                            .unwrap()
                            .parse()
                            .unwrap();
                        if b.cas(&k, Some(&deep(n, true)), Some(deep(n + 1, false)), None)
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
    for l in loops {
        l.await.unwrap();
    }
    assert_eq!(b.get(&k).await.unwrap(), Some(deep(80, false)));
    b.drop_storage().await.unwrap();
}

#[tokio::test]
async fn cas_compares_json_in_the_script() {
    let Some(url) = shared_url() else { return };
    let b = RedisBackend::new(config(url.clone())).unwrap();
    let k = key(&["cas"]);
    let cases: &[(&str, &str, bool)] = &[
        ("[]", "{}", false),
        ("{}", "[]", false),
        ("[[]]", "[{}]", false),
        (r#"{"a":[]}"#, r#"{"a":{}}"#, false),
        (r#"["a"]"#, r#"{"1":"a"}"#, false),
        ("[1,2]", "[2,1]", false),
        ("[null]", "[]", false),
        (r#"{"a":null}"#, "{}", false),
        ("1", "\"1\"", false),
        ("true", "1", false),
        (r#""[]""#, r#""{}""#, false),
        ("[]", " [ ] ", true),
        ("1", "1.0", true),
        ("100", "1e2", true),
        (
            r#"{"a":1,"b":[{"c":[]}]}"#,
            r#"{"b":[{"c":[]}],"a":1.0}"#,
            true,
        ),
        (r#""é\n""#, r#""\u00e9\u000a""#, true),
        (r#"{"x":"[\"]"}"#, r#"{ "x" : "[\"]" }"#, true),
        (r#"{"a":1,"a":2}"#, r#"{"a":2}"#, true),
        // Lone surrogates, which cjson refuses, are code units like others.
        (r#"{"a":"\ud800","b":1}"#, r#"{"b":1,"a":"\ud800"}"#, true),
        (r#"["\udc00x"]"#, r#"[ "\udc00x" ]"#, true),
        (r#""\ud800""#, r#""\udc00""#, false),
        (r#"["\ud800"]"#, r#"["\ud800\udc00"]"#, false),
        (r#"["\ud83d\ude00", 1]"#, "[\"😀\",1]", true),
        (r#"["\\ud800", 1]"#, r#"["\\ud800",1.0]"#, true),
        (r#"["\\ud800"]"#, r#"["\ud800"]"#, false),
    ];
    for &(stored, expected, equal) in cases {
        b.set(&k, stored.into(), None).await.unwrap();
        assert_eq!(
            b.cas(&k, Some(expected), Some("\"swapped\"".into()), None)
                .await
                .unwrap(),
            equal,
            "{stored} vs {expected}"
        );
        let now = b.get(&k).await.unwrap().unwrap();
        assert_eq!(now == "\"swapped\"", equal);
        // The Rust comparison agrees with the script's.
        assert_eq!(
            crate::json::json_text_equal(stored, expected).unwrap(),
            equal,
            "{stored} vs {expected}"
        );
    }
    // cjson decodes 1000 levels: deeper values are unequal to shallower
    // ones, and two of them are compared outside the script.
    let deep = |n: usize, inner: &str| format!("{}{inner}{}", "[".repeat(n), "]".repeat(n));
    b.set(&k, deep(1200, "{\"a\":1,\"b\":2}"), None)
        .await
        .unwrap();
    assert!(!b
        .cas(&k, Some(&deep(1, "1")), Some("2".into()), None)
        .await
        .unwrap());
    assert!(!b
        .cas(&k, Some(&deep(1000, "1")), Some("2".into()), None)
        .await
        .unwrap());
    assert!(!b
        .cas(
            &k,
            Some(&deep(1200, "{\"b\":2,\"a\":3}")),
            Some("2".into()),
            None
        )
        .await
        .unwrap());
    assert!(b
        .cas(
            &k,
            Some(&deep(1200, "{\"b\":2,\"a\":1}")),
            Some("2".into()),
            None
        )
        .await
        .unwrap());
    assert_eq!(b.get(&k).await.unwrap().as_deref(), Some("2"));
    b.set(&k, deep(1200, "{\"a\":1,\"b\":2}"), None)
        .await
        .unwrap();
    assert!(b
        .cas(
            &k,
            Some(&deep(1200, "{\"a\":1,\"b\":2}")),
            Some("2".into()),
            None
        )
        .await
        .unwrap());
    b.set(&k, deep(999, "{\"a\":1,\"b\":2}"), None)
        .await
        .unwrap();
    assert!(b
        .cas(
            &k,
            Some(&deep(999, "{\"b\":2,\"a\":1}")),
            Some("2".into()),
            None
        )
        .await
        .unwrap());
    // A stored value that is not JSON cannot be compared.
    let mut r = raw(&url).await;
    redis::cmd("SET")
        .arg(b.redis_key(&k))
        .arg("not json")
        .exec_async(&mut r)
        .await
        .unwrap();
    assert_eq!(
        b.cas(&k, Some("1"), Some("2".into()), None)
            .await
            .unwrap_err()
            .kind,
        ErrorKind::InvalidData
    );
    // The same text is equal whatever it is.
    assert!(b
        .cas(&k, Some("not json"), Some("2".into()), ms(1500.0))
        .await
        .unwrap());
    let pttl: i64 = redis::cmd("PTTL")
        .arg(b.redis_key(&k))
        .query_async(&mut r)
        .await
        .unwrap();
    assert!((1400..=1500).contains(&pttl), "{pttl}");
    b.drop_storage().await.unwrap();
}

#[tokio::test]
async fn a_ttl_of_one_and_a_half_seconds() {
    let Some(url) = shared_url() else { return };
    let b = RedisBackend::new(config(url)).unwrap();
    let k = key(&["ttl"]);
    b.set(&k, "1".into(), ms(1500.0)).await.unwrap();
    tokio::time::sleep(Duration::from_millis(1200)).await;
    assert_eq!(b.get(&k).await.unwrap().as_deref(), Some("1"));
    tokio::time::sleep(Duration::from_millis(500)).await;
    assert_eq!(b.get(&k).await.unwrap(), None);
    // A zero TTL: gone at once.
    b.set(&k, "2".into(), None).await.unwrap();
    b.set(&k, "3".into(), ms(0.0)).await.unwrap();
    assert_eq!(b.get(&k).await.unwrap(), None);
    assert!(b.cas(&k, None, Some("4".into()), ms(0.0)).await.unwrap());
    assert_eq!(b.get(&k).await.unwrap(), None);
    b.drop_storage().await.unwrap();
}

#[test]
fn bad_urls_and_options_are_refused_without_showing_the_password() {
    for url in [
        "",
        "localhost:6379",
        "u:hunter2@localhost:6379",
        "http://u:hunter2@localhost",
        "redis://u:hunter2@localhost:notaport",
        "redis://u:hunter2@localhost/notadb",
    ] {
        let err = RedisBackend::new(RedisConfig::standalone(url)).unwrap_err();
        assert_eq!(err.kind, ErrorKind::InvalidOption, "{url}");
        assert!(err.message.starts_with("Redis: "), "{}", err.message);
        assert!(!err.message.contains("hunter2"), "{}", err.message);
    }
    let err = RedisBackend::new(RedisConfig::cluster(Vec::<String>::new())).unwrap_err();
    assert_eq!(err.kind, ErrorKind::InvalidOption);
    let err = RedisBackend::new(RedisConfig::cluster(["redis://a:1", "nope"])).unwrap_err();
    assert_eq!(err.kind, ErrorKind::InvalidOption);
    // Nodes with different credentials: every password stays hidden.
    let err = RedisBackend::new(RedisConfig::cluster([
        "redis://u:hunter1@a:1",
        "redis://v:hunter2@b:2",
    ]))
    .unwrap_err();
    assert_eq!(err.kind, ErrorKind::InvalidOption);
    assert!(!err.message.contains("hunter"), "{}", err.message);

    let mut c = RedisConfig::standalone("redis://127.0.0.1");
    c.key_prefix = "fedify*".into();
    assert_eq!(
        RedisBackend::new(c).unwrap_err().kind,
        ErrorKind::InvalidOption
    );
    let mut c = RedisConfig::standalone("redis://127.0.0.1");
    c.connect_timeout = Duration::ZERO;
    assert_eq!(
        RedisBackend::new(c).unwrap_err().kind,
        ErrorKind::InvalidOption
    );

    // Valid URLs need no server to build a store.
    for url in [
        "redis://127.0.0.1",
        "redis://:pw@127.0.0.1:6380/2",
        "redis://user:pw@localhost",
        "rediss://user:pw@example.com:6380",
        "rediss://example.com/#insecure",
    ] {
        RedisBackend::new(RedisConfig::standalone(url)).unwrap();
    }
    RedisBackend::new(RedisConfig::cluster(["redis://a:7000", "redis://b:7001"])).unwrap();
}

#[test]
fn debug_masks_the_password() {
    let c = RedisConfig::standalone("redis://user:hunter2@host:6379/0");
    let text = format!("{c:?}");
    assert!(text.contains("redis://user:***@host:6379/0"), "{text}");
    assert!(!text.contains("hunter2"));
    let c = RedisConfig::cluster(["redis://:hunter2@a:1", "rediss://b:2"]);
    let text = format!("{c:?}");
    assert!(text.contains("redis://:***@a:1, rediss://b:2"), "{text}");
}

fn quick(url: String) -> RedisConfig {
    let mut c = config(url);
    c.connect_timeout = Duration::from_millis(500);
    c.response_timeout = Some(Duration::from_millis(500));
    c
}

#[tokio::test]
async fn an_unreachable_server_is_a_connection_error_within_the_timeout() {
    let port = crate::test_support::free_port();
    let b = RedisBackend::new(quick(format!("redis://:hunter2@127.0.0.1:{port}"))).unwrap();
    let started = Instant::now();
    let err = b.get(&key(&["a"])).await.unwrap_err();
    assert!(started.elapsed() < Duration::from_millis(500));
    assert_eq!(err.kind, ErrorKind::Connection);
    assert!(
        err.message
            .starts_with("Redis: cannot connect to 127.0.0.1:"),
        "{}",
        err.message
    );
    assert!(!err.message.contains("hunter2"), "{}", err.message);
    // The cluster client too.
    let b = RedisBackend::new({
        let mut c = cluster_config(vec![format!("redis://:hunter2@127.0.0.1:{port}")]);
        c.connect_timeout = Duration::from_millis(500);
        c
    })
    .unwrap();
    let started = Instant::now();
    let err = b.get(&key(&["a"])).await.unwrap_err();
    assert!(
        started.elapsed() < Duration::from_millis(1000),
        "{:?}",
        started.elapsed()
    );
    assert_eq!(err.kind, ErrorKind::Connection, "{}", err.message);
    assert!(!err.message.contains("hunter2"), "{}", err.message);
}

#[tokio::test]
async fn a_server_that_never_answers_is_a_connection_error_within_the_timeouts() {
    // Accepts connections and reads, but never says a word.
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let port = listener.local_addr().unwrap().port();
    let silent = tokio::spawn(async move {
        let mut held = Vec::new();
        while let Ok((socket, _)) = listener.accept().await {
            held.push(socket);
        }
    });
    let b = RedisBackend::new(quick(format!("redis://127.0.0.1:{port}"))).unwrap();
    for _ in 0..2 {
        let started = Instant::now();
        let err = b.get(&key(&["a"])).await.unwrap_err();
        assert!(
            started.elapsed() < Duration::from_millis(1100),
            "{:?}",
            started.elapsed()
        );
        assert_eq!(err.kind, ErrorKind::Connection, "{}", err.message);
    }
    silent.abort();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_store_recovers_when_the_server_returns() {
    if !test_servers::redis_server_available() {
        return;
    }
    let mut server = Server::start(&[]);
    let b = RedisBackend::new(quick(server.url())).unwrap();
    let k = key(&["k"]);
    b.set(&k, "1".into(), None).await.unwrap();
    server.stop();
    for _ in 0..3 {
        let started = Instant::now();
        let err = b.set(&k, "2".into(), None).await.unwrap_err();
        assert_eq!(err.kind, ErrorKind::Connection, "{}", err.message);
        assert!(started.elapsed() < Duration::from_millis(1100));
    }
    server.resume();
    // The first operation after the server is back succeeds (its data is
    // gone: the test server keeps nothing).
    b.set(&k, "3".into(), None).await.unwrap();
    assert_eq!(b.get(&k).await.unwrap().as_deref(), Some("3"));
    b.close().await.unwrap();
    assert_eq!(b.get(&k).await.unwrap_err().kind, ErrorKind::Closed);
}

#[tokio::test]
async fn passwords_work_and_a_wrong_one_is_a_connection_error_without_it() {
    if !test_servers::redis_server_available() {
        return;
    }
    let server = Server::start(&["--requirepass", "s3cret"]);
    let port = server.port;
    for url in [
        format!("redis://:s3cret@127.0.0.1:{port}"),
        format!("redis://default:s3cret@127.0.0.1:{port}"),
    ] {
        let b = RedisBackend::new(quick(url)).unwrap();
        b.set(&key(&["a"]), "1".into(), None).await.unwrap();
        assert_eq!(b.get(&key(&["a"])).await.unwrap().as_deref(), Some("1"));
    }
    for url in [
        format!("redis://:hunter2@127.0.0.1:{port}"),
        format!("redis://127.0.0.1:{port}"),
    ] {
        let b = RedisBackend::new(quick(url)).unwrap();
        let err = b.get(&key(&["a"])).await.unwrap_err();
        assert_eq!(err.kind, ErrorKind::Connection, "{}", err.message);
        assert!(!err.message.contains("hunter2"), "{}", err.message);
    }
}

#[tokio::test]
async fn rediss_urls_speak_tls() {
    if !test_servers::redis_server_available() {
        return;
    }
    let certs = tempfile::tempdir().unwrap();
    let (cert, key_file) = (certs.path().join("cert.pem"), certs.path().join("key.pem"));
    let made = std::process::Command::new("openssl")
        .args([
            "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "1",
        ])
        .args(["-subj", "/CN=127.0.0.1", "-keyout"])
        .arg(&key_file)
        .arg("-out")
        .arg(&cert)
        .stderr(std::process::Stdio::null())
        .status();
    if !made.is_ok_and(|s| s.success()) {
        eprintln!("skipped: openssl cannot make a test certificate");
        return;
    }
    let tls_port = crate::test_support::free_port().to_string();
    let server = Server::start(&[
        "--tls-port",
        &tls_port,
        "--tls-cert-file",
        cert.to_str().unwrap(),
        "--tls-key-file",
        key_file.to_str().unwrap(),
        "--tls-auth-clients",
        "no",
    ]);
    // The self-signed certificate is refused unless the URL says #insecure.
    let b = RedisBackend::new(quick(format!("rediss://127.0.0.1:{tls_port}"))).unwrap();
    let err = b.get(&key(&["a"])).await.unwrap_err();
    assert_eq!(err.kind, ErrorKind::Connection, "{}", err.message);
    let b = RedisBackend::new(quick(format!("rediss://127.0.0.1:{tls_port}/#insecure"))).unwrap();
    b.set(&key(&["a"]), "1".into(), None).await.unwrap();
    assert_eq!(b.get(&key(&["a"])).await.unwrap().as_deref(), Some("1"));
    // And plain text on the other port.
    let plain = RedisBackend::new(config(server.url())).unwrap();
    assert_eq!(plain.get(&key(&["a"])).await.unwrap(), None);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_cluster_listing_visits_every_master() {
    let Some(cluster) = test_servers::cluster() else {
        return;
    };
    let b = RedisBackend::new(cluster_config(cluster.urls())).unwrap();
    for i in 0..200 {
        b.set(&key(&["n", &i.to_string()]), i.to_string(), None)
            .await
            .unwrap();
    }
    // The keys spread over the masters.
    let mut per_node = Vec::new();
    for url in cluster.urls() {
        let mut r = raw(&url).await;
        let keys: Vec<String> = redis::cmd("KEYS")
            .arg(format!("{}*", keys::glob_escape(&b.prefix)))
            .query_async(&mut r)
            .await
            .unwrap();
        per_node.push(keys.len());
    }
    assert_eq!(per_node.iter().sum::<usize>(), 200);
    assert!(per_node.iter().all(|&n| n > 20), "{per_node:?}");
    for page_size in [1, 7, 256] {
        let mut values: Vec<i32> = list_all(&b, &["n"], page_size)
            .await
            .into_iter()
            .map(|e| e.value.parse().unwrap())
            .collect();
        values.sort();
        assert_eq!(
            values,
            (0..200).collect::<Vec<_>>(),
            "page size {page_size}"
        );
    }
    b.drop_storage().await.unwrap();
    assert!(list_all(&b, &[], 100).await.is_empty());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_cluster_store_recovers_when_its_nodes_return() {
    if !test_servers::redis_server_available() {
        return;
    }
    let mut cluster = test_servers::Cluster::start();
    let mut c = cluster_config(cluster.urls());
    c.connect_timeout = Duration::from_millis(500);
    c.response_timeout = Some(Duration::from_millis(1000));
    let b = RedisBackend::new(c).unwrap();
    let k = key(&["k"]);
    b.set(&k, "1".into(), None).await.unwrap();
    cluster.stop();
    for _ in 0..3 {
        let started = Instant::now();
        let err = b.set(&k, "2".into(), None).await.unwrap_err();
        assert_eq!(err.kind, ErrorKind::Connection, "{}", err.message);
        assert!(
            started.elapsed() < Duration::from_millis(1600),
            "{:?}",
            started.elapsed()
        );
    }
    cluster.resume();
    b.set(&k, "3".into(), None).await.unwrap();
    assert_eq!(b.get(&k).await.unwrap().as_deref(), Some("3"));
    assert_eq!(list_all(&b, &[], 10).await.len(), 1);
}

#[tokio::test]
async fn a_cluster_node_given_as_a_standalone_server_says_so() {
    let Some(cluster) = test_servers::cluster() else {
        return;
    };
    let b = RedisBackend::new(config(cluster.urls()[0].clone())).unwrap();
    // Some of these keys live on other nodes: MOVED.
    let mut moved = None;
    for i in 0..20 {
        if let Err(e) = b.get(&key(&[&i.to_string()])).await {
            moved = Some(e);
            break;
        }
    }
    let err = moved.expect("a key on another node");
    assert_eq!(err.kind, ErrorKind::Backend);
    assert!(err.message.contains("Redis Cluster"), "{}", err.message);
}

/// Rough numbers, by hand: `cargo test --lib redis::tests::throughput --
/// --ignored --nocapture` (a debug build; for comparisons, not records).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[ignore]
async fn throughput() {
    let Some(url) = shared_url() else { return };
    let b = Arc::new(RedisBackend::new(config(url)).unwrap());
    const N: usize = 10_000;
    const TASKS: usize = 64;
    async fn timed<F, Fut>(what: &str, b: &Arc<RedisBackend>, op: F)
    where
        F: Fn(Arc<RedisBackend>, usize) -> Fut + Clone + Send + 'static,
        Fut: Future<Output = ()> + Send,
    {
        let started = Instant::now();
        let tasks: Vec<_> = (0..TASKS)
            .map(|t| {
                let (b, op) = (b.clone(), op.clone());
                tokio::spawn(async move {
                    for i in (t..N).step_by(TASKS) {
                        op(b.clone(), i).await;
                    }
                })
            })
            .collect();
        for t in tasks {
            t.await.unwrap();
        }
        let secs = started.elapsed().as_secs_f64();
        eprintln!("{what}: {:.0} ops/s", N as f64 / secs);
    }
    timed("set", &b, |b, i| async move {
        b.set(&key(&["t", &i.to_string()]), format!("{{\"i\":{i}}}"), None)
            .await
            .unwrap();
    })
    .await;
    timed("get", &b, |b, i| async move {
        b.get(&key(&["t", &i.to_string()])).await.unwrap().unwrap();
    })
    .await;
    timed("cas", &b, |b, i| async move {
        let k = key(&["t", &i.to_string()]);
        assert!(b
            .cas(
                &k,
                Some(&format!("{{ \"i\" : {i}.0 }}")),
                Some("0".into()),
                None
            )
            .await
            .unwrap());
    })
    .await;
    let started = Instant::now();
    assert_eq!(list_all(&*b, &["t"], 256).await.len(), N);
    eprintln!(
        "list: {:.0} entries/s in pages of 256",
        N as f64 / started.elapsed().as_secs_f64()
    );
    b.drop_storage().await.unwrap();
}
