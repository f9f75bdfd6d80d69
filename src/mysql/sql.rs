//! The statements, with the table name filled in once. The layout and the
//! expiry arithmetic are those of `@fedify/mysql` (`packages/mysql/src/kv.ts`):
//! `expires` is a `DATETIME(6)` computed from and compared with the server's
//! `NOW(6)`, so both stores agree on what is live as long as their sessions
//! share a time zone (the server's default, unless a URL says otherwise).

use sqlx_core::sql_str::{AssertSqlSafe, SqlSafeStr, SqlStr};
use std::sync::Arc;

/// Live rows: no expiry, or one still in the future (Fedify's predicate).
const LIVE: &str = "(`expires` IS NULL OR `expires` > NOW(6))";

/// `expires` for a TTL bound in microseconds; a NULL TTL gives NULL.
const EXPIRES: &str = "DATE_ADD(NOW(6), INTERVAL ? MICROSECOND)";

pub(super) struct Sql {
    pub create_table: SqlStr,
    pub create_index: SqlStr,
    pub drop_table: SqlStr,
    pub get: SqlStr,
    pub upsert: SqlStr,
    pub insert: SqlStr,
    pub lock_row: SqlStr,
    pub update: SqlStr,
    pub delete: SqlStr,
    pub list_all: SqlStr,
    pub list_range: SqlStr,
    /// As `list_all` and `list_range`, with a third column: the
    /// microseconds the entry has left, or NULL for no expiry.
    pub list_all_with_expiry: SqlStr,
    pub list_range_with_expiry: SqlStr,
    pub purge: SqlStr,
}

/// The time an entry has left, on the server's clock (the clock that
/// decides expiry), so that a copy made elsewhere keeps the same time left.
const MICROS_LEFT: &str = "TIMESTAMPDIFF(MICROSECOND, NOW(6), `expires`)";

fn sql(text: String) -> SqlStr {
    // Only validated table names are spliced in (see `validate_table_name`).
    AssertSqlSafe(Arc::<str>::from(text)).into_sql_str()
}

impl Sql {
    pub fn new(table: &str, purge_limit: u32) -> Sql {
        let t = format!("`{table}`");
        let list_all = |columns: &str| {
            sql(format!(
                "SELECT {columns} FROM {t} WHERE `key` > ? AND {LIVE} ORDER BY `key` LIMIT ?"
            ))
        };
        // The 2nd and 3rd parameters bound the keys under a prefix; see
        // `prefix_range`. A key range, never LIKE: no character is a pattern.
        let list_range = |columns: &str| {
            sql(format!(
                "SELECT {columns} FROM {t} \
                 WHERE `key` > ? AND `key` >= ? AND `key` <= ? AND {LIVE} \
                 ORDER BY `key` LIMIT ?"
            ))
        };
        let with_expiry = format!("`key`, `value`, {MICROS_LEFT}");
        Sql {
            // Fedify's DDL, word for word: the same engine, character set and
            // binary collation (byte order = the key order of listings, and
            // case-sensitive keys). On MariaDB `JSON` is LONGTEXT with a
            // json_valid() CHECK; on MySQL it is the binary JSON type.
            create_table: sql(format!(
                "CREATE TABLE IF NOT EXISTS {t} (\
                 `key` VARCHAR(768) NOT NULL, \
                 `value` JSON NOT NULL, \
                 `expires` DATETIME(6) NULL DEFAULT NULL, \
                 PRIMARY KEY (`key`)\
                 ) ENGINE=InnoDB DEFAULT CHARSET=utf8mb4 COLLATE=utf8mb4_bin"
            )),
            // MySQL has no CREATE INDEX IF NOT EXISTS: a duplicate name
            // (ER_DUP_KEYNAME) means another process was first, as in Fedify.
            create_index: sql(format!(
                "CREATE INDEX `idx_{table}_expires` ON {t} (`expires`)"
            )),
            drop_table: sql(format!("DROP TABLE IF EXISTS {t}")),
            get: sql(format!(
                "SELECT `value` FROM {t} WHERE `key` = ? AND {LIVE}"
            )),
            // VALUES() rather than MySQL 8's row alias: MariaDB has no alias.
            upsert: sql(format!(
                "INSERT INTO {t} (`key`, `value`, `expires`) VALUES (?, ?, {EXPIRES}) \
                 ON DUPLICATE KEY UPDATE `value` = VALUES(`value`), `expires` = VALUES(`expires`)"
            )),
            // Fails with ER_DUP_ENTRY when the key has a row, live or not.
            insert: sql(format!(
                "INSERT INTO {t} (`key`, `value`, `expires`) VALUES (?, ?, {EXPIRES})"
            )),
            // No liveness predicate, so that an expired row is locked too
            // (and then counts as absent); a missing row locks nothing that
            // `cas` goes on to insert into (see `MysqlBackend::cas`).
            lock_row: sql(format!(
                "SELECT `value`, (`expires` IS NOT NULL AND `expires` <= NOW(6)) \
                 FROM {t} WHERE `key` = ? FOR UPDATE"
            )),
            update: sql(format!(
                "UPDATE {t} SET `value` = ?, `expires` = {EXPIRES} WHERE `key` = ?"
            )),
            delete: sql(format!("DELETE FROM {t} WHERE `key` = ?")),
            list_all: list_all("`key`, `value`"),
            list_range: list_range("`key`, `value`"),
            list_all_with_expiry: list_all(&with_expiry),
            list_range_with_expiry: list_range(&with_expiry),
            // Through the `expires` index, oldest first, a bounded batch.
            purge: sql(format!(
                "DELETE FROM {t} WHERE `expires` IS NOT NULL AND `expires` < NOW(6) \
                 ORDER BY `expires` LIMIT {purge_limit}"
            )),
        }
    }
}
