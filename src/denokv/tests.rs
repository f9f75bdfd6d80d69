use super::test_server::{Server, ACCESS_TOKEN};
use super::*;
use crate::conformance;
use std::sync::Arc;
use std::time::Instant;

fn key(parts: &[&str]) -> Key {
    Key::new(parts.iter().map(|s| s.to_string()).collect()).unwrap()
}

fn ms(ms: f64) -> Option<Ttl> {
    Some(Ttl::from_millis(ms).unwrap())
}

fn hex(text: &str) -> Vec<u8> {
    (0..text.len())
        .step_by(2)
        .map(|i| u8::from_str_radix(&text[i..i + 2], 16).unwrap())
        .collect()
}

/// A backend and what must live as long as it (its temp dir, its server).
struct Scoped<G: Send + Sync + 'static> {
    backend: DenoKvBackend,
    _guard: G,
}

impl<G: Send + Sync + 'static> std::ops::Deref for Scoped<G> {
    type Target = DenoKvBackend;
    fn deref(&self) -> &DenoKvBackend {
        &self.backend
    }
}

#[async_trait]
impl<G: Send + Sync + 'static> KvBackend for Scoped<G> {
    fn name(&self) -> &'static str {
        self.backend.name()
    }
    async fn get(&self, key: &Key) -> Result<Option<String>> {
        self.backend.get(key).await
    }
    async fn set(&self, key: &Key, value: String, ttl: Option<Ttl>) -> Result<()> {
        self.backend.set(key, value, ttl).await
    }
    async fn delete(&self, key: &Key) -> Result<()> {
        self.backend.delete(key).await
    }
    async fn cas(
        &self,
        key: &Key,
        expected: Option<&str>,
        new: Option<String>,
        ttl: Option<Ttl>,
    ) -> Result<bool> {
        self.backend.cas(key, expected, new, ttl).await
    }
    async fn list_page(
        &self,
        prefix: &[String],
        cursor: Option<&str>,
        limit: usize,
        expiry: Expiry,
    ) -> Result<Page> {
        self.backend.list_page(prefix, cursor, limit, expiry).await
    }
    async fn drop_storage(&self) -> Result<()> {
        self.backend.drop_storage().await
    }
    async fn close(&self) -> Result<()> {
        self.backend.close().await
    }
}

/// A store on a new Deno KV file in a temp dir.
fn local() -> Scoped<tempfile::TempDir> {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("kv.sqlite3");
    Scoped {
        backend: DenoKvBackend::new(DenoKvConfig::new(path.to_str().unwrap())).unwrap(),
        _guard: dir,
    }
}

/// A store on a `denokv` server of its own, or `None` (skip).
fn remote() -> Option<Scoped<Server>> {
    let server = Server::start(None)?;
    let config = DenoKvConfig {
        access_token: Some(ACCESS_TOKEN.into()),
        ..DenoKvConfig::new(server.url())
    };
    Some(Scoped {
        backend: DenoKvBackend::new(config).unwrap(),
        _guard: server,
    })
}

conformance::suite!(local());

/// The contract's tests on a real `denokv` server. Those that expect an
/// entry gone within 100 ms of its expiry, or a listing's expiry, report
/// themselves skipped: `remote_expiry_within_the_grace` tests expiry there
/// instead, and `remote_cannot_list_expiry` the refusal.
mod remote_suite {
    use super::*;
    use crate::conformance::{Capabilities, Capability};
    conformance::suite!(
        {
            let Some(backend) = remote() else { return };
            backend
        },
        conformance::as_is,
        Capabilities {
            prompt_expiry: Capability::Lacks(
                "KV Connect cannot tell expired entries, and denokv collects them \
                 up to REMOTE_EXPIRY_GRACE late"
            ),
            list_expiry: Capability::Lacks("KV Connect's read answers carry no expiry"),
            ..Capabilities::ALL
        }
    );
}

// --- The V8 codec -----------------------------------------------------------

include!("v8_fixtures.rs");

