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

/// The inverse of [`rfc3339`] (`2026-11-21T12:00:00Z`, the form rdpshim writes); `None`
/// for anything else.
pub fn parse_rfc3339(text: &str) -> Option<OffsetDateTime> {
    let text = text.trim();
    let (date, time) = text.strip_suffix('Z')?.split_once('T')?;
    let mut d = date.split('-').map(str::parse::<i32>);
    let (year, month, day) = (d.next()?.ok()?, d.next()?.ok()?, d.next()?.ok()?);
    let mut t = time.split(':').map(str::parse::<u8>);
    let (hour, minute, second) = (t.next()?.ok()?, t.next()?.ok()?, t.next()?.ok()?);
    if d.next().is_some() || t.next().is_some() {
        return None;
    }
    let month = time::Month::try_from(u8::try_from(month).ok()?).ok()?;
    let date = time::Date::from_calendar_date(year, month, u8::try_from(day).ok()?).ok()?;
    let time = time::Time::from_hms(hour, minute, second).ok()?;
    Some(date.with_time(time).assume_utc())
}

/// Whole days from `now` to `then` (negative when `then` is past), both RFC 3339 as
/// [`rfc3339`] writes them.
pub fn days_between(now: &str, then: &str) -> Option<i64> {
    Some((parse_rfc3339(then)? - parse_rfc3339(now)?).whole_days())
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
        assert_eq!(parse_rfc3339("2026-11-22T12:00:00Z"), Some(t));
    }

    #[test]
    fn parses_what_it_writes_and_nothing_else() {
        for bad in [
            "",
            "2026-11-22",
            "2026-13-01T00:00:00Z",
            "2026-11-22T12:00:00+01:00",
            "x",
        ] {
            assert_eq!(parse_rfc3339(bad), None, "{bad}");
        }
        assert_eq!(
            days_between("2026-11-22T12:00:00Z", "2026-12-22T11:00:00Z"),
            Some(29)
        );
        assert_eq!(
            days_between("2026-11-22T12:00:00Z", "2026-11-20T12:00:00Z"),
            Some(-2)
        );
    }
}
