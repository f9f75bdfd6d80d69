//! Listing by `SCAN`: a page of keys under a prefix, then their values in
//! one `MGET`; or, when the listing reads expiry, each value with its
//! `PTTL` in one `MULTI` transaction per hash slot ([`Listing::values_and_expiry`]).
//!
//! `SCAN … MATCH` with the store prefix and the encoded list prefix (glob
//! characters escaped) finds candidates; each is decoded and its parts
//! compared in Rust, since a glob match is only a text match (`["ab"]`
//! starts with the text of `["a"]`). The prefix key itself matches too.
//!
//! The opaque cursor is a [`Position`]: the node being scanned (a Cluster
//! is scanned one master at a time, in address order), its `SCAN` cursor,
//! and the matching keys the last `SCAN` returned beyond the page (a `SCAN`
//! may return more than its `COUNT`, and a page never exceeds its limit).
//!
//! What `SCAN` guarantees is what a listing guarantees: an entry present
//! for the whole listing is returned; one written or deleted meanwhile may
//! or may not be. `SCAN` may return a key twice when Redis resizes its hash
//! table during the listing; duplicates are removed within a page (and the
//! keys carried in the cursor), not across pages. In a Cluster, a master
//! added, removed or failed over during a listing may make it miss or
//! repeat that node's keys.

use super::connection::Conn;
use super::keys::decode_key;
use crate::backend::Expiry;
use crate::error::{Error, ErrorKind, Result};
use crate::key::Key;
use crate::ttl::now_ms;
use redis::cluster_async::ClusterConnection;
use redis::cluster_routing::{RoutingInfo, SingleNodeRoutingInfo, Slot};
use redis::{FromRedisValue, RedisResult, Value};
use std::collections::{HashMap, HashSet, VecDeque};

/// `SCAN`'s `COUNT` starts at the page size (at least this), so that a page
/// of a dense listing takes one `SCAN`...
const MIN_SCAN_COUNT: usize = 16;
/// ...and is then sized from the share of matching keys seen so far, to
/// find what the page still needs in one more `SCAN`, up to this. `SCAN`'s
/// cost on the server is per key visited, whatever `COUNT` is, so a large
/// `COUNT` only saves round trips; it bounds the keys a cursor carries
/// (a `SCAN` in a denser stretch than the one before may find more than
/// the page needs).
const MAX_SCAN_COUNT: usize = 16_384;
/// At most this many `SCAN`s per page, so that one page call stays short
/// even when few keys match; the page may then be short, with a cursor.
const MAX_SCANS_PER_PAGE: usize = 32;

/// The `COUNT` of the next `SCAN`: enough keys, at the share of matches
/// seen so far (`matched` of `visited`), to find `needed` more, with a
/// quarter to spare; the page size for the first.
fn scan_count(needed: usize, matched: usize, visited: usize) -> usize {
    let wanted = if visited == 0 {
        needed
    } else {
        // needed / (share of matches), the share counted as at least one
        // match so that a stretch without any grows the COUNT to its bound.
        let share = (matched.max(1) as f64) / (visited as f64);
        ((needed as f64 / share) * 1.25).ceil() as usize
    };
    wanted.clamp(MIN_SCAN_COUNT, MAX_SCAN_COUNT)
}

/// Where a listing stands; its JSON text is the cursor.
#[derive(Clone, Debug, Default, PartialEq)]
pub(super) struct Position {
    /// The master being scanned, `host:port`; empty for a standalone server
    /// and before a Cluster listing has picked its first master.
    node: String,
    /// The `SCAN` cursor on that node; `None` once its scan is complete.
    scan: Option<String>,
    /// Matching keys (what follows the store prefix) found but not yet returned.
    pending: VecDeque<String>,
}

impl Position {
    pub(super) fn start() -> Position {
        Position {
            scan: Some("0".into()),
            ..Position::default()
        }
    }

    pub(super) fn parse(cursor: &str) -> Result<Position> {
        let (node, scan, pending) =
            serde_json::from_str::<(String, Option<String>, VecDeque<String>)>(cursor).map_err(
                |_| {
                    Error::new(
                        ErrorKind::InvalidOption,
                        "Redis: not a cursor of this listing",
                    )
                },
            )?;
        Ok(Position {
            node,
            scan,
            pending,
        })
    }

