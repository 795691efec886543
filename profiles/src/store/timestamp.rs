//! The only clock reads in this crate: `created` of a repaired profile and the suffix of
//! the backup it leaves. Everything else takes the time as an argument.

use time::OffsetDateTime;

/// RFC 3339 UTC to the second: `2026-11-21T12:00:00Z`.
pub fn rfc3339(t: OffsetDateTime) -> String {
    format!(
        "{:04}-{:02}-{:02}T{:02}:{:02}:{:02}Z",
        t.year(),
        u8::from(t.month()),
        t.day(),
        t.hour(),
        t.minute(),
        t.second()
    )
}

/// The same instant without `:` or `-`, for file names (`:` is not allowed on Windows):
/// `20261121T120000Z`.
pub fn compact(t: OffsetDateTime) -> String {
    format!(
        "{:04}{:02}{:02}T{:02}{:02}{:02}Z",
        t.year(),
        u8::from(t.month()),
        t.day(),
        t.hour(),
        t.minute(),
        t.second()
    )
}

/// Now, in UTC.
pub fn now() -> OffsetDateTime {
    OffsetDateTime::now_utc()
}

/// Now as RFC 3339 UTC, for callers that record outcomes.
pub fn now_rfc3339() -> String {
    rfc3339(now())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn formats() {
        let t = OffsetDateTime::from_unix_timestamp(1_795_348_800).unwrap();
        assert_eq!(rfc3339(t), "2026-11-22T12:00:00Z");
        assert_eq!(compact(t), "20261122T120000Z");
    }
}