#[test]
fn codec_writes_what_v8_serialize_writes() {
    for (text, v8_hex, stringified) in ROUND_TRIPS {
        let bytes = v8::json_to_v8(text).unwrap();
        assert_eq!(bytes, hex(v8_hex), "json_to_v8({text})");
        assert_eq!(
            v8::v8_to_json(&bytes).unwrap(),
            *stringified,
            "v8_to_json of {text}"
        );
    }
}

#[test]
fn strings_are_escaped_where_json_stringify_escapes_them() {
    // Escapes between runs that are copied whole, at the ends, side by
    // side, in Latin-1 (ASCII and not) and in two-byte strings.
    for text in [
        r#""plain ascii text, a long run of it""#,
        r#""ab\"cd\\ef\ngh\u0001ij\t""#,
        r#""\"\"\\\u001f""#,
        "\"caf\u{e9} \\\"cr\u{e8}me\\\" \\n\"",
        "\"\u{1f600} and \\\"quotes\\\"\\r\"",
    ] {
        let bytes = v8::json_to_v8(text).unwrap();
        assert_eq!(v8::v8_to_json(&bytes).unwrap(), text, "{text}");
    }
}

#[test]
fn codec_reads_what_json_stringify_makes_of_v8_values() {
    for (name, v8_hex, stringified) in DECODE_ONLY {
        assert_eq!(
            v8::v8_to_json(&hex(v8_hex)).unwrap(),
            *stringified,
            "{name}"
        );
    }
}

#[test]
fn codec_names_what_json_cannot_express() {
    for (what, v8_hex) in NOT_JSON {
        match v8::v8_to_json(&hex(v8_hex)) {
            Err(v8::DecodeError::NotJson(named)) => {
                assert!(named.contains(what), "{what}: {named}")
            }
            other => panic!("{what}: {other:?}"),
        }
    }
}

#[test]
fn codec_refuses_malformed_data_without_panicking() {
    // Every prefix of valid data, and a few corruptions of it.
    let valid = hex(ROUND_TRIPS
        .iter()
        .find(|(t, _, _)| t.starts_with("{\"x\""))
        .unwrap()
        .1);
    for end in 0..valid.len() {
        assert!(matches!(
            v8::v8_to_json(&valid[..end]),
            Err(v8::DecodeError::Malformed(_))
        ));
    }
    for bad in [
        "",
        "00",
        "ff",
        "ff11",
        "ff0f",
        "ff0f49ffffffffff7f",
        "ff0f6f7b05",
        "ff0f5e00",
        "ff0f2d",
        "ff0f63030000",
        "ff0f41ffffffff0f",
        "ff0f6f6f7b007b01",
        "ff0f0000007a",
    ] {
        assert!(v8::v8_to_json(&hex(bad)).is_err(), "{bad}");
    }
}

/// What Deno 2.9.6's `Deno.openKv()` stored (format version 16) for values
/// whose Node 20 `v8.serialize` differs only in the version byte.
#[test]
fn deno_kv_version_16() {
    for (v8_hex, json) in [
        ("ff102205706c61696e", "\"plain\""),
        (
            "ff10630ae5652c679e8a3dd800de",
            "\"\u{65e5}\u{672c}\u{8a9e}\u{1f600}\"",
        ),
        ("ff10630400d87800", "\"\\ud800x\""),
        (
            "ff106f4900490222016149022201626f2201632201647b0122037820794101302400017b04",
            "{\"0\":1,\"a\":1,\"b\":{\"c\":\"d\"},\"x y\":[null]}",
        ),
        ("ff1061044902490249064904400204", "[null,1,null,2]"),
        ("ff106f22095f5f70726f746f5f5f49027b01", "{\"__proto__\":1}"),
    ] {
        assert_eq!(v8::v8_to_json(&hex(v8_hex)).unwrap(), json, "{v8_hex}");
        let version_15 = format!("ff0f{}", &v8_hex[4..]);
        assert_eq!(v8::v8_to_json(&hex(&version_15)).unwrap(), json);
    }
}

