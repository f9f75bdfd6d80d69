//! The table name and the statements, built once per store. The name is the
//! only text spliced into SQL, so it is validated first; every value is a
//! bound parameter.

use crate::error::{Error, ErrorKind, Result};
use sqlx_core::sql_str::{AssertSqlSafe, SqlSafeStr, SqlStr};
use std::sync::Arc;

/// PostgreSQL truncates identifiers to 63 bytes (NAMEDATALEN - 1).
const MAX_IDENTIFIER: usize = 63;

/// Accepts `table` or `schema.table`, each part `[A-Za-z_][A-Za-z0-9_]*` of
/// at most 63 bytes. Parts are quoted in SQL, so case is kept, as
/// `@fedify/postgres` quotes them too.
pub fn validate_table_name(name: &str) -> Result<()> {
    let parts: Vec<&str> = name.split('.').collect();
    let ok = parts.len() <= 2 && parts.iter().all(|part| is_identifier(part));
    if ok {
        Ok(())
    } else {
        Err(Error::new(
            ErrorKind::InvalidOption,
            format!(
                "PostgreSQL: invalid table name {name:?}: use 1 to 63 letters, digits and \
                 underscores, not starting with a digit, optionally after a schema name \
                 and a dot"
            ),
        ))
    }
}

fn is_identifier(part: &str) -> bool {
    crate::sql::names::is_sql_identifier(part, MAX_IDENTIFIER)
}

/// `"schema"."table"` for a validated name (no quote can occur in it).
pub(super) fn quote_table_name(name: &str) -> String {
    name.split('.')
        .map(|part| format!("\"{part}\""))
        .collect::<Vec<_>>()
        .join(".")
}

/// Live, by the rule of `@fedify/postgres`, on the server's clock.
const LIVE: &str = "(ttl IS NULL OR created + ttl > CURRENT_TIMESTAMP)";

/// Every statement of the store. `SqlStr`s built from an `Arc<str>` clone
/// without copying; sqlx prepares each once per connection and caches it.
pub(super) struct Sql {
    /// The quoted table name, for `to_regclass`.
    pub quoted_table: String,
    pub create_table: SqlStr,
    pub create_unlogged_table: SqlStr,
    pub is_unlogged: SqlStr,
    pub set_logged: SqlStr,
    pub drop_table: SqlStr,
    pub get: SqlStr,
    /// Several keys at once: $1 their parts end to end, $2 and $3 where
    /// each key starts and ends in $1; a row per key: (its ordinal from 1,
    /// its live value or NULL).
    pub get_many: SqlStr,
    pub set: SqlStr,
    pub delete: SqlStr,
    pub cas_absent_to_absent: SqlStr,
    pub cas_absent_to_value: SqlStr,
    pub cas_value_to_value: SqlStr,
    pub cas_value_to_absent: SqlStr,
    /// Listings of keys and values; rows are (key, value, NULL).
    pub list: ListSql,
    /// Listings with each entry's time left; rows are (key, value,
    /// milliseconds left as float8 or NULL for no TTL).
    pub list_with_expiry: ListSql,
    pub purge: SqlStr,
}

/// The four shapes of a listing page: everything or a prefix, first page
/// or after a key. Parameters: $1 the limit, $2 the prefix, $3 its upper
/// bound, $4 its length, $5 the key the page starts after (or $2 that key
/// when listing everything).
pub(super) struct ListSql {
    pub all_first: SqlStr,
    pub all_after: SqlStr,
    pub prefix_first: SqlStr,
    pub prefix_after: SqlStr,
}

/// The time an entry has left, in milliseconds, on the server's clock (the
/// clock that decides expiry), so that a copy made elsewhere keeps the
/// same time left even if the clocks differ.
const MILLIS_LEFT: &str = "(EXTRACT(EPOCH FROM created + ttl - CURRENT_TIMESTAMP) * 1000)::float8";

fn sql(text: String) -> SqlStr {
    AssertSqlSafe(Arc::<str>::from(text)).into_sql_str()
}

