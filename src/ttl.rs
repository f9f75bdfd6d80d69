//! Time: TTLs as they arrive from JavaScript, and the wall clock that turns
//! them into expiry times (epoch milliseconds, as Fedify's layouts store).

use crate::error::{Error, ErrorKind, Result};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

/// How long a value lives, at millisecond precision or finer.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord)]
pub struct Ttl(Duration);

/// The longest TTL accepted: 1,000 years. Longer is surely a mistake, and
/// it keeps every expiry time far inside the range of an `i64` of milliseconds.
const MAX_TTL_MS: f64 = 1000.0 * 365.25 * 24.0 * 3600.0 * 1000.0;

impl Ttl {
    /// A TTL of `ms` milliseconds (fractions allowed); negative, non-finite
    /// or absurdly long durations are refused.
    pub fn from_millis(ms: f64) -> Result<Ttl> {
        if !ms.is_finite() || ms < 0.0 {
            return Err(Error::new(
                ErrorKind::InvalidTtl,
                format!("a TTL must be a finite, non-negative duration, not {ms} ms"),
            ));
        }
        if ms > MAX_TTL_MS {
            return Err(Error::new(
                ErrorKind::InvalidTtl,
                format!("a TTL must be at most 1000 years, not {ms} ms"),
            ));
        }
        Ok(Ttl(Duration::from_secs_f64(ms / 1000.0)))
    }

    pub fn duration(self) -> Duration {
        self.0
    }

    /// Whole milliseconds, rounded up so that a value never expires early.
    pub fn as_millis_ceil(self) -> i64 {
        let nanos = self.0.as_nanos();
        nanos.div_ceil(1_000_000) as i64
    }

    /// The expiry time of a value set at `now` (epoch milliseconds).
    pub fn expires_at(self, now: i64) -> i64 {
        now.saturating_add(self.as_millis_ceil())
    }
}

/// The wall clock in epoch milliseconds, the unit Fedify's layouts store.
pub fn now_ms() -> i64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_millis() as i64)
        .unwrap_or(0)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn accepts_fractions_and_rounds_up() {
        assert_eq!(Ttl::from_millis(1500.0).unwrap().as_millis_ceil(), 1500);
        assert_eq!(Ttl::from_millis(0.25).unwrap().as_millis_ceil(), 1);
        assert_eq!(Ttl::from_millis(0.0).unwrap().as_millis_ceil(), 0);
        assert_eq!(Ttl::from_millis(200.0).unwrap().expires_at(1000), 1200);
    }

    #[test]
    fn refuses_negative_and_non_finite() {
        for ms in [-1.0, f64::NAN, f64::INFINITY, f64::NEG_INFINITY, 1e300] {
            assert_eq!(
                Ttl::from_millis(ms).unwrap_err().kind,
                ErrorKind::InvalidTtl
            );
        }
    }
}