#[test]
fn codec_handles_padding_and_old_tags() {
    // Padding before a tag, V8's old UTF-8 strings, `?` object counts.
    assert_eq!(v8::v8_to_json(&hex("ff0f0000490a")).unwrap(), "5");
    assert_eq!(v8::v8_to_json(&hex("ff0f5302c3a9")).unwrap(), "\"é\"");
    assert_eq!(v8::v8_to_json(&hex("ff0f3f02490a")).unwrap(), "5");
    // A two-byte string whose characters would start on an odd offset gets
    // a padding byte first, as `v8.serialize({ab: "Ā"})` writes it.
    let padded = v8::json_to_v8(r#"{"ab":"Ā"}"#).unwrap();
    assert_eq!(padded, hex("ff0f6f2202616200630200017b01"));
    assert_eq!(v8::v8_to_json(&padded).unwrap(), r#"{"ab":"Ā"}"#);
    let unpadded = v8::json_to_v8(r#"{"a":"Ā"}"#).unwrap();
    assert_eq!(unpadded, hex("ff0f6f220161630200017b01"));
}

#[test]
fn codec_limits_depth_and_expansion() {
    let deep = format!(
        "{}{}",
        "[".repeat(v8::MAX_DEPTH + 2),
        "]".repeat(v8::MAX_DEPTH + 2)
    );
    assert!(v8::json_to_v8(&deep).is_err());
    // As deep in V8 data (A 01 nested): an error, not a stack overflow.
    let mut bytes = hex("ff0f");
    for _ in 0..50_000 {
        bytes.extend_from_slice(&[b'A', 1]);
    }
    assert!(matches!(
        v8::v8_to_json(&bytes),
        Err(v8::DecodeError::NotJson(_))
    ));
    // 40 levels of [x, x], x being the level below: 2⁴⁰ copies as JSON.
    // Array ids go 0 (outermost) to 40 (the innermost, empty one); level L's
    // second element refers to its first, array L + 1.
    let mut bytes = hex("ff0f");
    for _ in 0..40 {
        bytes.extend_from_slice(&[b'A', 2]);
    }
    bytes.extend_from_slice(&hex("4100240000"));
    for level in (0..40u8).rev() {
        bytes.extend_from_slice(&[b'^', level + 1, b'$', 0, 2]);
    }
    assert!(matches!(
        v8::v8_to_json(&bytes),
        Err(v8::DecodeError::NotJson(_))
    ));
}

#[test]
fn js_numbers_print_as_javascript_prints_them() {
    let cases: &[(f64, &str)] = &[
        (0.0, "0"),
        (-0.0, "0"),
        (1.0, "1"),
        (-1.5, "-1.5"),
        (1e21, "1e+21"),
        (1e20, "100000000000000000000"),
        (123456789012345680000.0, "123456789012345680000"),
        (1e-6, "0.000001"),
        (1e-7, "1e-7"),
        (1.5e-7, "1.5e-7"),
        (0.1 + 0.2, "0.30000000000000004"),
        (5e-324, "5e-324"),
        (f64::MAX, "1.7976931348623157e+308"),
        (9007199254740993.0, "9007199254740992"),
        (1e15, "1000000000000000"),
        (-123e30, "-1.23e+32"),
    ];
    for (n, text) in cases {
        let mut out = String::new();
        v8::write_js_number(&mut out, *n);
        assert_eq!(out, *text, "{n}");
    }
}

#[test]
fn codec_keeps_lone_surrogates_and_member_order() {
    for (text, json) in [
        (r#""\ud800x\udfff""#, r#""\ud800x\udfff""#),
        (r#"["\ud83d\ude00"]"#, "[\"😀\"]"),
        (
            r#"{"z":1,"a":{"y":[],"b":null}}"#,
            r#"{"z":1,"a":{"y":[],"b":null}}"#,
        ),
        (r#" [ 1 , {"a" : "\u00e9\/"} ] "#, r#"[1,{"a":"é/"}]"#),
    ] {
        assert_eq!(
            v8::v8_to_json(&v8::json_to_v8(text).unwrap()).unwrap(),
            json,
            "{text}"
        );
    }
    for bad in [
        "",
        "[1,]",
        "{\"a\"}",
        "01",
        "1.",
        "\"\\x\"",
        "\"a",
        "nul",
        "[1] 2",
        "{\"a\":1,}",
    ] {
        assert!(v8::json_to_v8(bad).is_err(), "{bad}");
    }
}

// --- Configuration ----------------------------------------------------------

#[test]
fn bad_configurations_are_invalid_options() {
    let with_token = |target: &str| DenoKvConfig {
        access_token: Some("t0ken-s3cret".into()),
        ..DenoKvConfig::new(target)
    };
    for config in [
        DenoKvConfig::new(""),
        DenoKvConfig::new(":memory:"),
        DenoKvConfig::new("ftp://host/db"),
        DenoKvConfig::new("https://kv.example"),
        DenoKvConfig {
            access_token: Some(String::new()),
            ..DenoKvConfig::new("https://kv.example")
        },
        with_token("http://"),
        with_token("https://user:pa55@[::1"),
        DenoKvConfig {
            connect_timeout: Duration::ZERO,
            ..DenoKvConfig::new("kv.db")
        },
    ] {
        let shown = format!("{config:?}");
        let err = DenoKvBackend::new(config).err().expect(&shown);
        assert_eq!(err.kind, ErrorKind::InvalidOption, "{shown}");
        assert!(err.message.starts_with("Deno KV: "), "{}", err.message);
        assert!(!err.message.contains("pa55"), "{}", err.message);
    }
    assert!(DenoKvBackend::new(with_token("HTTPS://kv.example/db")).is_ok());
    assert!(DenoKvBackend::new(DenoKvConfig::new("relative/kv.db")).is_ok());
}

#[test]
fn debug_masks_the_token_and_password() {
    let config = DenoKvConfig {
        access_token: Some("t0ken-s3cret".into()),
        ..DenoKvConfig::new("https://user:pa55@kv.example/")
    };
    let shown = format!("{config:?}");
    assert!(
        !shown.contains("t0ken") && !shown.contains("pa55"),
        "{shown}"
    );
    assert!(shown.contains("kv.example"), "{shown}");
}

#[tokio::test]
async fn a_missing_directory_is_a_connection_error() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("no/such/dir/kv.sqlite3");
    let b = DenoKvBackend::new(DenoKvConfig::new(path.to_str().unwrap())).unwrap();
    let err = b.get(&key(&["a"])).await.unwrap_err();
    assert_eq!(err.kind, ErrorKind::Connection, "{}", err.message);
}

// --- Limits -----------------------------------------------------------------

/// A JSON string value whose V8 serialization is exactly `bytes` long.
fn string_value_of_serialized_size(bytes: usize) -> String {
    // ff 0f " varint(n) n bytes; n ≥ 16384 takes a 3-byte varint.
    format!("\"{}\"", "x".repeat(bytes - 6))
}

async fn limits_hold<B: KvBackend>(b: &B) {
    let k = key(&["limit"]);
    // Exactly 64 KiB serialized is fine, a byte more is refused.
    let fits = string_value_of_serialized_size(MAX_VALUE_BYTES);
    assert_eq!(v8::json_to_v8(&fits).unwrap().len(), MAX_VALUE_BYTES);
    b.set(&k, fits.clone(), None).await.unwrap();
    assert_eq!(b.get(&k).await.unwrap().as_deref(), Some(fits.as_str()));
    let over = string_value_of_serialized_size(MAX_VALUE_BYTES + 1);
    let err = b.set(&k, over.clone(), None).await.unwrap_err();
    assert_eq!(err.kind, ErrorKind::InvalidValue);
    assert!(err.message.contains("65536"), "{}", err.message);
    let err = b.cas(&k, Some(&fits), Some(over), None).await.unwrap_err();
    assert_eq!(err.kind, ErrorKind::InvalidValue);
    assert_eq!(b.get(&k).await.unwrap().as_deref(), Some(fits.as_str()));

    // 2 KiB a key, encoded (a part costs its bytes plus two).
    let long = key(&["k", &"x".repeat(MAX_KEY_BYTES - 3 - 2)]);
    b.set(&long, "1".into(), None).await.unwrap();
    assert_eq!(b.get(&long).await.unwrap().as_deref(), Some("1"));
    let too_long = key(&["k", &"x".repeat(MAX_KEY_BYTES - 3 - 1)]);
    let err = b.set(&too_long, "1".into(), None).await.unwrap_err();
    assert_eq!(err.kind, ErrorKind::InvalidKey);
    assert!(err.message.contains("2048"), "{}", err.message);
    for err in [
        b.get(&too_long).await.unwrap_err(),
        b.delete(&too_long).await.unwrap_err(),
        b.cas(&too_long, None, Some("1".into()), None)
            .await
            .unwrap_err(),
    ] {
        assert_eq!(err.kind, ErrorKind::InvalidKey);
    }
    let listed = b
        .list_page(&["k".into()], None, 100, Expiry::Skip)
        .await
        .unwrap();
    assert_eq!(listed.entries.len(), 1);
    // A prefix longer than any key lists nothing.
    let huge_prefix = vec!["x".repeat(4000)];
    assert!(b
        .list_page(&huge_prefix, None, 10, Expiry::Skip)
        .await
        .unwrap()
        .entries
        .is_empty());
}

#[tokio::test]
async fn limits_local() {
    let b = local();
    limits_hold(&*b).await;
}

#[tokio::test]
async fn limits_remote() {
    let Some(b) = remote() else { return };
    limits_hold(&*b).await;
}

// --- cas ----------------------------------------------------------------------

/// 20 concurrent `cas(key, None, …)` on an absent key: exactly one wins.
async fn one_of_many_creators_wins<B: KvBackend>(b: Arc<B>) {
    for round in 0..3 {
        let k = key(&["race", &round.to_string()]);
        let tasks: Vec<_> = (0..20)
            .map(|i| {
                let (b, k) = (b.clone(), k.clone());
                tokio::spawn(async move { b.cas(&k, None, Some(i.to_string()), None).await })
            })
            .collect();
        let mut winners = Vec::new();
        for (i, task) in tasks.into_iter().enumerate() {
            if task.await.unwrap().unwrap() {
                winners.push(i);
            }
        }
        assert_eq!(winners.len(), 1, "round {round}: {winners:?}");
        assert_eq!(
            b.get(&k).await.unwrap(),
            Some(winners[0].to_string()),
            "round {round}"
        );
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn cas_race_on_an_absent_key_local() {
    one_of_many_creators_wins(Arc::new(local())).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn cas_race_on_an_absent_key_remote() {
    let Some(b) = remote() else { return };
    one_of_many_creators_wins(Arc::new(b)).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn two_stores_on_one_file_count_together() {
    // Two stores on one file (as two processes would be): 2 × 4 workers ×
    // 10 increments through get + cas end at exactly 80.
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("kv.sqlite3");
    let open = || Arc::new(DenoKvBackend::new(DenoKvConfig::new(path.to_str().unwrap())).unwrap());
    let stores = [open(), open()];
    let k = key(&["counter"]);
    let mut workers = Vec::new();
    for store in &stores {
        for _ in 0..4 {
            let (store, k) = (store.clone(), k.clone());
            workers.push(tokio::spawn(async move {
                for _ in 0..10 {
                    loop {
                        let current = store.get(&k).await.unwrap();
                        let n: i64 = current.as_deref().map_or(0, |v| v.parse().unwrap());
                        if store
                            .cas(&k, current.as_deref(), Some((n + 1).to_string()), None)
                            .await
                            .unwrap()
                        {
                            break;
                        }
                    }
                }
            }));
        }
    }
    for w in workers {
        w.await.unwrap();
    }
    assert_eq!(stores[1].get(&k).await.unwrap().as_deref(), Some("80"));
    for store in stores {
        store.close().await.unwrap();
    }
}

// --- The file, as Deno keeps it -----------------------------------------------

fn raw(path: &std::path::Path) -> rusqlite::Connection {
    rusqlite::Connection::open(path).unwrap()
}

/// A store on a file in `dir`, and the file's path.
fn local_in(dir: &tempfile::TempDir) -> (DenoKvBackend, std::path::PathBuf) {
    let path = dir.path().join("kv.sqlite3");
    let b = DenoKvBackend::new(DenoKvConfig::new(path.to_str().unwrap())).unwrap();
    (b, path)
}

#[tokio::test]
async fn writes_deno_kv_rows() {
    let dir = tempfile::tempdir().unwrap();
    let (b, path) = local_in(&dir);
    b.set(&key(&["a", "b"]), r#"{"a":[1,"x",null]}"#.into(), None)
        .await
        .unwrap();
    let before = now_ms();
    b.set(&key(&["t"]), "true".into(), ms(60_000.0))
        .await
        .unwrap();
    let db = raw(&path);
    let (k, v, encoding, expiration): (Vec<u8>, Vec<u8>, i64, i64) = db
        .query_row(
            "SELECT k, v, v_encoding, expiration_ms FROM kv ORDER BY k LIMIT 1",
            [],
            |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?, r.get(3)?)),
        )
        .unwrap();
    // The Deno key ["a", "b"], the bytes of v8.serialize({a: [1, "x", null]}).
    assert_eq!(k, [0x02, b'a', 0, 0x02, b'b', 0]);
    assert_eq!(v, hex("ff0f6f22016141034902220178302400037b01"));
    assert_eq!(encoding, denokv_proto::VALUE_ENCODING_V8);
    assert_eq!(expiration, -1);
    let expiration: i64 = db
        .query_row(
            "SELECT expiration_ms FROM kv WHERE k = x'027400'",
            [],
            |r| r.get(0),
        )
        .unwrap();
    assert!(
        (before + 60_000..=now_ms() + 60_000).contains(&expiration),
        "{expiration}"
    );
    let version: i64 = db
        .query_row("SELECT version FROM migration_state WHERE k = 0", [], |r| {
            r.get(0)
        })
        .unwrap();
    assert_eq!(version, 3, "Deno KV's schema version");
    b.close().await.unwrap();
}

/// Writes an entry the way a Deno app would, with any key and value.
async fn write_raw(b: &DenoKvBackend, key: denokv_proto::Key, value: KvValue) {
    let k = denokv_proto::encode_key(&key).unwrap();
    let mutation = Mutation {
        key: k,
        kind: MutationKind::Set(value),
        expire_at: None,
    };
    assert!(b.write_one(None, mutation).await.unwrap());
}

fn deno_key(parts: &[&str]) -> denokv_proto::Key {
    denokv_proto::Key(
        parts
            .iter()
            .map(|p| denokv_proto::KeyPart::String(p.to_string()))
            .collect(),
    )
}

async fn reads_what_deno_apps_write(b: &DenoKvBackend) {
    // Values as Deno serializes them.
    write_raw(
        b,
        deno_key(&["d", "obj"]),
        KvValue::V8(hex(
            "ff0f6f2201616f22016b49027b0122016241025e015e012400027b02",
        )),
    )
    .await;
    assert_eq!(
        b.get(&key(&["d", "obj"])).await.unwrap().as_deref(),
        Some(r#"{"a":{"k":1},"b":[{"k":1},{"k":1}]}"#)
    );
    // A Date, a Uint8Array (stored as bytes), a Deno.KvU64: named errors.
    write_raw(
        b,
        deno_key(&["d", "date"]),
        KvValue::V8(hex("ff0f440000000000000000")),
    )
    .await;
    write_raw(b, deno_key(&["d", "bytes"]), KvValue::Bytes(vec![1, 2])).await;
    write_raw(b, deno_key(&["d", "u64"]), KvValue::U64(7)).await;
    for (part, what) in [
        ("date", "a Date"),
        ("bytes", "a Uint8Array"),
        ("u64", "a Deno.KvU64"),
    ] {
        let err = b.get(&key(&["d", part])).await.unwrap_err();
        assert_eq!(err.kind, ErrorKind::InvalidData, "{part}");
        assert!(
            err.message.contains(what) && err.message.contains(&format!(r#"["d","{part}"]"#)),
            "{}",
            err.message
        );
        // Such a value equals no JSON value; replacing it needs a delete.
        assert!(!b
            .cas(&key(&["d", part]), None, Some("1".into()), None)
            .await
            .unwrap());
        assert!(!b
            .cas(&key(&["d", part]), Some("{}"), Some("1".into()), None)
            .await
            .unwrap());
    }
    let err = b
        .list_page(&["d".into()], None, 10, Expiry::Skip)
        .await
        .unwrap_err();
    assert_eq!(err.kind, ErrorKind::InvalidData);
    // Keys that are no KvKey (a number part) are not entries of this store.
    let mut numeric = deno_key(&["n"]);
    numeric.0.push(denokv_proto::KeyPart::Float(1.0));
    write_raw(b, numeric, KvValue::V8(hex("ff0f4902"))).await;
    write_raw(b, deno_key(&["n", "s"]), KvValue::V8(hex("ff0f4904"))).await;
    let page = b
        .list_page(&["n".into()], None, 10, Expiry::Skip)
        .await
        .unwrap();
    assert_eq!(page.entries.len(), 1);
    assert_eq!(page.entries[0].key, key(&["n", "s"]));
    assert_eq!(page.entries[0].value, "2");
    b.drop_storage().await.unwrap();
    assert!(b
        .list_page(&[], None, 10, Expiry::Skip)
        .await
        .unwrap()
        .entries
        .is_empty());
}

#[tokio::test]
async fn reads_what_deno_apps_write_local() {
    let b = local();
    reads_what_deno_apps_write(&b).await;
}

#[tokio::test]
async fn reads_what_deno_apps_write_remote() {
    let Some(b) = remote() else { return };
    reads_what_deno_apps_write(&b).await;
}

#[tokio::test]
async fn expired_rows_deno_has_not_collected_are_gone() {
    let dir = tempfile::tempdir().unwrap();
    let (b, path) = local_in(&dir);
    let k = key(&["e"]);
    b.set(&k, "1".into(), ms(30.0)).await.unwrap();
    b.set(&key(&["e", "kept"]), "2".into(), None).await.unwrap();
    tokio::time::sleep(Duration::from_millis(60)).await;
    // Deno's collector has not run yet: the row is still in the file...
    let rows: i64 = raw(&path)
        .query_row("SELECT count(*) FROM kv", [], |r| r.get(0))
        .unwrap();
    assert_eq!(rows, 2, "the collector ran early; the test proves nothing");
    // ...but it is expired, so absent.
    assert_eq!(b.get(&k).await.unwrap(), None);
    let page = b
        .list_page(&["e".into()], None, 10, Expiry::Skip)
        .await
        .unwrap();
    assert_eq!(page.entries.len(), 1);
    assert!(!b.cas(&k, Some("1"), Some("3".into()), None).await.unwrap());
    assert!(b.cas(&k, None, Some("3".into()), None).await.unwrap());
    assert_eq!(b.get(&k).await.unwrap().as_deref(), Some("3"));
    b.close().await.unwrap();
}

#[tokio::test]
async fn close_stops_the_writer_and_reopening_works() {
    let dir = tempfile::tempdir().unwrap();
    let (b, path) = local_in(&dir);
    b.set(&key(&["x"]), "1".into(), None).await.unwrap();
    b.close().await.unwrap();
    b.close().await.unwrap();
    let again = DenoKvBackend::new(DenoKvConfig::new(path.to_str().unwrap())).unwrap();
    assert_eq!(again.get(&key(&["x"])).await.unwrap().as_deref(), Some("1"));
    again.close().await.unwrap();
}

// --- KV Connect ---------------------------------------------------------------

/// Through KV Connect an entry goes when `denokv` collects it: within
/// [`REMOTE_EXPIRY_GRACE`] (on a fresh server, about a minute).
#[tokio::test]
async fn remote_expiry_within_the_grace() {
    let Some(b) = remote() else { return };
    let k = key(&["ttl"]);
    b.set(&key(&["ttl", "long"]), "1".into(), ms(600_000.0))
        .await
        .unwrap();
    b.set(&k, "1".into(), ms(100.0)).await.unwrap();
    let set_at = Instant::now();
    assert_eq!(b.get(&k).await.unwrap().as_deref(), Some("1"));
    while b.get(&k).await.unwrap().is_some() {
        assert!(
            set_at.elapsed() < Duration::from_millis(100) + REMOTE_EXPIRY_GRACE,
            "still there {:?} after a TTL of 100 ms",
            set_at.elapsed()
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    eprintln!(
        "KV Connect: gone {:?} after a TTL of 100 ms",
        set_at.elapsed()
    );
    assert_eq!(
        b.get(&key(&["ttl", "long"])).await.unwrap().as_deref(),
        Some("1")
    );
}

/// KV Connect's read answers carry no expiry: a listing that must read it
/// is refused at once (before any request), rather than calling every
/// entry permanent.
#[tokio::test]
async fn remote_cannot_list_expiry() {
    let config = DenoKvConfig {
        access_token: Some(ACCESS_TOKEN.into()),
        connect_timeout: Duration::from_millis(500),
        ..DenoKvConfig::new("http://127.0.0.1:9")
    };
    let b = DenoKvBackend::new(config).unwrap();
    let err = b.list_page(&[], None, 10, Expiry::Read).await.unwrap_err();
    assert_eq!(err.kind, ErrorKind::Unsupported, "{}", err.message);
    assert!(err.message.contains("KV Connect"), "{}", err.message);
    // A listing without expiry goes to the server (here: none there).
    let err = b.list_page(&[], None, 10, Expiry::Skip).await.unwrap_err();
    assert_eq!(err.kind, ErrorKind::Connection, "{}", err.message);
}

#[tokio::test]
async fn remote_unreachable_fails_in_time_and_recovers() {
    let Some(binary_check) = super::test_server::denokv_binary() else {
        return;
    };
    drop(binary_check);
    let port = crate::test_support::free_port();
    let config = DenoKvConfig {
        access_token: Some(ACCESS_TOKEN.into()),
        connect_timeout: Duration::from_secs(1),
        ..DenoKvConfig::new(format!("http://127.0.0.1:{port}"))
    };
    let b = DenoKvBackend::new(config).unwrap();
    for _ in 0..2 {
        let started = Instant::now();
        let err = b.get(&key(&["a"])).await.unwrap_err();
        assert_eq!(err.kind, ErrorKind::Connection, "{}", err.message);
        assert!(
            started.elapsed() < Duration::from_secs(3),
            "{:?}",
            started.elapsed()
        );
        assert!(
            err.message.contains(&format!("127.0.0.1:{port}")),
            "{}",
            err.message
        );
    }
    // The server comes up on that port: the same store works.
    let _server = Server::start(Some(port)).unwrap();
    let started = Instant::now();
    loop {
        match b.set(&key(&["a"]), "1".into(), None).await {
            Ok(()) => break,
            Err(e) => {
                assert_eq!(e.kind, ErrorKind::Connection);
                assert!(
                    started.elapsed() < Duration::from_secs(10),
                    "no recovery: {}",
                    e.message
                );
            }
        }
    }
    assert_eq!(b.get(&key(&["a"])).await.unwrap().as_deref(), Some("1"));
    b.close().await.unwrap();
}

#[tokio::test]
async fn remote_wrong_token_is_a_connection_error() {
    let Some(server) = Server::start(None) else {
        return;
    };
    let config = DenoKvConfig {
        access_token: Some("not-the-right-token".into()),
        connect_timeout: Duration::from_secs(2),
        ..DenoKvConfig::new(server.url())
    };
    let b = DenoKvBackend::new(config).unwrap();
    let started = Instant::now();
    let err = b.get(&key(&["a"])).await.unwrap_err();
    assert_eq!(err.kind, ErrorKind::Connection, "{}", err.message);
    assert!(started.elapsed() < Duration::from_secs(4));
    assert!(
        !err.message.contains("not-the-right-token"),
        "{}",
        err.message
    );
}
