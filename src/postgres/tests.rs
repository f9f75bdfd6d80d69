use super::*;
use crate::conformance;
use crate::json::json_text_equal;
use crate::test_support::{server_url, unique_name};
use sqlx_postgres::{PgPool, PgPoolOptions};
use std::time::Instant;

/// SQL with a test's table name in it.
macro_rules! sqlf {
    ($($t:tt)*) => {
        sqlx_core::sql_str::AssertSqlSafe(format!($($t)*))
    };
}

const DEFAULT_URL: &str = "postgres://postgres@127.0.0.1:5432/test";

fn url() -> Option<String> {
    server_url("POSTGRES_URL", DEFAULT_URL, 5432)
}

fn config(url: &str) -> PostgresConfig {
    PostgresConfig {
        table: unique_name("fedikv_test"),
        ..PostgresConfig::new(url)
    }
}

fn key(parts: &[&str]) -> Key {
    Key::new(parts.iter().map(|s| s.to_string()).collect()).unwrap()
}

fn ms(ms: f64) -> Option<Ttl> {
    Some(Ttl::from_millis(ms).unwrap())
}

/// A connection of the test's own, to look at the table from outside.
async fn raw(url: &str) -> PgPool {
    PgPoolOptions::new()
        .max_connections(2)
        .connect(url)
        .await
        .unwrap()
}

mod contract {
    use super::*;
    conformance::suite!({
        let Some(url) = url() else { return };
        PostgresBackend::new(config(&url)).unwrap()
    });
}

