use super::*;
use crate::conformance;
use crate::test_support::{server_url, unique_name};
use sqlx_core::sql_str::AssertSqlSafe;
use sqlx_mysql::MySqlConnection;
use std::str::FromStr;
use std::time::Instant;

const URL_VAR: &str = "MYSQL_URL";
const DEFAULT_URL: &str = "mysql://root@127.0.0.1:3306/test";

fn url() -> Option<String> {
    server_url(URL_VAR, DEFAULT_URL, 3306)
}

fn config(url: &str) -> MysqlConfig {
    MysqlConfig {
        table: unique_name("fedikv_t"),
        ..MysqlConfig::new(url)
    }
}

fn key(parts: &[&str]) -> Key {
    Key::new(parts.iter().map(|s| s.to_string()).collect()).unwrap()
}

fn ms(ms: f64) -> Option<Ttl> {
    Some(Ttl::from_millis(ms).unwrap())
}

conformance::suite!({
    let Some(url) = url() else { return };
    MysqlBackend::new(config(&url)).unwrap()
});

/// A connection of its own, as another process (an app on @fedify/mysql,
/// whose mysql2 pool leaves the session time zone alone) would have.
async fn raw(url: &str, time_zone: Option<&str>) -> MySqlConnection {
    let options = MySqlConnectOptions::from_str(url)
        .unwrap()
        .timezone(time_zone.map(str::to_owned));
    MySqlConnection::connect_with(&options).await.unwrap()
}

async fn exec(conn: &mut MySqlConnection, sql: String) {
    raw_sql(AssertSqlSafe(sql)).execute(conn).await.unwrap();
}

async fn scalar_i64(conn: &mut MySqlConnection, sql: String) -> i64 {
    let row = query(AssertSqlSafe(sql)).fetch_one(conn).await.unwrap();
    row.try_get_unchecked::<i64, _>(0).unwrap()
}

async fn is_mariadb(conn: &mut MySqlConnection) -> bool {
    let row = query("SELECT VERSION()").fetch_one(conn).await.unwrap();
    text_column(&row, 0).unwrap().contains("MariaDB")
}

/// The statements of `@fedify/mysql` (packages/mysql/src/kv.ts), with `{t}`
/// for the table. Its values go through `CAST(? AS JSON)`, which MariaDB
/// does not parse (its JSON is a LONGTEXT alias): there the text goes in as
/// is, which is what that cast amounts to on MariaDB.
struct Fedify {
    table: String,
    json: &'static str,
}

impl Fedify {
    async fn new(conn: &mut MySqlConnection, table: &str) -> Fedify {
        let json = if is_mariadb(conn).await {
            "?"
        } else {
            "CAST(? AS JSON)"
        };
        Fedify {
            table: table.to_owned(),
            json,
        }
    }

    fn sql(&self, text: &str) -> AssertSqlSafe<String> {
        AssertSqlSafe(
            text.replace("{t}", &self.table)
                .replace("{json}", self.json),
        )
    }

    async fn set(&self, conn: &mut MySqlConnection, key: &str, value: &str, ttl_s: Option<f64>) {
        match ttl_s {
            Some(ttl) => query(self.sql(
                "INSERT INTO `{t}` (`key`, `value`, `expires`) \
                 VALUES (?, {json}, DATE_ADD(NOW(6), INTERVAL ? SECOND)) \
                 ON DUPLICATE KEY UPDATE `value` = VALUES(`value`), `expires` = VALUES(`expires`)",
            ))
            .bind(key)
            .bind(value)
            .bind(ttl),
            None => query(self.sql(
                "INSERT INTO `{t}` (`key`, `value`, `expires`) VALUES (?, {json}, NULL) \
                 ON DUPLICATE KEY UPDATE `value` = VALUES(`value`), `expires` = NULL",
            ))
            .bind(key)
            .bind(value),
        }
        .execute(conn)
        .await
        .unwrap();
    }

    /// A row that expired a second ago, as Fedify's own tests write one.
    async fn set_expired(&self, conn: &mut MySqlConnection, key: &str, value: &str) {
        query(self.sql(
            "INSERT INTO `{t}` (`key`, `value`, `expires`) \
             VALUES (?, {json}, DATE_SUB(NOW(6), INTERVAL 1 SECOND))",
        ))
        .bind(key)
        .bind(value)
        .execute(conn)
        .await
        .unwrap();
    }

    async fn get(&self, conn: &mut MySqlConnection, key: &str) -> Option<String> {
        query(self.sql(
            "SELECT `value` FROM `{t}` WHERE `key` = ? \
             AND (`expires` IS NULL OR `expires` > NOW(6))",
        ))
        .bind(key)
        .fetch_optional(conn)
        .await
        .unwrap()
        .map(|row| text_column(&row, 0).unwrap())
    }

