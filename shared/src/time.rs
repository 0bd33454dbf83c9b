//! Wall-clock time as the API writes it: RFC 3339, UTC, whole seconds.

use time::OffsetDateTime;
use time::format_description::well_known::Rfc3339;

/// A deadline `after` from this instant, rounded up to the whole second: times are shown to the
/// second, and a deadline shown must never come before the real one (a hold of 900 s lasts at least
/// 900 s).
pub fn deadline_after(after: std::time::Duration) -> OffsetDateTime {
    let at = OffsetDateTime::now_utc() + after;
    let second = at.unix_timestamp() + i64::from(at.nanosecond() > 0);
    OffsetDateTime::from_unix_timestamp(second).unwrap_or(at)
}

/// Now, truncated to the second (the contract's timestamps carry no fractions).
pub fn now() -> OffsetDateTime {
    let now = OffsetDateTime::now_utc();
    now.replace_nanosecond(0).unwrap_or(now)
}

/// Seconds since the Unix epoch.
pub fn unix_now() -> i64 {
    OffsetDateTime::now_utc().unix_timestamp()
}

/// Milliseconds since the Unix epoch.
pub fn unix_now_ms() -> i64 {
    i64::try_from(OffsetDateTime::now_utc().unix_timestamp_nanos() / 1_000_000).unwrap_or(i64::MAX)
}

/// `2026-11-24T10:00:00Z`.
pub fn rfc3339(at: OffsetDateTime) -> String {
    at.format(&Rfc3339)
        .unwrap_or_else(|_| at.unix_timestamp().to_string())
}

/// Reads an RFC 3339 time.
pub fn parse_rfc3339(text: &str) -> Option<OffsetDateTime> {
    OffsetDateTime::parse(text, &Rfc3339).ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn timestamps_are_utc_with_whole_seconds() {
        let at = OffsetDateTime::from_unix_timestamp(1_700_000_000).expect("valid timestamp");
        assert_eq!(rfc3339(at), "2023-11-14T22:13:20Z");
        assert_eq!(now().nanosecond(), 0);
    }
}