#[tokio::test]
async fn writes_the_layout_of_fedify_postgres() {
    let Some(url) = url() else { return };
    let cfg = config(&url);
    let table = cfg.table.clone();
    let b = PostgresBackend::new(cfg).unwrap();
    b.set(&key(&["a", "b\"c"]), r#"{"x":1}"#.into(), ms(1500.5))
        .await
        .unwrap();
    b.set(&key(&["n"]), "null".into(), None).await.unwrap();

    let db = raw(&url).await;
    let columns: Vec<(String, String, String, Option<String>)> = query_as(
        "SELECT column_name::text, data_type::text, is_nullable::text, column_default::text \
         FROM information_schema.columns WHERE table_name = $1 ORDER BY ordinal_position",
    )
    .bind(&table)
    .fetch_all(&db)
    .await
    .unwrap();
    let columns: Vec<_> = columns
        .iter()
        .map(|(n, t, null, d)| (n.as_str(), t.as_str(), null.as_str(), d.as_deref()))
        .collect();
    assert_eq!(
        columns,
        [
            ("key", "ARRAY", "NO", None),
            ("value", "jsonb", "NO", None),
            (
                "created",
                "timestamp with time zone",
                "YES",
                Some("CURRENT_TIMESTAMP")
            ),
            ("ttl", "interval", "YES", None),
        ]
    );
    let primary_key: String = query_scalar(
        "SELECT pg_get_constraintdef(oid) FROM pg_constraint \
         WHERE conrelid = to_regclass($1) AND contype = 'p'",
    )
    .bind(&table)
    .fetch_one(&db)
    .await
    .unwrap();
    assert_eq!(primary_key, "PRIMARY KEY (key)");
    let persistence: String =
        query_scalar("SELECT relpersistence::text FROM pg_class WHERE oid = to_regclass($1)")
            .bind(&table)
            .fetch_one(&db)
            .await
            .unwrap();
    assert_eq!(persistence, "p");

    let (value, ttl, created_recently): (String, String, bool) = query_as(sqlf!(
        "SELECT value::text, ttl::text, created > now() - interval '1 minute' \
         FROM \"{table}\" WHERE key = ARRAY['a', 'b\"c']"
    ))
    .fetch_one(&db)
    .await
    .unwrap();
    assert_eq!(value, r#"{"x": 1}"#);
    // 1500.5 ms, rounded up to whole milliseconds.
    assert_eq!(ttl, "00:00:01.501");
    assert!(created_recently);
    let ttl: Option<String> = query_scalar(sqlf!(
        "SELECT ttl::text FROM \"{table}\" WHERE key = '{{n}}'"
    ))
    .fetch_one(&db)
    .await
    .unwrap();
    assert_eq!(ttl, None);
    b.drop_storage().await.unwrap();
}

/// The statements of `@fedify/postgres` (postgres.js sends the key as a
/// `text[]`, the value as JSON, and the TTL as `Temporal.Duration`'s ISO
/// 8601 text, which the server parses as an interval).
#[tokio::test]
async fn reads_rows_written_the_fedify_way() {
    let Some(url) = url() else { return };
    let cfg = config(&url);
    let table = cfg.table.clone();
    let b = PostgresBackend::new(cfg).unwrap();
    b.initialize().await.unwrap();
    let db = raw(&url).await;
    let fedify_set = format!(
        "INSERT INTO \"{table}\" (key, value, ttl) VALUES ($1, $2::jsonb, $3::text::interval) \
         ON CONFLICT (key) DO UPDATE SET value = EXCLUDED.value, \
         created = CURRENT_TIMESTAMP, ttl = EXCLUDED.ttl"
    );
    let rows: [(&[&str], &str, Option<&str>); 6] = [
        (&["fedify", "plain"], r#"{"b": [1, 2.5], "a": "x y"}"#, None),
        (&["fedify", "day"], "1", Some("P1D")),
        (&["fedify", "fraction"], "2", Some("PT59.5S")),
        (&["fedify", "gone"], "3", Some("PT0.001S")),
        (&["fedify", "mixed"], "4", Some("P1DT2H3M4.005S")),
        (&["other"], "5", None),
    ];
    for (parts, value, ttl) in rows {
        query(sqlx_core::sql_str::AssertSqlSafe(fedify_set.clone()))
            .bind(parts)
            .bind(value)
            .bind(ttl)
            .execute(&db)
            .await
            .unwrap();
    }
    tokio::time::sleep(Duration::from_millis(20)).await;

    let plain = b.get(&key(&["fedify", "plain"])).await.unwrap().unwrap();
    assert!(json_text_equal(&plain, r#"{"a":"x y","b":[1,2.5]}"#).unwrap());
    assert_eq!(plain, r#"{"a":"x y","b":[1,2.5]}"#);
    assert_eq!(
        b.get(&key(&["fedify", "day"])).await.unwrap().as_deref(),
        Some("1")
    );
    assert_eq!(b.get(&key(&["fedify", "gone"])).await.unwrap(), None);
    let listed: Vec<Key> = b
        .list_page(&["fedify".into()], None, 100, Expiry::Skip)
        .await
        .unwrap()
        .entries
        .into_iter()
        .map(|e| e.key)
        .collect();
    assert_eq!(
        listed,
        [
            key(&["fedify", "day"]),
            key(&["fedify", "fraction"]),
            key(&["fedify", "mixed"]),
            key(&["fedify", "plain"]),
        ]
    );
    // Fedify's cas from a value, and fedikv's on Fedify's row.
    assert!(b
        .cas(
            &key(&["fedify", "day"]),
            Some("1.0"),
            Some("6".into()),
            None
        )
        .await
        .unwrap());
    // A row Fedify's cas wrote (created given explicitly) is read too.
    query(sqlf!(
        "INSERT INTO \"{table}\" AS existing (key, value, created, ttl) \
         VALUES ($1, $2::jsonb, CURRENT_TIMESTAMP, $3::text::interval) \
         ON CONFLICT (key) DO UPDATE SET value = EXCLUDED.value, \
         created = EXCLUDED.created, ttl = EXCLUDED.ttl \
         WHERE existing.ttl IS NOT NULL AND existing.created + existing.ttl <= CURRENT_TIMESTAMP \
         RETURNING key"
    ))
    .bind(["fedify", "gone"])
    .bind("7")
    .bind("PT1M")
    .fetch_one(&db)
    .await
    .unwrap();
    assert_eq!(
        b.get(&key(&["fedify", "gone"])).await.unwrap().as_deref(),
        Some("7")
    );
    b.drop_storage().await.unwrap();
}

#[tokio::test]
async fn returns_equal_compact_json() {
    let Some(url) = url() else { return };
    let b = PostgresBackend::new(config(&url)).unwrap();
    let k = key(&["json"]);
    for value in [
        r#"{"b":1,"a":[1,2.5,"x, y: z",{"c":null}],"é😀":"\"\\\n\u0001"}"#,
        r#""\\u0000 is text""#,
        "1e21",
        "-0.0000001",
        "[]",
        r#""""#,
        "true",
    ] {
        b.set(&k, value.into(), None).await.unwrap();
        let back = b.get(&k).await.unwrap().unwrap();
        assert!(
            json_text_equal(value, &back).unwrap(),
            "{value} came back as {back}"
        );
    }
    // jsonb orders members (shorter names first) and drops the spaces; the
    // spaces inside strings stay.
    let value = r#"{"b":1,"a":[1,2.5,"x, y: z",{"c":null}],"é😀":"\"\\\n\u0001"}"#;
    b.set(&k, value.into(), None).await.unwrap();
    assert_eq!(
        b.get(&k).await.unwrap().unwrap(),
        r#"{"a":[1,2.5,"x, y: z",{"c":null}],"b":1,"é😀":"\"\\\n\u0001"}"#
    );
    b.drop_storage().await.unwrap();
}

/// jsonb `=` decides `cas`: it must agree with `json_text_equal` on every
/// JSON that `JSON.stringify` can write (it differs only on numbers that
/// are not the shortest text of a double: `9007199254740993` equals
/// `9007199254740992` as doubles, not as jsonb numerics).
#[tokio::test]
async fn cas_equality_agrees_with_json_text_equal() {
    let Some(url) = url() else { return };
    let b = PostgresBackend::new(config(&url)).unwrap();
    let pairs = [
        (r#"{"a":1,"b":[1,2]}"#, r#"{"b":[1,2],"a":1}"#),
        ("1", "1.0"),
        ("100", "1e2"),
        ("1e21", "1000000000000000000000"),
        ("1e-7", "0.0000001"),
        ("0", "-0"),
        ("0.1", "0.10"),
        (r#""é""#, r#""\u00e9""#),
        (r#"{"a":{"b":[1,{"c":2}]}}"#, r#"{"a":{"b":[1,{"c":2.0}]}}"#),
        ("[1,2]", "[2,1]"),
        ("[]", "{}"),
        ("[1]", "1"),
        ("null", "false"),
        (r#""1""#, "1"),
        ("true", "1"),
        (r#"{"a":1}"#, r#"{"a":1,"b":null}"#),
        (r#""a""#, r#""A""#),
        (r#"[[]]"#, "[]"),
        (r#"{"":0}"#, r#"{"":-0}"#),
    ];
    for (i, (stored, expected)) in pairs.iter().enumerate() {
        let k = key(&["eq", &i.to_string()]);
        b.set(&k, stored.to_string(), None).await.unwrap();
        let swapped = b
            .cas(&k, Some(expected), Some(r#""swapped""#.into()), None)
            .await
            .unwrap();
        assert_eq!(
            swapped,
            json_text_equal(stored, expected).unwrap(),
            "{stored} vs {expected}"
        );
        // And the delete form of cas.
        b.set(&k, stored.to_string(), None).await.unwrap();
        let deleted = b.cas(&k, Some(expected), None, None).await.unwrap();
        assert_eq!(deleted, swapped, "{stored} vs {expected} (delete)");
    }
    // The one known difference: texts no JavaScript number prints.
    let k = key(&["eq", "beyond doubles"]);
    b.set(&k, "9007199254740993".into(), None).await.unwrap();
    assert!(json_text_equal("9007199254740993", "9007199254740992").unwrap());
    assert!(!b
        .cas(&k, Some("9007199254740992"), None, None)
        .await
        .unwrap());
    b.drop_storage().await.unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn two_stores_race_cas_on_an_absent_key() {
    let Some(url) = url() else { return };
    let cfg = config(&url);
    // Two pools on one table, as two processes would have.
    let a = Arc::new(PostgresBackend::new(cfg.clone()).unwrap());
    let b = Arc::new(PostgresBackend::new(cfg).unwrap());
    a.initialize().await.unwrap();
    for round in 0..20 {
        let k = key(&["race", &round.to_string()]);
        // Every other round, the key holds an expired row: absent too.
        if round % 2 == 1 {
            a.set(&k, "\"old\"".into(), ms(1.0)).await.unwrap();
            tokio::time::sleep(Duration::from_millis(5)).await;
        }
        let barrier = Arc::new(tokio::sync::Barrier::new(2));
        let racers: Vec<_> = [(a.clone(), "\"a\""), (b.clone(), "\"b\"")]
            .into_iter()
            .map(|(store, value)| {
                let (k, barrier) = (k.clone(), barrier.clone());
                tokio::spawn(async move {
                    barrier.wait().await;
                    let won = store.cas(&k, None, Some(value.into()), None).await.unwrap();
                    (won, value)
                })
            })
            .collect();
        let mut winners = Vec::new();
        for racer in racers {
            let (won, value) = racer.await.unwrap();
            if won {
                winners.push(value);
            }
        }
        assert_eq!(winners.len(), 1, "round {round}: {winners:?}");
        assert_eq!(a.get(&k).await.unwrap().as_deref(), Some(winners[0]));
    }
    a.drop_storage().await.unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn two_stores_count_with_cas() {
    let Some(url) = url() else { return };
    let cfg = config(&url);
    let stores = [
        Arc::new(PostgresBackend::new(cfg.clone()).unwrap()),
        Arc::new(PostgresBackend::new(cfg).unwrap()),
    ];
    let k = key(&["counter"]);
    let workers: Vec<_> = (0..6)
        .map(|i| {
            let (store, k) = (stores[i % 2].clone(), k.clone());
            tokio::spawn(async move {
                for _ in 0..10 {
                    loop {
                        let current = store.get(&k).await.unwrap();
                        let n: i64 = current.as_deref().map_or(0, |v| v.parse().unwrap());
                        let next = (n + 1).to_string();
                        if store
                            .cas(&k, current.as_deref(), Some(next), None)
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
    assert_eq!(stores[0].get(&k).await.unwrap().as_deref(), Some("60"));
    stores[0].drop_storage().await.unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn many_stores_initialize_at_once() {
    let Some(url) = url() else { return };
    let cfg = config(&url);
    for unlogged in [false, true, false, true] {
        let stores: Vec<_> = (0..8)
            .map(|_| {
                Arc::new(
                    PostgresBackend::new(PostgresConfig {
                        unlogged,
                        ..cfg.clone()
                    })
                    .unwrap(),
                )
            })
            .collect();
        let barrier = Arc::new(tokio::sync::Barrier::new(stores.len()));
        let starts: Vec<_> = stores
            .iter()
            .map(|store| {
                let (store, barrier) = (store.clone(), barrier.clone());
                tokio::spawn(async move {
                    barrier.wait().await;
                    store.initialize().await
                })
            })
            .collect();
        for start in starts {
            start.await.unwrap().unwrap();
        }
        stores[0].drop_storage().await.unwrap();
    }
}

#[tokio::test]
async fn unlogged_option_and_conversion_to_logged() {
    let Some(url) = url() else { return };
    let cfg = config(&url);
    let table = cfg.table.clone();
    let db = raw(&url).await;
    let persistence = || async {
        query_scalar::<Postgres, String>(
            "SELECT relpersistence::text FROM pg_class WHERE oid = to_regclass($1)",
        )
        .bind(&table)
        .fetch_one(&db)
        .await
        .unwrap()
    };
    let unlogged = PostgresBackend::new(PostgresConfig {
        unlogged: true,
        ..cfg.clone()
    })
    .unwrap();
    unlogged.set(&key(&["u"]), "1".into(), None).await.unwrap();
    assert_eq!(persistence().await, "u");
    // Without the option, an unlogged table is made logged, as Fedify does.
    let logged = PostgresBackend::new(cfg).unwrap();
    logged.initialize().await.unwrap();
    assert_eq!(persistence().await, "p");
    assert_eq!(
        logged.get(&key(&["u"])).await.unwrap().as_deref(),
        Some("1")
    );
    logged.drop_storage().await.unwrap();
}

#[tokio::test]
async fn schema_qualified_table() {
    let Some(url) = url() else { return };
    let db = raw(&url).await;
    let schema = unique_name("FedikvSchema");
    query(sqlf!("CREATE SCHEMA \"{schema}\""))
        .execute(&db)
        .await
        .unwrap();
    let b = PostgresBackend::new(PostgresConfig {
        table: format!("{schema}.Kv"),
        ..PostgresConfig::new(&url)
    })
    .unwrap();
    b.set(&key(&["s"]), "1".into(), None).await.unwrap();
    let count: i64 = query_scalar(sqlf!("SELECT count(*) FROM \"{schema}\".\"Kv\""))
        .fetch_one(&db)
        .await
        .unwrap();
    assert_eq!(count, 1);
    b.drop_storage().await.unwrap();
    query(sqlf!("DROP SCHEMA \"{schema}\""))
        .execute(&db)
        .await
        .unwrap();
}

#[tokio::test]
async fn nul_and_lone_surrogates_are_refused_before_writing() {
    let Some(url) = url() else { return };
    let cfg = config(&url);
    let table = cfg.table.clone();
    let b = PostgresBackend::new(cfg).unwrap();
    let nul_key = key(&["a\0b"]);
    for err in [
        b.set(&nul_key, "1".into(), None).await.unwrap_err(),
        b.get(&nul_key).await.unwrap_err(),
        b.delete(&nul_key).await.unwrap_err(),
        b.cas(&nul_key, None, Some("1".into()), None)
            .await
            .unwrap_err(),
        b.list_page(&["\0".into()], None, 10, Expiry::Skip)
            .await
            .unwrap_err(),
    ] {
        assert_eq!(err.kind, ErrorKind::InvalidKey, "{err}");
        assert!(err.message.starts_with("PostgreSQL: "), "{err}");
    }
    let k = key(&["v"]);
    for value in [
        r#""a\u0000b""#,
        r#"{"\u0000":1}"#,
        r#"["\\\u0000"]"#,
        r#""\ud800""#,
    ] {
        let err = b.set(&k, value.into(), None).await.unwrap_err();
        assert_eq!(err.kind, ErrorKind::InvalidValue, "{value}: {err}");
        let err = b.cas(&k, None, Some(value.into()), None).await.unwrap_err();
        assert_eq!(err.kind, ErrorKind::InvalidValue, "{value}: {err}");
    }
    // Nothing was written (the table may not even exist yet).
    let db = raw(&url).await;
    let rows: Option<i64> = query_scalar(sqlf!(
        "SELECT (SELECT count(*) FROM \"{table}\") WHERE to_regclass('\"{table}\"') IS NOT NULL"
    ))
    .fetch_optional(&db)
    .await
    .ok()
    .flatten();
    assert!(rows.unwrap_or(0) == 0, "{rows:?}");
    // An escaped backslash before `u0000` is ordinary text.
    b.set(&k, r#""\\u0000""#.into(), None).await.unwrap();
    assert_eq!(b.get(&k).await.unwrap().as_deref(), Some(r#""\\u0000""#));
    // An expectation no stored value can hold does not match.
    assert!(!b
        .cas(&k, Some(r#""\u0000""#), Some("1".into()), None)
        .await
        .unwrap());
    b.drop_storage().await.unwrap();
}

#[tokio::test]
async fn list_is_exact_and_its_scan_bounded() {
    let Some(url) = url() else { return };
    let cfg = config(&url);
    let table = cfg.table.clone();
    let b = PostgresBackend::new(cfg).unwrap();
    // Neighbours of ["p", "a"] in every order the bound could get wrong.
    let neighbours: [&[&str]; 9] = [
        &["p", "a\u{1}"],
        &["p", "a\u{1}x"],
        &["p", "a\u{2}"],
        &["p", "a "],
        &["p", "ab"],
        &["p", "A"],
        &["p"],
        &["pa"],
        &["p", "`"],
    ];
    let under: [&[&str]; 4] = [
        &["p", "a"],
        &["p", "a", ""],
        &["p", "a", "\u{1}"],
        &["p", "a", "z", "z"],
    ];
    for parts in neighbours.iter().chain(&under) {
        b.set(&key(parts), "0".into(), None).await.unwrap();
    }
    for page_size in [1, 2, 100] {
        let mut listed = Vec::new();
        let mut cursor = None;
        loop {
            let page = b
                .list_page(
                    &["p".into(), "a".into()],
                    cursor.as_deref(),
                    page_size,
                    Expiry::Skip,
                )
                .await
                .unwrap();
            listed.extend(page.entries.into_iter().map(|e| e.key));
            match page.cursor {
                Some(c) => cursor = Some(c),
                None => break,
            }
        }
        assert_eq!(listed, under.map(key), "page size {page_size}");
    }
    // With many rows the scan uses both bounds of the primary key's index.
    let db = raw(&url).await;
    query(sqlf!(
        "INSERT INTO \"{table}\" (key, value) \
         SELECT ARRAY['bulk', i::text], '0' FROM generate_series(1, 5000) i"
    ))
    .execute(&db)
    .await
    .unwrap();
    query(sqlf!("ANALYZE \"{table}\""))
        .execute(&db)
        .await
        .unwrap();
    let plan: Vec<String> = query_scalar(sqlf!(
        "EXPLAIN {}",
        b.sql
            .list
            .prefix_first
            .as_str()
            .replace("$1", "10")
            .replace("$2", "'{bulk,42}'::text[]")
            .replace("$3", "ARRAY['bulk', E'42\\x01']")
            .replace("$4", "2")
    ))
    .fetch_all(&db)
    .await
    .unwrap();
    let plan = plan.join("\n");
    assert!(
        plan.contains("Index Cond: ((key >= ") && plan.contains("AND (key < "),
        "{plan}"
    );
    b.drop_storage().await.unwrap();
}

#[tokio::test]
async fn expired_rows_are_purged_in_the_background() {
    let Some(url) = url() else { return };
    let cfg = config(&url);
    let table = cfg.table.clone();
    let b = PostgresBackend::new(cfg).unwrap();
    b.initialize().await.unwrap();
    let db = raw(&url).await;
    query(sqlf!(
        "INSERT INTO \"{table}\" (key, value, created, ttl) \
         SELECT ARRAY['old', i::text], '0', now() - interval '1 hour', interval '1 second' \
         FROM generate_series(1, 1500) i"
    ))
    .execute(&db)
    .await
    .unwrap();
    let count = || async {
        query_scalar::<Postgres, i64>(sqlf!("SELECT count(*) FROM \"{table}\""))
            .fetch_one(&db)
            .await
            .unwrap()
    };
    // A write starts a purge of one batch; a full batch lets the next
    // write start another at once.
    b.set(&key(&["new"]), "1".into(), None).await.unwrap();
    let deadline = Instant::now() + Duration::from_secs(5);
    while count().await > 1 && Instant::now() < deadline {
        tokio::time::sleep(Duration::from_millis(50)).await;
        b.set(&key(&["new"]), "1".into(), None).await.unwrap();
    }
    assert_eq!(count().await, 1);
    b.drop_storage().await.unwrap();
}

#[tokio::test]
async fn survives_its_connections_being_killed() {
    let Some(url) = url() else { return };
    let app = unique_name("fedikv_kill");
    let b = PostgresBackend::new(config(&tagged(&url, &app))).unwrap();
    let k = key(&["k"]);
    b.set(&k, "1".into(), None).await.unwrap();
    let db = raw(&url).await;
    // What a server restart does to every pooled connection.
    let killed: Vec<bool> = query_scalar(
        "SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE application_name = $1",
    )
    .bind(&app)
    .fetch_all(&db)
    .await
    .unwrap();
    assert!(!killed.is_empty());
    tokio::time::sleep(Duration::from_millis(50)).await;
    assert_eq!(b.get(&k).await.unwrap().as_deref(), Some("1"));
    b.set(&k, "2".into(), None).await.unwrap();
    assert_eq!(b.get(&k).await.unwrap().as_deref(), Some("2"));
    b.drop_storage().await.unwrap();
}

#[tokio::test]
async fn unreachable_server_is_a_connection_error_within_the_timeout() {
    // A port nobody listens on: bound, then released.
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let b = PostgresBackend::new(PostgresConfig {
        connect_timeout: Duration::from_millis(500),
        ..PostgresConfig::new(format!("postgres://fedikv:s3cret@127.0.0.1:{port}/test"))
    })
    .unwrap();
    let started = Instant::now();
    let err = b.get(&key(&["a"])).await.unwrap_err();
    let elapsed = started.elapsed();
    assert_eq!(err.kind, ErrorKind::Connection, "{err}");
    assert!(elapsed >= Duration::from_millis(400), "{elapsed:?}");
    assert!(elapsed < Duration::from_millis(2000), "{elapsed:?}");
    assert!(err.message.starts_with("PostgreSQL: "), "{err}");
    assert!(!err.message.contains("s3cret"), "{err}");
    // The store is not poisoned: it fails the same way again.
    let err = b.set(&key(&["a"]), "1".into(), None).await.unwrap_err();
    assert_eq!(err.kind, ErrorKind::Connection, "{err}");
    b.close().await.unwrap();
}

#[test]
fn bad_options_are_refused_at_construction() {
    for url in [
        "not a url",
        "mysql://root@127.0.0.1/test",
        "postgres://h:notaport/db",
        "postgres://h/db?sslmode=bogus",
    ] {
        let err = PostgresBackend::new(PostgresConfig::new(url)).unwrap_err();
        assert_eq!(err.kind, ErrorKind::InvalidOption, "{url}: {err}");
        assert!(err.message.starts_with("PostgreSQL: "), "{err}");
    }
    let err = PostgresBackend::new(PostgresConfig {
        table: "x; DROP TABLE y".into(),
        ..PostgresConfig::new(DEFAULT_URL)
    })
    .unwrap_err();
    assert_eq!(err.kind, ErrorKind::InvalidOption);
    let err = PostgresBackend::new(PostgresConfig {
        max_connections: 0,
        ..PostgresConfig::new(DEFAULT_URL)
    })
    .unwrap_err();
    assert_eq!(err.kind, ErrorKind::InvalidOption);
    PostgresBackend::new(PostgresConfig::new(
        "postgresql://u:p@h:6543/db?sslmode=disable",
    ))
    .unwrap();
}

#[test]
fn debug_masks_the_password() {
    let cfg = PostgresConfig::new("postgres://user:s3cret@db:5432/app?password=s3cret2&x=1");
    let shown = format!("{cfg:?}");
    assert!(!shown.contains("s3cret"), "{shown}");
    assert!(shown.contains("user:***@db:5432/app"), "{shown}");
    assert!(!format!("{:?}", PostgresConfig::new("::bad s3cret")).contains("s3cret"));
}

#[tokio::test]
async fn closed_store_refuses_work() {
    let Some(url) = url() else { return };
    let b = PostgresBackend::new(config(&url)).unwrap();
    b.initialize().await.unwrap();
    b.drop_storage().await.unwrap();
    b.close().await.unwrap();
    let err = b.get(&key(&["a"])).await.unwrap_err();
    assert_eq!(err.kind, ErrorKind::Closed);
}

/// `url` with one more query parameter.
fn with_param(url: &str, param: &str) -> String {
    let sep = if url.contains('?') { '&' } else { '?' };
    format!("{url}{sep}{param}")
}

/// A URL whose connections can be told apart on the server.
fn tagged(url: &str, app: &str) -> String {
    with_param(url, &format!("application_name={app}"))
}

async fn connections_of(db: &PgPool, app: &str) -> i64 {
    query_scalar("SELECT count(*) FROM pg_stat_activity WHERE application_name = $1")
        .bind(app)
        .fetch_one(db)
        .await
        .unwrap()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn opens_at_most_max_connections() {
    let Some(url) = url() else { return };
    let app = unique_name("fedikv_max");
    let b = Arc::new(
        PostgresBackend::new(PostgresConfig {
            max_connections: 2,
            ..config(&tagged(&url, &app))
        })
        .unwrap(),
    );
    let k = key(&["k"]);
    b.set(&k, "1".into(), None).await.unwrap();
    let readers: Vec<_> = (0..16)
        .map(|_| {
            let (b, k) = (b.clone(), k.clone());
            tokio::spawn(async move {
                for _ in 0..20 {
                    assert_eq!(b.get(&k).await.unwrap().as_deref(), Some("1"));
                }
            })
        })
        .collect();
    for reader in readers {
        reader.await.unwrap();
    }
    let db = raw(&url).await;
    let open = connections_of(&db, &app).await;
    assert!((1..=2).contains(&open), "{open} connections");
    b.drop_storage().await.unwrap();
    b.close().await.unwrap();
    // The server processes exit a moment after the connections close.
    let deadline = Instant::now() + Duration::from_secs(3);
    while connections_of(&db, &app).await > 0 && Instant::now() < deadline {
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    assert_eq!(connections_of(&db, &app).await, 0, "close() releases them");
}

/// Writes 1 at `[part]`, locks its row from a transaction of `db`'s, and
/// starts a cas of it from 1 to 2 on `b`, which waits for the lock (a
/// moment is left for it to start waiting): the transaction, to end the
/// wait, and the cas's task.
async fn cas_blocked_by_a_row_lock(
    b: &Arc<PostgresBackend>,
    db: &PgPool,
    table: &str,
    part: &str,
) -> (
    sqlx_core::transaction::Transaction<'static, Postgres>,
    tokio::task::JoinHandle<Result<bool>>,
) {
    let k = key(&[part]);
    b.set(&k, "1".into(), None).await.unwrap();
    let mut holder = db.begin().await.unwrap();
    query(sqlf!(
        "SELECT 1 FROM \"{table}\" WHERE key = ARRAY['{part}'] FOR UPDATE"
    ))
    .execute(&mut *holder)
    .await
    .unwrap();
    let waiting = {
        let b = b.clone();
        tokio::spawn(async move { b.cas(&k, Some("1"), Some("2".into()), None).await })
    };
    tokio::time::sleep(Duration::from_millis(100)).await;
    (holder, waiting)
}

/// Gets that wait for a busy connection are answered by one statement,
/// each with its own value: keys of different lengths, absent and expired
/// keys, and the same key twice.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn waiting_gets_are_answered_together() {
    let Some(url) = url() else { return };
    let cfg = PostgresConfig {
        max_connections: 1,
        ..config(&url)
    };
    let table = cfg.table.clone();
    let b = Arc::new(PostgresBackend::new(cfg).unwrap());
    let keys: Vec<Key> = (0..100)
        .map(|i| match i % 4 {
            0 => key(&["batch", &i.to_string()]),
            1 => key(&["batch", &i.to_string(), "deeper"]),
            2 => key(&[&format!("batch{i}")]),
            _ => key(&["batch", "absent", &i.to_string()]),
        })
        .collect();
    for (i, k) in keys.iter().enumerate() {
        if i % 4 != 3 {
            b.set(k, format!(r#"{{"i":{i}}}"#), None).await.unwrap();
        }
    }
    let expired = key(&["batch", "expired"]);
    b.set(&expired, "1".into(), ms(1.0)).await.unwrap();
    tokio::time::sleep(Duration::from_millis(20)).await;

    // Hold the only connection: a cas waits on a row lock held outside.
    let db = raw(&url).await;
    let (holder, blocked) = cas_blocked_by_a_row_lock(&b, &db, &table, "batch").await;
    let before = b.read_statements.load(Ordering::Relaxed);
    let mut asked: Vec<Key> = keys.clone();
    asked.extend([expired.clone(), keys[0].clone()]);
    let readers: Vec<_> = asked
        .iter()
        .map(|k| {
            let (b, k) = (b.clone(), k.clone());
            tokio::spawn(async move { b.get(&k).await })
        })
        .collect();
    tokio::time::sleep(Duration::from_millis(100)).await;
    holder.commit().await.unwrap();
    assert!(blocked.await.unwrap().unwrap());
    let mut got = Vec::new();
    for reader in readers {
        got.push(reader.await.unwrap().unwrap());
    }
    let expected: Vec<Option<String>> = (0..100)
        .map(|i| (i % 4 != 3).then(|| format!(r#"{{"i":{i}}}"#)))
        .chain([None, Some(r#"{"i":0}"#.to_string())])
        .collect();
    assert_eq!(got, expected);
    let statements = b.read_statements.load(Ordering::Relaxed) - before;
    assert!(
        statements <= 2,
        "102 waiting gets took {statements} statements"
    );
    b.drop_storage().await.unwrap();
}

/// An operation abandoned mid-statement (its future dropped, as a timeout
/// does) must not leave its connection, half-read, in the pool.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn an_abandoned_operation_does_not_poison_the_pool() {
    let Some(url) = url() else { return };
    let cfg = PostgresConfig {
        max_connections: 1,
        connect_timeout: Duration::from_millis(300),
        ..config(&url)
    };
    let table = cfg.table.clone();
    let b = Arc::new(PostgresBackend::new(cfg).unwrap());
    let k = key(&["locked"]);
    let db = raw(&url).await;
    // The only connection waits on the row lock...
    let (holder, waiting) = cas_blocked_by_a_row_lock(&b, &db, &table, "locked").await;
    // ...so another operation waits for it no longer than the timeout.
    let started = Instant::now();
    let err = b.get(&k).await.unwrap_err();
    assert_eq!(err.kind, ErrorKind::Connection, "{err}");
    assert!(started.elapsed() < Duration::from_millis(1500));
    // Abandon the waiting cas, then let the lock go.
    waiting.abort();
    let _ = waiting.await;
    holder.commit().await.unwrap();
    // The store works on: a new connection replaces the abandoned one (whose
    // statement may still have run on the server, as with any timeout).
    let now = b.get(&k).await.unwrap();
    assert!(matches!(now.as_deref(), Some("1" | "2")), "{now:?}");
    b.set(&k, "3".into(), None).await.unwrap();
    assert_eq!(b.get(&k).await.unwrap().as_deref(), Some("3"));
    b.drop_storage().await.unwrap();
}

#[tokio::test]
async fn a_server_that_never_answers_is_a_connection_error_within_the_timeout() {
    // Accepts TCP connections (the kernel does) but never speaks.
    let silent = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let port = silent.local_addr().unwrap().port();
    let b = PostgresBackend::new(PostgresConfig {
        connect_timeout: Duration::from_millis(300),
        ..PostgresConfig::new(format!("postgres://fedikv@127.0.0.1:{port}/test"))
    })
    .unwrap();
    let started = Instant::now();
    let err = b.get(&key(&["a"])).await.unwrap_err();
    assert_eq!(err.kind, ErrorKind::Connection, "{err}");
    assert!(
        started.elapsed() < Duration::from_millis(1500),
        "{:?}",
        started.elapsed()
    );
    drop(silent);
}

#[tokio::test]
async fn tls_when_the_url_requires_it() {
    let Some(url) = url() else { return };
    let app = unique_name("fedikv_tls");
    let b =
        PostgresBackend::new(config(&tagged(&with_param(&url, "sslmode=require"), &app))).unwrap();
    b.set(&key(&["tls"]), "1".into(), None).await.unwrap();
    assert_eq!(b.get(&key(&["tls"])).await.unwrap().as_deref(), Some("1"));
    let db = raw(&url).await;
    let encrypted: Vec<bool> = query_scalar(
        "SELECT s.ssl FROM pg_stat_ssl s JOIN pg_stat_activity a USING (pid) \
         WHERE a.application_name = $1",
    )
    .bind(&app)
    .fetch_all(&db)
    .await
    .unwrap();
    assert!(
        !encrypted.is_empty() && encrypted.iter().all(|&ssl| ssl),
        "{encrypted:?}"
    );
    b.drop_storage().await.unwrap();
}

/// A key too long for the primary key's index is a key the backend cannot
/// hold: `InvalidKey` (a TypeError in JS) with PostgreSQL's own
/// explanation, nothing written, and the store works on.
#[tokio::test]
async fn a_key_too_long_for_the_index_is_an_invalid_key() {
    let Some(url) = url() else { return };
    let b = PostgresBackend::new(config(&url)).unwrap();
    // Incompressible text, past the 2,704-byte limit of a B-tree entry.
    let mut state = 0x2545_f491_u32;
    let long: String = (0..6000)
        .map(|_| {
            state ^= state << 13;
            state ^= state >> 17;
            state ^= state << 5;
            char::from(b'!' + (state % 90) as u8)
        })
        .collect();
    let err = b.set(&key(&[&long]), "1".into(), None).await.unwrap_err();
    assert_eq!(err.kind, ErrorKind::InvalidKey, "{err}");
    let err = b
        .cas(&key(&[&long]), None, Some("1".into()), None)
        .await
        .unwrap_err();
    assert_eq!(err.kind, ErrorKind::InvalidKey, "{err}");
    assert_eq!(b.get(&key(&[&long])).await.unwrap(), None);
    assert!(err.message.starts_with("PostgreSQL: "), "{err}");
    assert!(err.message.contains("SQLSTATE 54000"), "{err}");
    b.set(&key(&["short"]), "1".into(), None).await.unwrap();
    b.drop_storage().await.unwrap();
}