    /// Fedify's `list(prefix)`: the key itself, or LIKE on its text.
    async fn list(&self, conn: &mut MySqlConnection, prefix: &str) -> Vec<String> {
        let like = prefix[..prefix.len() - 1]
            .replace('\\', "\\\\")
            .replace('%', "\\%")
            .replace('_', "\\_")
            + ",%";
        query(self.sql(
            "SELECT `key`, `value` FROM `{t}` WHERE (`key` = ? OR `key` LIKE ? ESCAPE '\\\\') \
             AND (`expires` IS NULL OR `expires` > NOW(6)) ORDER BY `key`",
        ))
        .bind(prefix)
        .bind(like)
        .fetch_all(conn)
        .await
        .unwrap()
        .iter()
        .map(|row| text_column(row, 0).unwrap())
        .collect()
    }

    /// The row as Fedify's `cas` sees it: value and whether it expired.
    async fn cas_view(&self, conn: &mut MySqlConnection, key: &str) -> Option<(String, i64)> {
        let mut tx = conn.begin().await.unwrap();
        let row = query(self.sql(
            "SELECT `value`, (`expires` IS NOT NULL AND `expires` <= NOW(6)) AS `is_expired` \
             FROM `{t}` WHERE `key` = ? FOR UPDATE",
        ))
        .bind(key)
        .fetch_optional(&mut *tx)
        .await
        .unwrap();
        tx.rollback().await.unwrap();
        row.map(|r| {
            (
                text_column(&r, 0).unwrap(),
                r.try_get_unchecked::<i64, _>(1).unwrap(),
            )
        })
    }

    /// Fedify's `initialize()`, for a reference table.
    async fn create(&self, conn: &mut MySqlConnection) {
        exec(
            conn,
            self.sql(
                "CREATE TABLE IF NOT EXISTS `{t}` (
        `key` VARCHAR(768) NOT NULL,
        `value` JSON NOT NULL,
        `expires` DATETIME(6) NULL DEFAULT NULL,
        PRIMARY KEY (`key`)
      ) ENGINE=InnoDB DEFAULT CHARSET=utf8mb4 COLLATE=utf8mb4_bin",
            )
            .0,
        )
        .await;
        exec(
            conn,
            self.sql("CREATE INDEX `idx_{t}_expires` ON `{t}` (`expires`)")
                .0,
        )
        .await;
    }
}

async fn show_create_table(conn: &mut MySqlConnection, table: &str) -> String {
    let row = query(AssertSqlSafe(format!("SHOW CREATE TABLE `{table}`")))
        .fetch_one(conn)
        .await
        .unwrap();
    text_column(&row, 1).unwrap().replace(table, "<t>")
}

// ---- configuration ----

#[test]
fn table_names_cannot_inject() {
    for bad in [
        "",
        "1abc",
        "a-b",
        "a`b",
        "a\"b",
        "t; DROP TABLE x",
        "ü",
        &"a".repeat(51),
    ] {
        let err = validate_table_name(bad).unwrap_err();
        assert_eq!(err.kind, ErrorKind::InvalidOption, "{bad}");
        assert!(err.message.starts_with("MySQL: "), "{}", err.message);
    }
    for good in ["fedify_kv", "_t", "T1", &"a".repeat(50)] {
        validate_table_name(good).unwrap();
    }
    let bad_table = MysqlConfig {
        table: "x`; DROP TABLE y; --".into(),
        ..MysqlConfig::new(DEFAULT_URL)
    };
    assert_eq!(
        MysqlBackend::new(bad_table).err().unwrap().kind,
        ErrorKind::InvalidOption
    );
}

#[test]
fn malformed_urls_are_invalid_options_without_the_password() {
    for bad in [
        "",
        "not a url",
        "127.0.0.1:3306",
        "postgres://root:s3cret@127.0.0.1/test",
        "mysql://root:s3cret@127.0.0.1:99999/test",
        "mysql://root:s3cret@/test",
        "mysql://root:s3cret@[::1/test",
        "mysql://root:s3cret@127.0.0.1/test?ssl-mode=sometimes",
    ] {
        let err = MysqlBackend::new(MysqlConfig::new(bad)).err().unwrap();
        assert_eq!(err.kind, ErrorKind::InvalidOption, "{bad}: {}", err.message);
        assert!(err.message.starts_with("MySQL: "), "{}", err.message);
        assert!(!err.message.contains("s3cret"), "{}", err.message);
    }
    for (max_connections, connect_timeout) in [(0, DEFAULT_CONNECT_TIMEOUT), (1, Duration::ZERO)] {
        let config = MysqlConfig {
            max_connections,
            connect_timeout,
            ..MysqlConfig::new(DEFAULT_URL)
        };
        assert_eq!(
            MysqlBackend::new(config).err().unwrap().kind,
            ErrorKind::InvalidOption
        );
    }
    // Constructing connects to nothing, even outside a runtime.
    MysqlBackend::new(MysqlConfig::new("mariadb://u:p@db.invalid/x")).unwrap();
}