impl Sql {
    /// `table` must have passed [`validate_table_name`].
    pub fn new(table: &str) -> Sql {
        let t = quote_table_name(table);
        let columns = "key text[] PRIMARY KEY, value jsonb NOT NULL, \
                       created timestamp with time zone DEFAULT CURRENT_TIMESTAMP, ttl interval";
        // Values leave as text so that one decoder serves; `jsonb`'s text
        // output is normalised JSON (see `compact_json`). Keys written by
        // others as arrays of several dimensions, or with a first index
        // other than 1, are no KvKeys (`get` never finds them, and the
        // driver cannot decode the former): listings skip them.
        let list = |expiry: &str| {
            let page = |condition: &str| {
                sql(format!(
                    "SELECT key, value::text, {expiry} FROM {t} WHERE {condition} AND {LIVE} \
                     AND array_ndims(key) = 1 AND array_lower(key, 1) = 1 ORDER BY key LIMIT $1"
                ))
            };
            ListSql {
                all_first: page("true"),
                all_after: page("key > $2"),
                // $2..$3 bound the index scan to the keys under the prefix
                // (see `prefix_upper_bound`); the slice comparison keeps it exact.
                prefix_first: page("key >= $2 AND key < $3 AND key[1:$4] = $2"),
                prefix_after: page("key > $5 AND key < $3 AND key[1:$4] = $2"),
            }
        };
        Sql {
            create_table: sql(format!("CREATE TABLE IF NOT EXISTS {t} ({columns})")),
            create_unlogged_table: sql(format!(
                "CREATE UNLOGGED TABLE IF NOT EXISTS {t} ({columns})"
            )),
            is_unlogged: sql(
                "SELECT relpersistence = 'u' FROM pg_class WHERE oid = to_regclass($1)".into(),
            ),
            set_logged: sql(format!("ALTER TABLE {t} SET LOGGED")),
            drop_table: sql(format!("DROP TABLE IF EXISTS {t}")),
            get: sql(format!(
                "SELECT value::text FROM {t} WHERE key = $1 AND {LIVE}"
            )),
            // A subquery per key, so that each is an index lookup whatever
            // the planner thinks of the table (as a join, a generic plan
            // may hash the whole table); a slice of a 1-D array starts at
            // 1, as the stored keys do.
            get_many: sql(format!(
                "SELECT s.n, (SELECT t.value::text FROM {t} AS t \
                 WHERE t.key = ($1::text[])[s.first:s.last] AND {LIVE}) \
                 FROM unnest($2::int4[], $3::int4[]) WITH ORDINALITY AS s(first, last, n)"
            )),
            // The statement of @fedify/postgres: an update restarts the
            // entry's clock (`created`) along with its TTL.
            set: sql(format!(
                "INSERT INTO {t} (key, value, ttl) VALUES ($1, $2::jsonb, $3) \
                 ON CONFLICT (key) DO UPDATE SET value = EXCLUDED.value, \
                 created = CURRENT_TIMESTAMP, ttl = EXCLUDED.ttl"
            )),
            delete: sql(format!("DELETE FROM {t} WHERE key = $1")),
            // Each cas is one statement, atomic under READ COMMITTED: the
            // row lock taken by UPDATE/DELETE/ON CONFLICT makes a concurrent
            // writer wait, and the waiter re-evaluates its WHERE against the
            // committed row (so of two racing swaps from the same value, the
            // second finds the value changed). An insert racing an insert
            // on an absent key waits on the primary key, then takes the
            // ON CONFLICT branch, whose WHERE only lets an expired row be
            // replaced: exactly one of them wins.
            cas_absent_to_absent: sql(format!(
                "SELECT NOT EXISTS (SELECT FROM {t} WHERE key = $1 AND {LIVE})"
            )),
            cas_absent_to_value: sql(format!(
                "INSERT INTO {t} AS existing (key, value, ttl) VALUES ($1, $2::jsonb, $3) \
                 ON CONFLICT (key) DO UPDATE SET value = EXCLUDED.value, \
                 created = CURRENT_TIMESTAMP, ttl = EXCLUDED.ttl \
                 WHERE existing.ttl IS NOT NULL \
                 AND existing.created + existing.ttl <= CURRENT_TIMESTAMP \
                 RETURNING true"
            )),
            // jsonb `=` is deep equality: member order and number spelling
            // (1 = 1.0 = 1e0) do not matter, as in `json::json_text_equal`.
            cas_value_to_value: sql(format!(
                "UPDATE {t} SET value = $2::jsonb, created = CURRENT_TIMESTAMP, ttl = $3 \
                 WHERE key = $1 AND {LIVE} AND value = $4::jsonb RETURNING true"
            )),
            cas_value_to_absent: sql(format!(
                "DELETE FROM {t} WHERE key = $1 AND {LIVE} AND value = $2::jsonb RETURNING true"
            )),
            list: list("NULL::float8"),
            list_with_expiry: list(MILLIS_LEFT),
            // Fedify's layout has no index on expiry, so this is a
            // sequential scan that stops after $1 expired rows; SKIP LOCKED
            // leaves rows being written (or purged by another process) alone.
            purge: sql(format!(
                "DELETE FROM {t} WHERE ctid = ANY(ARRAY(SELECT ctid FROM {t} \
                 WHERE ttl IS NOT NULL AND created + ttl <= CURRENT_TIMESTAMP \
                 LIMIT $1 FOR UPDATE SKIP LOCKED))"
            )),
            quoted_table: t,
        }
    }
}

/// An exclusive upper bound for the keys that start with `prefix`
/// (non-empty): the prefix with U+0001 appended to its last part.
///
/// Arrays compare part by part, so every key under the prefix sorts
/// at or after the prefix itself and before this bound: their part `n`
/// equals the prefix's last part `p`, and `p` sorts before `p || U+0001`
/// under any deterministic collation (a proper prefix sorts first, or ties
/// and is broken by byte order). Under a byte-order collation (`C`,
/// `C.UTF-8`) nothing else lies in between, since text cannot hold U+0000,
/// the only character below U+0001; under a linguistic one a few keys whose
/// part `n` collates between `p` and `p || U+0001` may be read and are
/// dropped by the exact slice comparison.
pub(super) fn prefix_upper_bound(prefix: &[String]) -> Vec<String> {
    let mut bound = prefix.to_vec();
    if let Some(last) = bound.last_mut() {
        last.push('\u{1}');
    }
    bound
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn table_names_cannot_inject() {
        for bad in [
            "",
            "1abc",
            "a-b",
            "a\"b",
            "t; DROP TABLE x",
            "ü",
            "a.b.c",
            ".a",
            "a.",
            &"a".repeat(64),
        ] {
            assert_eq!(
                validate_table_name(bad).unwrap_err().kind,
                ErrorKind::InvalidOption,
                "{bad}"
            );
        }
        for good in ["fedify_kv_v2", "_t", "T1", "public.kv", &"a".repeat(63)] {
            validate_table_name(good).unwrap();
        }
        assert_eq!(quote_table_name("s.Kv"), r#""s"."Kv""#);
    }
}