    fn to_cursor(&self) -> String {
        serde_json::json!([self.node, self.scan, self.pending]).to_string()
    }
}

/// What a page call found: keys with their values as stored (UTF-8 is
/// checked by the caller), and the cursor of the next page.
pub(super) struct RawPage {
    pub entries: Vec<RawEntry>,
    pub cursor: Option<String>,
}

pub(super) struct RawEntry {
    pub key: Key,
    /// `None` for a key gone since the `SCAN` (or holding no string).
    pub value: Option<Vec<u8>>,
    /// When it expires, epoch milliseconds; read only with [`Expiry::Read`].
    pub expires_at: Option<i64>,
}

/// One listing's fixed parts.
pub(super) struct Listing<'a> {
    pub store_prefix: &'a str,
    pub list_prefix: &'a [String],
    /// The `SCAN MATCH` pattern: escaped store prefix and list prefix, then `*`.
    pub pattern: String,
}

impl Listing<'_> {
    /// The key of an encoded text if it is one of this listing's.
    fn accept(&self, suffix: &str) -> Option<Key> {
        decode_key(suffix).filter(|key| key.has_prefix(self.list_prefix))
    }

    pub(super) async fn page(
        &self,
        conn: &mut Conn,
        mut pos: Position,
        limit: usize,
        expiry: Expiry,
    ) -> RedisResult<RawPage> {
        let masters = match conn {
            Conn::Cluster(c) => Some(masters(c).await?),
            Conn::Standalone(_) => None,
        };
        if let Some(masters) = &masters {
            if !masters.contains(&pos.node) {
                // A fresh listing, or its node left the cluster: go on with
                // the next master in address order.
                match next_master(masters, &pos.node) {
                    Some(node) => {
                        pos.node = node;
                        pos.scan = Some("0".into());
                    }
                    None => pos.scan = None,
                }
            }
        }

        let mut seen: HashSet<String> = pos.pending.iter().cloned().collect();
        let mut picked: Vec<(String, Key)> = Vec::with_capacity(limit);
        // What this page's `SCAN`s visited and found, for their `COUNT`.
        let (mut visited, mut matched) = (0, 0);
        let mut scans = 0;
        loop {
            while picked.len() < limit {
                let Some(suffix) = pos.pending.pop_front() else {
                    break;
                };
                // Checked again: the cursor came from outside.
                if let Some(key) = self.accept(&suffix) {
                    picked.push((suffix, key));
                }
            }
            if picked.len() >= limit {
                break;
            }
            if let Some(scan) = pos.scan.take() {
                if scans == MAX_SCANS_PER_PAGE {
                    pos.scan = Some(scan);
                    break;
                }
                scans += 1;
                // Nothing is pending here: the page took it all.
                let count = scan_count(limit - picked.len(), matched, visited);
                let (next, keys) = self.scan(conn, &pos.node, &scan, count).await?;
                let before = pos.pending.len();
                for key in keys {
                    let Some(suffix) = key
                        .strip_prefix(self.store_prefix.as_bytes())
                        .and_then(|s| std::str::from_utf8(s).ok())
                    else {
                        continue;
                    };
                    if self.accept(suffix).is_some() && seen.insert(suffix.to_owned()) {
                        pos.pending.push_back(suffix.to_owned());
                    }
                }
                visited += count;
                matched += pos.pending.len() - before;
                pos.scan = (next != "0").then_some(next);
                continue;
            }
            // This node is done and nothing is pending: the next master.
            match masters.as_ref().and_then(|m| next_master(m, &pos.node)) {
                Some(node) => {
                    pos.node = node;
                    pos.scan = Some("0".into());
                }
                None => break,
            }
        }

        let entries = match expiry {
            Expiry::Skip => {
                let values = self.values(conn, &picked).await?;
                picked
                    .into_iter()
                    .zip(values)
                    .map(|((_, key), value)| RawEntry {
                        key,
                        value,
                        expires_at: None,
                    })
                    .collect()
            }
            Expiry::Read => self.values_and_expiry(conn, picked).await?,
        };
        let finished = pos.scan.is_none()
            && pos.pending.is_empty()
            && masters
                .as_ref()
                .and_then(|m| next_master(m, &pos.node))
                .is_none();
        Ok(RawPage {
            entries,
            cursor: (!finished).then(|| pos.to_cursor()),
        })
    }

    async fn scan(
        &self,
        conn: &mut Conn,
        node: &str,
        cursor: &str,
        count: usize,
    ) -> RedisResult<(String, Vec<Vec<u8>>)> {
        let mut cmd = redis::cmd("SCAN");
        cmd.arg(cursor)
            .arg("MATCH")
            .arg(&self.pattern)
            .arg("COUNT")
            .arg(count);
        match conn {
            Conn::Standalone(c) => cmd.query_async(c).await,
            Conn::Cluster(c) => {
                let (host, port) = split_address(node)?;
                let routing = RoutingInfo::SingleNode(SingleNodeRoutingInfo::ByAddress {
                    host: host.to_owned(),
                    port,
                });
                let value = c.route_command(cmd, routing).await?;
                Ok(FromRedisValue::from_redis_value(value)?)
            }
        }
    }

    /// The values of the picked keys in one `MGET` (which the cluster
    /// connection splits by slot).
    async fn values(
        &self,
        conn: &mut Conn,
        picked: &[(String, Key)],
    ) -> RedisResult<Vec<Option<Vec<u8>>>> {
        if picked.is_empty() {
            return Ok(Vec::new());
        }
        let mut cmd = redis::cmd("MGET");
        for (suffix, _) in picked {
            cmd.arg(format!("{}{suffix}", self.store_prefix));
        }
        cmd.query_async(conn).await
    }

    /// The values of the picked keys with their time left, each pair read
    /// together: one `MULTI`, `MGET`, a `PTTL` per key, `EXEC` per hash
    /// slot (a transaction cannot span slots in a Cluster; a standalone
    /// server has one slot here), the transactions sent at once. `MGET`
    /// rather than `GET`: it answers nil for a key holding no string, as
    /// the listing without expiry does.
    async fn values_and_expiry(
        &self,
        conn: &mut Conn,
        picked: Vec<(String, Key)>,
    ) -> RedisResult<Vec<RawEntry>> {
        let mut by_slot: HashMap<Option<Slot>, Vec<(String, Key)>> = HashMap::new();
        for (suffix, key) in picked {
            let redis_key = format!("{}{suffix}", self.store_prefix);
            let slot = match conn {
                Conn::Standalone(_) => None,
                Conn::Cluster(_) => Some(Slot::for_key(&redis_key)),
            };
            by_slot.entry(slot).or_default().push((redis_key, key));
        }
        let transactions = by_slot.into_values().map(|group| {
            let mut conn = conn.clone();
            async move {
                let mut pipe = redis::pipe();
                pipe.atomic().cmd("MGET");
                for (redis_key, _) in &group {
                    pipe.arg(redis_key);
                }
                for (redis_key, _) in &group {
                    pipe.cmd("PTTL").arg(redis_key);
                }
                let (values, left): (Vec<Option<Vec<u8>>>, Vec<i64>) = {
                    let mut replies: Vec<Value> = pipe.query_async(&mut conn).await?;
                    if replies.len() != group.len() + 1 {
                        return Err(redis::RedisError::from((
                            redis::ErrorKind::Parse,
                            "a transaction answered another number of replies than it sent commands",
                        )));
                    }
                    let left = replies.split_off(1);
                    (
                        FromRedisValue::from_redis_value(replies.remove(0))?,
                        FromRedisValue::from_redis_values(left)?,
                    )
                };
                let now = now_ms();
                Ok(group
                    .into_iter()
                    .zip(values.into_iter().zip(left))
                    .map(|((_, key), (value, left))| RawEntry {
                        key,
                        value,
                        // PTTL: milliseconds left, -1 for no expiry, -2 for no key.
                        expires_at: (left >= 0).then(|| now + left),
                    })
                    .collect::<Vec<_>>())
            }
        });
        let groups = futures_util::future::try_join_all(transactions).await?;
        Ok(groups.into_iter().flatten().collect())
    }
}