#[test]
fn debug_masks_the_password() {
    let config = MysqlConfig::new("mysql://app:s3cret@db:3306/kv");
    let shown = format!("{config:?}");
    assert!(!shown.contains("s3cret"), "{shown}");
    assert!(shown.contains("mysql://app:***@db:3306/kv"), "{shown}");
    assert!(!format!("{:?}", MysqlConfig::new("::s3cret")).contains("s3cret"));
}

#[test]
fn key_text_must_fit_the_column() {
    // 768 characters of JSON text fit, however many bytes they take.
    for filler in ["a", "é", "😀"] {
        let fits = key(&[&filler.repeat(MAX_KEY_CHARS - 4)]);
        assert_eq!(key_text(&fits).unwrap().chars().count(), MAX_KEY_CHARS);
    }
    // Escapes count as written: `\n` is two characters of the column.
    assert_eq!(
        key_text(&key(&[&"\n".repeat(382)]))
            .unwrap()
            .chars()
            .count(),
        768
    );
    assert!(key_text(&key(&[&"\n".repeat(383)])).is_err());
    let err = key_text(&key(&[&"a".repeat(MAX_KEY_CHARS - 3)])).unwrap_err();
    assert_eq!(err.kind, ErrorKind::InvalidKey);
    assert!(err.message.contains("769 characters"), "{}", err.message);
    assert!(err.message.contains("VARCHAR(768)"), "{}", err.message);
}

#[test]
fn ttls_round_up_to_microseconds() {
    assert_eq!(ttl_micros(ms(1.0)), Some(1_000));
    assert_eq!(ttl_micros(ms(0.0001)), Some(1));
    assert_eq!(ttl_micros(ms(0.0)), Some(0));
    assert_eq!(ttl_micros(None), None);
}

// ---- the layout of @fedify/mysql ----

#[tokio::test]
async fn writes_the_layout_of_fedify_mysql() {
    let Some(url) = url() else { return };
    let config = config(&url);
    let table = config.table.clone();
    let b = MysqlBackend::new(config).unwrap();
    b.initialize().await.unwrap();
    let mut conn = raw(&url, None).await;
    let fedify = Fedify::new(&mut conn, &unique_name("fedify_ref")).await;

    // The same DDL, to the letter of SHOW CREATE TABLE (engine, charset,
    // collation, column types, index).
    fedify.create(&mut conn).await;
    assert_eq!(
        show_create_table(&mut conn, &table).await,
        show_create_table(&mut conn, &fedify.table).await
    );
    let indexes = scalar_i64(
        &mut conn,
        format!(
            "SELECT COUNT(*) FROM information_schema.statistics WHERE table_schema = DATABASE() \
             AND table_name = '{table}' AND index_name = 'idx_{table}_expires' \
             AND column_name = 'expires'"
        ),
    )
    .await;
    assert_eq!(indexes, 1);
    exec(&mut conn, format!("DROP TABLE `{}`", fedify.table)).await;

    // Rows as Fedify writes them: JSON.stringify(key), the value's JSON,
    // and an expiry of NOW(6) + TTL.
    let k = key(&["a", "b\"c", "é😀", "%_\\"]);
    let k_text = r#"["a","b\"c","é😀","%_\\"]"#;
    b.set(&k, r#"{"x":[1,2],"y":"z"}"#.into(), ms(60_000.0))
        .await
        .unwrap();
    b.set(&key(&["a", "forever"]), "true".into(), None)
        .await
        .unwrap();
    let row = query(AssertSqlSafe(format!(
        "SELECT `key`, `value`, TIMESTAMPDIFF(MICROSECOND, NOW(6), `expires`) \
         FROM `{table}` WHERE `key` = ?"
    )))
    .bind(k_text)
    .fetch_one(&mut conn)
    .await
    .unwrap();
    assert_eq!(text_column(&row, 0).unwrap(), k_text);
    assert!(json_text_equal(&text_column(&row, 1).unwrap(), r#"{"y":"z","x":[1,2]}"#).unwrap());
    let left = row.try_get_unchecked::<i64, _>(2).unwrap();
    assert!((55_000_000..=60_000_000).contains(&left), "{left} µs left");
    let forever = scalar_i64(
        &mut conn,
        format!("SELECT COUNT(*) FROM `{table}` WHERE `key` = '[\"a\",\"forever\"]' AND `expires` IS NULL"),
    )
    .await;
    assert_eq!(forever, 1);

    // Fedify's own statements read fedikv's rows.
    let fedify = Fedify::new(&mut conn, &table).await;
    let value = fedify.get(&mut conn, k_text).await.unwrap();
    assert!(json_text_equal(&value, r#"{"x":[1,2],"y":"z"}"#).unwrap());
    assert_eq!(
        fedify.list(&mut conn, r#"["a"]"#).await,
        [r#"["a","b\"c","é😀","%_\\"]"#, r#"["a","forever"]"#]
    );
    assert_eq!(fedify.cas_view(&mut conn, k_text).await.unwrap().1, 0);
    b.drop_storage().await.unwrap();
}

#[tokio::test]
async fn reads_rows_written_the_fedify_way() {
    let Some(url) = url() else { return };
    let config = config(&url);
    let table = config.table.clone();
    let b = MysqlBackend::new(config).unwrap();
    b.initialize().await.unwrap();
    let mut conn = raw(&url, None).await;
    let fedify = Fedify::new(&mut conn, &table).await;

    // A fractional TTL in seconds, as Fedify computes it from a Duration.
    fedify
        .set(&mut conn, r#"["f","live"]"#, r#"{"b":2,"a":1}"#, Some(60.5))
        .await;
    fedify
        .set(&mut conn, r#"["f","forever"]"#, r#""x""#, None)
        .await;
    fedify.set_expired(&mut conn, r#"["f","dead"]"#, "1").await;
    fedify.set_expired(&mut conn, r#"["f","dead2"]"#, "2").await;

    let live = key(&["f", "live"]);
    let value = b.get(&live).await.unwrap().unwrap();
    assert!(json_text_equal(&value, r#"{"a":1,"b":2}"#).unwrap());
    assert_eq!(
        b.get(&key(&["f", "forever"])).await.unwrap().as_deref(),
        Some(r#""x""#)
    );
    assert_eq!(b.get(&key(&["f", "dead"])).await.unwrap(), None);
    let listed = b
        .list_page(&["f".into()], None, 100, Expiry::Skip)
        .await
        .unwrap();
    assert_eq!(
        listed
            .entries
            .iter()
            .map(|e| e.key.clone())
            .collect::<Vec<_>>(),
        [key(&["f", "forever"]), live.clone()]
    );

    // cas against Fedify's rows: deep equality, and an expired row is absent.
    assert!(b
        .cas(&live, Some(r#"{"a":1,"b":2}"#), Some("3".into()), None)
        .await
        .unwrap());
    assert!(!b
        .cas(&key(&["f", "dead"]), Some("1"), Some("9".into()), None)
        .await
        .unwrap());
    assert!(b
        .cas(&key(&["f", "dead"]), None, Some("4".into()), None)
        .await
        .unwrap());
    assert!(b
        .cas(&key(&["f", "dead2"]), None, None, None)
        .await
        .unwrap());
    assert_eq!(
        fedify.get(&mut conn, r#"["f","live"]"#).await.as_deref(),
        Some("3")
    );
    assert_eq!(
        fedify.get(&mut conn, r#"["f","dead"]"#).await.as_deref(),
        Some("4")
    );
    assert_eq!(fedify.cas_view(&mut conn, r#"["f","dead2"]"#).await, None);

    // Fedify's upsert over a row fedikv wrote, and the other way round.
    b.set(&key(&["f", "mine"]), "1".into(), ms(60_000.0))
        .await
        .unwrap();
    fedify.set(&mut conn, r#"["f","mine"]"#, "2", None).await;
    b.set(&key(&["f", "mine"]), "5".into(), None).await.unwrap();
    assert_eq!(
        fedify.get(&mut conn, r#"["f","mine"]"#).await.as_deref(),
        Some("5")
    );
    b.drop_storage().await.unwrap();
}

// ---- keys ----

#[tokio::test]
async fn rejects_a_key_too_long_for_the_column_and_writes_nothing() {
    let Some(url) = url() else { return };
    let config = config(&url);
    let table = config.table.clone();
    let b = MysqlBackend::new(config).unwrap();
    b.initialize().await.unwrap();
    // ["aaa…"] of 769 characters.
    let long = key(&[&"a".repeat(MAX_KEY_CHARS - 3)]);
    let errors = [
        b.set(&long, "1".into(), None).await.unwrap_err(),
        b.cas(&long, None, Some("1".into()), None)
            .await
            .unwrap_err(),
        b.get(&long).await.unwrap_err(),
        b.delete(&long).await.unwrap_err(),
    ];
    for err in errors {
        assert_eq!(err.kind, ErrorKind::InvalidKey);
        assert!(err.message.contains("768"), "{}", err.message);
    }
    let mut conn = raw(&url, None).await;
    assert_eq!(
        scalar_i64(&mut conn, format!("SELECT COUNT(*) FROM `{table}`")).await,
        0
    );

    // Exactly 768 characters (and far more bytes) fit.
    let full = key(&[&"😀".repeat(MAX_KEY_CHARS - 4)]);
    b.set(&full, "1".into(), None).await.unwrap();
    assert_eq!(b.get(&full).await.unwrap().as_deref(), Some("1"));
    assert_eq!(
        scalar_i64(
            &mut conn,
            format!("SELECT CHAR_LENGTH(`key`) FROM `{table}`")
        )
        .await,
        MAX_KEY_CHARS as i64
    );
    // A prefix longer than any key matches nothing, without an error.
    let page = b
        .list_page(long.parts(), None, 10, Expiry::Skip)
        .await
        .unwrap();
    assert!(page.entries.is_empty());
    b.drop_storage().await.unwrap();
}

#[tokio::test]
async fn lists_in_key_text_order_across_pages() {
    let Some(url) = url() else { return };
    let b = MysqlBackend::new(config(&url)).unwrap();
    let parts = [
        "b", "a", "A", "é", "😀", "a\"", "a b", "", "z", "\u{7f}", "~",
    ];
    for p in parts {
        b.set(&key(&["o", p]), "0".into(), None).await.unwrap();
    }
    let mut listed = Vec::new();
    let mut cursor = None;
    loop {
        let page = b
            .list_page(&["o".into()], cursor.as_deref(), 3, Expiry::Skip)
            .await
            .unwrap();
        listed.extend(page.entries.into_iter().map(|e| e.key.to_json()));
        match page.cursor {
            Some(c) => cursor = Some(c),
            None => break,
        }
    }
    let mut expected: Vec<String> = parts.iter().map(|p| key(&["o", p]).to_json()).collect();
    expected.sort();
    assert_eq!(listed, expected);
    b.drop_storage().await.unwrap();
}

// ---- cas under concurrent writers ----

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn racing_cas_on_an_absent_key_has_one_winner() {
    let Some(url) = url() else { return };
    let config = config(&url);
    let table = config.table.clone();
    let first = Arc::new(MysqlBackend::new(config.clone()).unwrap());
    first.initialize().await.unwrap();
    let second = Arc::new(
        MysqlBackend::new(MysqlConfig {
            initialized: true,
            ..config
        })
        .unwrap(),
    );
    let mut conn = raw(&url, None).await;
    let fedify = Fedify::new(&mut conn, &table).await;
    for round in 0..6 {
        let k = key(&["race", &round.to_string()]);
        // Half the rounds start from a row that is there but expired.
        if round % 2 == 1 {
            fedify.set_expired(&mut conn, &k.to_json(), "\"old\"").await;
        }
        let barrier = Arc::new(tokio::sync::Barrier::new(20));
        let racers: Vec<_> = (0..20)
            .map(|i| {
                let b = if i % 2 == 0 {
                    first.clone()
                } else {
                    second.clone()
                };
                let (k, barrier) = (k.clone(), barrier.clone());
                tokio::spawn(async move {
                    barrier.wait().await;
                    let won = b.cas(&k, None, Some(i.to_string()), None).await.unwrap();
                    (i, won)
                })
            })
            .collect();
        let mut winners = Vec::new();
        for racer in racers {
            let (i, won) = racer.await.unwrap();
            if won {
                winners.push(i);
            }
        }
        assert_eq!(winners.len(), 1, "round {round}: winners {winners:?}");
        assert_eq!(
            first.get(&k).await.unwrap(),
            Some(winners[0].to_string()),
            "round {round}"
        );
    }
    first.drop_storage().await.unwrap();
}

/// Two pools × 5 workers × 10 increments through get + cas: exactly 100.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn cas_counts_exactly_across_two_pools() {
    let Some(url) = url() else { return };
    let config = config(&url);
    let pools = [
        Arc::new(MysqlBackend::new(config.clone()).unwrap()),
        Arc::new(MysqlBackend::new(config).unwrap()),
    ];
    let k = key(&["counter"]);
    let workers: Vec<_> = (0..10)
        .map(|i| {
            let b = pools[i % 2].clone();
            let k = k.clone();
            tokio::spawn(async move {
                for _ in 0..10 {
                    loop {
                        let current = b.get(&k).await.unwrap();
                        let n: i64 = current.as_deref().map_or(0, |v| v.parse().unwrap());
                        if b.cas(&k, current.as_deref(), Some((n + 1).to_string()), None)
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
    assert_eq!(pools[0].get(&k).await.unwrap().as_deref(), Some("100"));
    pools[0].drop_storage().await.unwrap();
}

// ---- expiry ----

#[tokio::test]
async fn purges_expired_rows_in_bounded_batches() {
    let Some(url) = url() else { return };
    let config = config(&url);
    let table = config.table.clone();
    let b = MysqlBackend::new(config).unwrap();
    b.initialize().await.unwrap();
    let mut conn = raw(&url, None).await;
    let rows: Vec<String> = (0..1500)
        .map(|i| format!("('[\"exp\",\"{i:04}\"]', '1', DATE_SUB(NOW(6), INTERVAL 1 SECOND))"))
        .collect();
    exec(
        &mut conn,
        format!(
            "INSERT INTO `{table}` (`key`, `value`, `expires`) VALUES {}",
            rows.join(",")
        ),
    )
    .await;
    b.set(&key(&["kept"]), "1".into(), ms(60_000.0))
        .await
        .unwrap();
    let count = format!("SELECT COUNT(*) FROM `{table}`");
    let started = Instant::now();
    while scalar_i64(&mut conn, count.clone()).await != 501 {
        assert!(started.elapsed() < Duration::from_secs(5), "no purge");
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    // One batch of PURGE_LIMIT rows; writes right after it do not purge.
    b.set(&key(&["other"]), "1".into(), None).await.unwrap();
    tokio::time::sleep(Duration::from_millis(200)).await;
    assert_eq!(scalar_i64(&mut conn, count.clone()).await, 502);
    // A full batch brings the next one forward, to PURGE_AGAIN_MS.
    tokio::time::sleep(Duration::from_millis(PURGE_AGAIN_MS as u64)).await;
    b.delete(&key(&["other"])).await.unwrap();
    let started = Instant::now();
    while scalar_i64(&mut conn, count.clone()).await != 1 {
        assert!(
            started.elapsed() < Duration::from_secs(5),
            "no second purge"
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    assert_eq!(b.get(&key(&["kept"])).await.unwrap().as_deref(), Some("1"));
    b.drop_storage().await.unwrap();
}

/// `expires` is wall-clock time of the session's zone, as Fedify writes it.
/// A store whose sessions are not in UTC (a server whose default zone is
/// +09:00, say, where Fedify's sessions would be too) keeps TTLs exact and
/// agrees with Fedify's rows written in the same zone.
#[tokio::test]
async fn a_session_time_zone_other_than_utc_does_not_change_expiry() {
    let Some(url) = url() else { return };
    let zone = "+09:00";
    let sep = if url.contains('?') { '&' } else { '?' };
    let config = MysqlConfig {
        url: format!("{url}{sep}timezone=%2B09:00"),
        ..config(&url)
    };
    let table = config.table.clone();
    let b = MysqlBackend::new(config).unwrap();
    b.initialize().await.unwrap();
    let mut tokyo = raw(&url, Some(zone)).await;
    let session = query("SELECT @@session.time_zone")
        .fetch_one(b.pool())
        .await
        .unwrap();
    assert_eq!(text_column(&session, 0).unwrap(), zone);

    // TTLs stay exact.
    b.set(&key(&["short"]), "1".into(), ms(100.0))
        .await
        .unwrap();
    b.set(&key(&["long"]), "2".into(), ms(60_000.0))
        .await
        .unwrap();
    assert_eq!(b.get(&key(&["short"])).await.unwrap().as_deref(), Some("1"));
    tokio::time::sleep(Duration::from_millis(200)).await;
    assert_eq!(b.get(&key(&["short"])).await.unwrap(), None);
    assert_eq!(b.get(&key(&["long"])).await.unwrap().as_deref(), Some("2"));

    // Fedify in the same zone sees fedikv's expiry as 60 s away…
    let left = scalar_i64(
        &mut tokyo,
        format!(
            "SELECT TIMESTAMPDIFF(MICROSECOND, NOW(6), `expires`) FROM `{table}` \
             WHERE `key` = '[\"long\"]'"
        ),
    )
    .await;
    assert!((55_000_000..=60_000_000).contains(&left), "{left} µs left");
    // …and fedikv sees Fedify's rows as Fedify does.
    let fedify = Fedify::new(&mut tokyo, &table).await;
    fedify.set_expired(&mut tokyo, r#"["dead"]"#, "3").await;
    fedify.set(&mut tokyo, r#"["live"]"#, "4", Some(2.0)).await;
    assert_eq!(b.get(&key(&["dead"])).await.unwrap(), None);
    assert_eq!(b.get(&key(&["live"])).await.unwrap().as_deref(), Some("4"));
    b.drop_storage().await.unwrap();
}

#[tokio::test]
async fn sessions_keep_the_servers_default_time_zone() {
    let Some(url) = url() else { return };
    let b = MysqlBackend::new(config(&url)).unwrap();
    let row = query("SELECT @@session.time_zone = @@global.time_zone")
        .fetch_one(b.pool())
        .await
        .unwrap();
    assert_eq!(row.try_get_unchecked::<i64, _>(0).unwrap(), 1);
    b.close().await.unwrap();
}

// ---- values the server refuses ----

#[tokio::test]
async fn json_the_server_refuses_is_an_invalid_value() {
    let Some(url) = url() else { return };
    let b = MysqlBackend::new(config(&url)).unwrap();
    let mut conn = raw(&url, None).await;
    // MariaDB's json_valid() stops at 32 levels; MySQL's JSON type at 100.
    let depth = if is_mariadb(&mut conn).await { 40 } else { 120 };
    let deep = "[".repeat(depth) + &"]".repeat(depth);
    let err = b.set(&key(&["deep"]), deep, None).await.unwrap_err();
    assert_eq!(err.kind, ErrorKind::InvalidValue, "{}", err.message);
    assert!(err.message.starts_with("MySQL: "), "{}", err.message);
    assert_eq!(b.get(&key(&["deep"])).await.unwrap(), None);
    b.drop_storage().await.unwrap();
}

/// A value over the server's max_allowed_packet is a value this server
/// cannot hold: `InvalidValue`, nothing written, and the pool works on
/// (the server drops the connection that sent it).
#[tokio::test]
async fn a_value_over_max_allowed_packet_is_an_invalid_value() {
    let Some(url) = url() else { return };
    let b = MysqlBackend::new(config(&url)).unwrap();
    let mut conn = raw(&url, None).await;
    let limit = scalar_i64(&mut conn, "SELECT @@max_allowed_packet".into()).await as usize;
    let big = format!("\"{}\"", "x".repeat(limit + 1));
    b.set(&key(&["big"]), "1".into(), None).await.unwrap();
    let err = b.set(&key(&["big"]), big.clone(), None).await.unwrap_err();
    assert_eq!(err.kind, ErrorKind::InvalidValue, "{}", err.message);
    assert!(
        err.message.contains("max_allowed_packet"),
        "{}",
        err.message
    );
    let err = b
        .cas(&key(&["big"]), Some("1"), Some(big), None)
        .await
        .unwrap_err();
    assert_eq!(err.kind, ErrorKind::InvalidValue, "{}", err.message);
    assert_eq!(b.get(&key(&["big"])).await.unwrap().as_deref(), Some("1"));
    b.drop_storage().await.unwrap();
}

// ---- connections ----

/// A port on 127.0.0.1 that nothing listens on.
fn closed_port() -> u16 {
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    listener.local_addr().unwrap().port()
}

#[tokio::test]
async fn an_unreachable_server_is_a_connection_error_within_the_timeout() {
    let port = closed_port();
    let b = MysqlBackend::new(MysqlConfig {
        connect_timeout: Duration::from_secs(1),
        ..MysqlConfig::new(format!("mysql://root:s3cret@127.0.0.1:{port}/test"))
    })
    .unwrap();
    let started = Instant::now();
    let err = b.get(&key(&["a"])).await.unwrap_err();
    let elapsed = started.elapsed();
    assert_eq!(err.kind, ErrorKind::Connection, "{}", err.message);
    assert!(elapsed < Duration::from_millis(2500), "took {elapsed:?}");
    assert!(err.message.starts_with("MySQL: "), "{}", err.message);
    assert!(
        err.message.contains(&format!("127.0.0.1:{port}")),
        "{}",
        err.message
    );
    assert!(!err.message.contains("s3cret"), "{}", err.message);
    b.close().await.unwrap();
}

#[tokio::test]
async fn a_wrong_password_is_a_connection_error_that_does_not_repeat_it() {
    let Some(url) = url() else { return };
    let mut wrong = Url::parse(&url).unwrap();
    wrong.set_username("fedikv_nobody").unwrap();
    wrong.set_password(Some("s3cret")).unwrap();
    let b = MysqlBackend::new(MysqlConfig {
        connect_timeout: Duration::from_secs(2),
        ..MysqlConfig::new(wrong.as_str())
    })
    .unwrap();
    let err = b.get(&key(&["a"])).await.unwrap_err();
    assert_eq!(err.kind, ErrorKind::Connection, "{}", err.message);
    assert!(!err.message.contains("s3cret"), "{}", err.message);
    b.close().await.unwrap();
}

/// A TCP relay on 127.0.0.1 to the real server, to cut and restore.
struct Relay {
    port: u16,
    task: tokio::task::JoinHandle<()>,
}

impl Relay {
    async fn start(port: u16, target: std::net::SocketAddr) -> Relay {
        let listener = tokio::net::TcpListener::bind(("127.0.0.1", port))
            .await
            .unwrap();
        let port = listener.local_addr().unwrap().port();
        let task = tokio::spawn(async move {
            // Dropping the set (when this task is aborted) cuts every link.
            let mut links = tokio::task::JoinSet::new();
            while let Ok((mut inbound, _)) = listener.accept().await {
                links.spawn(async move {
                    if let Ok(mut outbound) = tokio::net::TcpStream::connect(target).await {
                        let _ = tokio::io::copy_bidirectional(&mut inbound, &mut outbound).await;
                    }
                });
            }
        });
        Relay { port, task }
    }

    async fn stop(self) {
        self.task.abort();
        let _ = self.task.await;
    }
}

#[tokio::test]
async fn fails_within_the_timeout_while_the_server_is_away_and_recovers() {
    let Some(url) = url() else { return };
    let parsed = Url::parse(&url).unwrap();
    let target = std::net::ToSocketAddrs::to_socket_addrs(&(
        parsed.host_str().unwrap(),
        parsed.port().unwrap_or(3306),
    ))
    .unwrap()
    .next()
    .unwrap();
    let relay = Relay::start(0, target).await;
    let port = relay.port;
    let mut via_relay = parsed.clone();
    via_relay.set_host(Some("127.0.0.1")).unwrap();
    via_relay.set_port(Some(port)).unwrap();
    let config = MysqlConfig {
        connect_timeout: Duration::from_secs(1),
        max_connections: 2,
        ..config(via_relay.as_str())
    };
    let b = MysqlBackend::new(config).unwrap();
    let k = key(&["outage"]);
    b.set(&k, "1".into(), None).await.unwrap();
    // Let sqlx's ping on release finish: the connection waits in the pool.
    tokio::time::sleep(Duration::from_millis(200)).await;
    assert!(b.pool().num_idle() >= 1);

    relay.stop().await;
    // Each pooled connection was cut under it: a call on one fails at once.
    // Then new connections are refused: a call fails when the timeout runs
    // out (max_connections is 2, so the third call is of that kind).
    let mut waited = Duration::ZERO;
    for _ in 0..3 {
        let started = Instant::now();
        let err = b.get(&k).await.unwrap_err();
        assert_eq!(err.kind, ErrorKind::Connection, "{}", err.message);
        let elapsed = started.elapsed();
        assert!(elapsed < Duration::from_millis(2500), "{elapsed:?}");
        waited = waited.max(elapsed);
    }
    assert!(waited >= Duration::from_millis(900), "{waited:?}");

    let relay = Relay::start(port, target).await;
    assert_eq!(b.get(&k).await.unwrap().as_deref(), Some("1"));
    assert!(b.cas(&k, Some("1"), Some("2".into()), None).await.unwrap());
    b.drop_storage().await.unwrap();
    b.close().await.unwrap();
    relay.stop().await;
}

#[tokio::test]
async fn close_releases_the_connections() {
    let Some(url) = url() else { return };
    let b = MysqlBackend::new(config(&url)).unwrap();
    b.set(&key(&["a"]), "1".into(), None).await.unwrap();
    let id = {
        let row = query("SELECT CONNECTION_ID()")
            .fetch_one(b.pool())
            .await
            .unwrap();
        row.try_get_unchecked::<i64, _>(0).unwrap()
    };
    b.drop_storage().await.unwrap();
    b.close().await.unwrap();
    let mut conn = raw(&url, None).await;
    let started = Instant::now();
    while scalar_i64(
        &mut conn,
        format!("SELECT COUNT(*) FROM information_schema.processlist WHERE id = {id}"),
    )
    .await
        != 0
    {
        assert!(
            started.elapsed() < Duration::from_secs(3),
            "connection {id} still open"
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

/// Writes over expired rows while another process purges them (here
/// Fedify's own table-wide expiry DELETE, which it runs after every write):
/// InnoDB may pick a write as a deadlock victim, and fedikv writes again.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn writes_survive_concurrent_purges() {
    let Some(url) = url() else { return };
    let config = config(&url);
    let table = config.table.clone();
    let b = Arc::new(MysqlBackend::new(config).unwrap());
    b.initialize().await.unwrap();
    let stop = Instant::now() + Duration::from_millis(1500);
    let purger = {
        let (url, table) = (url.clone(), table.clone());
        tokio::spawn(async move {
            let mut conn = raw(&url, None).await;
            let mut purges = 0;
            while Instant::now() < stop {
                // The purge may be the deadlock victim too; Fedify logs that.
                let _ = raw_sql(AssertSqlSafe(format!(
                    "DELETE FROM `{table}` WHERE `expires` IS NOT NULL AND `expires` < NOW(6)"
                )))
                .execute(&mut conn)
                .await;
                purges += 1;
            }
            purges
        })
    };
    let writers: Vec<_> = (0..4)
        .map(|w| {
            let b = b.clone();
            tokio::spawn(async move {
                let mut writes = 0;
                while Instant::now() < stop {
                    for i in 0..50 {
                        let k = key(&["churn", &format!("{i:02}")]);
                        // Rows that expire almost at once, for the purge.
                        b.set(&k, w.to_string(), ms(1.0)).await.unwrap();
                        let _ = b
                            .cas(&k, None, Some("\"x\"".into()), ms(1.0))
                            .await
                            .unwrap();
                        writes += 2;
                    }
                }
                writes
            })
        })
        .collect();
    let mut writes = 0;
    for w in writers {
        writes += w.await.unwrap();
    }
    let purges = purger.await.unwrap();
    assert!(
        writes > 100 && purges > 10,
        "{writes} writes, {purges} purges"
    );
    b.drop_storage().await.unwrap();
}