/// The masters of a Cluster, `host:port`, in address order.
pub(super) async fn masters(conn: &mut ClusterConnection) -> RedisResult<Vec<String>> {
    let slots = conn
        .route_command(
            redis::cmd("CLUSTER").arg("SLOTS").clone(),
            RoutingInfo::SingleNode(SingleNodeRoutingInfo::Random),
        )
        .await?;
    // Each range is [first slot, last slot, [host, port, id, …], replicas…].
    let ranges: Vec<Vec<Value>> = FromRedisValue::from_redis_value(slots)?;
    let mut masters = Vec::new();
    for range in ranges {
        if let Some(master) = range.into_iter().nth(2) {
            let node: Vec<Value> = FromRedisValue::from_redis_value(master)?;
            let mut node = node.into_iter();
            if let (Some(host), Some(port)) = (node.next(), node.next()) {
                let host: String = FromRedisValue::from_redis_value(host)?;
                let port: u16 = FromRedisValue::from_redis_value(port)?;
                masters.push(format!("{host}:{port}"));
            }
        }
    }
    masters.sort();
    masters.dedup();
    Ok(masters)
}

fn next_master(masters: &[String], after: &str) -> Option<String> {
    masters.iter().find(|m| m.as_str() > after).cloned()
}

pub(super) fn split_address(node: &str) -> RedisResult<(&str, u16)> {
    node.rsplit_once(':')
        .and_then(|(host, port)| Some((host, port.parse().ok()?)))
        .ok_or_else(|| {
            redis::RedisError::from((
                redis::ErrorKind::Client,
                "not a node address",
                node.to_owned(),
            ))
        })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cursors_round_trip_and_garbage_is_refused() {
        let pos = Position {
            node: "127.0.0.1:7000".into(),
            scan: Some("1234".into()),
            pending: ["a::b".to_owned(), "\"q\"".to_owned()].into(),
        };
        assert_eq!(Position::parse(&pos.to_cursor()).unwrap(), pos);
        let done = Position {
            scan: None,
            ..Position::start()
        };
        assert_eq!(Position::parse(&done.to_cursor()).unwrap(), done);
        for bad in ["", "x", "[1,2,3]", "{}"] {
            assert_eq!(
                Position::parse(bad).unwrap_err().kind,
                ErrorKind::InvalidOption
            );
        }
    }

    #[test]
    fn scan_count_follows_the_share_of_matches() {
        // The first SCAN of a page: the page size, within the bounds.
        assert_eq!(scan_count(256, 0, 0), 256);
        assert_eq!(scan_count(1, 0, 0), MIN_SCAN_COUNT);
        assert_eq!(scan_count(100_000, 0, 0), MAX_SCAN_COUNT);
        // Every key matched: what is still needed, a quarter more.
        assert_eq!(scan_count(100, 256, 256), 125);
        // One key in a hundred: a hundred times what is needed, bounded.
        assert_eq!(scan_count(10, 3, 300), 1250);
        assert_eq!(scan_count(254, 3, 300), MAX_SCAN_COUNT);
        // Nothing matched yet: as if one had, so the COUNT grows.
        assert_eq!(scan_count(2, 0, 256), 640);
    }

    #[test]
    fn masters_are_visited_in_address_order() {
        let masters = ["127.0.0.1:7000".to_owned(), "127.0.0.1:7001".to_owned()];
        assert_eq!(next_master(&masters, "").as_deref(), Some("127.0.0.1:7000"));
        assert_eq!(
            next_master(&masters, "127.0.0.1:7000").as_deref(),
            Some("127.0.0.1:7001")
        );
        assert_eq!(next_master(&masters, "127.0.0.1:7001"), None);
        // A node that left: the next one after where it was.
        assert_eq!(
            next_master(&masters, "127.0.0.1:6999").as_deref(),
            Some("127.0.0.1:7000")
        );
        assert_eq!(split_address("::1:7000").unwrap(), ("::1", 7000));
    }
}
