//! RFC 3339 timestamps and ISO 8601 calendar dates, UTC, millisecond precision.
//!
//! Hand-written (Howard Hinnant's `days_from_civil` / `civil_from_days`) so the server
//! needs no date-time crate: it only ever formats UTC and parses a handful of inputs.

use std::fmt;

use serde::de::{self, Visitor};
use serde::{Deserialize, Deserializer, Serialize, Serializer};

/// Milliseconds in a day.
pub const MS_PER_DAY: i64 = 86_400_000;

/// Days since 1970-01-01 of a proleptic Gregorian date (`month` 1–12, `day` 1–31).
pub fn days_from_civil(year: i64, month: u32, day: u32) -> i64 {
    let y = if month <= 2 { year - 1 } else { year };
    let era = y.div_euclid(400);
    let yoe = y - era * 400;
    let m = i64::from(month);
    let doy = (153 * (if m > 2 { m - 3 } else { m + 9 }) + 2) / 5 + i64::from(day) - 1;
    let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    era * 146_097 + doe - 719_468
}

/// The (year, month, day) of a count of days since 1970-01-01.
pub fn civil_from_days(days: i64) -> (i64, u32, u32) {
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z - era * 146_097;
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let day = (doy - (153 * mp + 2) / 5 + 1) as u32;
    let month = if mp < 10 { mp + 3 } else { mp - 9 } as u32;
    let year = yoe + era * 400 + i64::from(month <= 2);
    (year, month, day)
}

fn is_leap(year: i64) -> bool {
    (year % 4 == 0 && year % 100 != 0) || year % 400 == 0
}

fn days_in_month(year: i64, month: u32) -> u32 {
    match month {
        2 if is_leap(year) => 29,
        2 => 28,
        4 | 6 | 9 | 11 => 30,
        _ => 31,
    }
}

/// The calendar year of a timestamp in milliseconds since the epoch.
pub fn year_of(ms: i64) -> i64 {
    civil_from_days(ms.div_euclid(MS_PER_DAY)).0
}

/// Why a timestamp or date did not parse.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ParseError(&'static str);

impl fmt::Display for ParseError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.0)
    }
}

impl std::error::Error for ParseError {}

/// A parsed RFC 3339 timestamp: whole milliseconds, plus whether finer digits were cut off.
///
/// Inclusive lower bounds (`updated_since`) must round up when sub-millisecond digits
/// are present, or a record stamped in the truncated millisecond would be included.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Parsed {
    /// Milliseconds since the epoch, rounded down.
    pub floor_ms: i64,
    /// True when the input had non-zero digits below the millisecond.
    pub sub_ms: bool,
}

impl Parsed {
    /// Milliseconds since the epoch, rounded up.
    pub fn ceil_ms(self) -> i64 {
        self.floor_ms + i64::from(self.sub_ms)
    }
}

fn digits(b: &[u8], from: usize, len: usize) -> Option<u32> {
    let slice = b.get(from..from + len)?;
    slice.iter().try_fold(0u32, |acc, &c| {
        c.is_ascii_digit().then(|| acc * 10 + u32::from(c - b'0'))
    })
}

fn expect(b: &[u8], at: usize, what: u8) -> Result<(), ParseError> {
    if b.get(at) == Some(&what) {
        Ok(())
    } else {
        Err(ParseError("malformed timestamp"))
    }
}

/// Parses `YYYY-MM-DD` into days since the epoch.
pub fn parse_date(s: &str) -> Result<i64, ParseError> {
    let b = s.as_bytes();
    if b.len() != 10 {
        return Err(ParseError("expected a date like 2026-11-28"));
    }
    parse_date_bytes(b)
}

fn parse_date_bytes(b: &[u8]) -> Result<i64, ParseError> {
    const BAD: ParseError = ParseError("expected a date like 2026-11-28");
    let year = digits(b, 0, 4).ok_or(BAD)?;
    let month = digits(b, 5, 2).ok_or(BAD)?;
    let day = digits(b, 8, 2).ok_or(BAD)?;
    if b.get(4) != Some(&b'-') || b.get(7) != Some(&b'-') {
        return Err(BAD);
    }
    let year = i64::from(year);
    if !(1..=12).contains(&month) || day == 0 || day > days_in_month(year, month) {
        return Err(ParseError("date out of range"));
    }
    Ok(days_from_civil(year, month, day))
}

/// Parses an RFC 3339 timestamp (`2026-11-28T09:30:00Z`, optional fraction, `Z` or a
/// `±HH:MM` offset). Leap seconds (`:60`) are rejected.
pub fn parse_timestamp(s: &str) -> Result<Parsed, ParseError> {
    const BAD: ParseError =
        ParseError("expected an RFC 3339 timestamp like 2026-11-28T09:30:00.000Z");
    let b = s.as_bytes();
    if b.len() < 20 {
        return Err(BAD);
    }
    let days = parse_date_bytes(&b[..10]).map_err(|_| BAD)?;
    if !matches!(b[10], b'T' | b't' | b' ') {
        return Err(BAD);
    }
    let hour = digits(b, 11, 2).ok_or(BAD)?;
    expect(b, 13, b':').map_err(|_| BAD)?;
    let minute = digits(b, 14, 2).ok_or(BAD)?;
    expect(b, 16, b':').map_err(|_| BAD)?;
    let second = digits(b, 17, 2).ok_or(BAD)?;
    if hour > 23 || minute > 59 || second > 59 {
        return Err(ParseError("time of day out of range"));
    }
    let mut i = 19;
    let mut millis = 0i64;
    let mut sub_ms = false;
    if b[i] == b'.' {
        i += 1;
        let start = i;
        while i < b.len() && b[i].is_ascii_digit() {
            let d = i64::from(b[i] - b'0');
            match i - start {
                0 => millis += d * 100,
                1 => millis += d * 10,
                2 => millis += d,
                _ => sub_ms |= d != 0,
            }
            i += 1;
        }
        if i == start {
            return Err(BAD);
        }
    }
    let offset_minutes = match b.get(i) {
        Some(b'Z' | b'z') if i + 1 == b.len() => 0,
        Some(&sign @ (b'+' | b'-')) if i + 6 == b.len() => {
            let oh = digits(b, i + 1, 2).ok_or(BAD)?;
            expect(b, i + 3, b':').map_err(|_| BAD)?;
            let om = digits(b, i + 4, 2).ok_or(BAD)?;
            if oh > 23 || om > 59 {
                return Err(ParseError("offset out of range"));
            }
            let minutes = i64::from(oh * 60 + om);
            if sign == b'+' { minutes } else { -minutes }
        }
        _ => return Err(BAD),
    };
    let local = days * MS_PER_DAY
        + i64::from(hour) * 3_600_000
        + i64::from(minute) * 60_000
        + i64::from(second) * 1000
        + millis;
    Ok(Parsed {
        floor_ms: local - offset_minutes * 60_000,
        sub_ms,
    })
}

/// A point in time in milliseconds since the Unix epoch; (de)serializes as RFC 3339 UTC
/// with milliseconds (`2026-11-28T09:30:00.000Z`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Millis(pub i64);

impl Millis {
    /// The current wall-clock time.
    pub fn now() -> Self {
        let since_epoch = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .unwrap_or_default();
        Millis(i64::try_from(since_epoch.as_millis()).unwrap_or(i64::MAX))
    }

    /// Parses an RFC 3339 timestamp, dropping digits below the millisecond.
    pub fn parse(s: &str) -> Result<Self, ParseError> {
        parse_timestamp(s).map(|p| Millis(p.floor_ms))
    }
}

impl fmt::Display for Millis {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let days = self.0.div_euclid(MS_PER_DAY);
        let rem = self.0.rem_euclid(MS_PER_DAY);
        let (y, mo, d) = civil_from_days(days);
        write!(
            f,
            "{y:04}-{mo:02}-{d:02}T{:02}:{:02}:{:02}.{:03}Z",
            rem / 3_600_000,
            rem / 60_000 % 60,
            rem / 1000 % 60,
            rem % 1000
        )
    }
}

impl Serialize for Millis {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.collect_str(self)
    }
}

impl<'de> Deserialize<'de> for Millis {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        struct V;
        impl Visitor<'_> for V {
            type Value = Millis;
            fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str("an RFC 3339 timestamp")
            }
            fn visit_str<E: de::Error>(self, s: &str) -> Result<Millis, E> {
                Millis::parse(s).map_err(|e| E::custom(format!("{e}: {s:?}")))
            }
        }
        deserializer.deserialize_str(V)
    }
}

/// A calendar date as days since 1970-01-01; (de)serializes as `YYYY-MM-DD`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Date(pub i32);

impl Date {
    /// The UTC date of a timestamp.
    pub fn of(t: Millis) -> Self {
        Date(t.0.div_euclid(MS_PER_DAY) as i32)
    }
}

impl fmt::Display for Date {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let (y, m, d) = civil_from_days(i64::from(self.0));
        write!(f, "{y:04}-{m:02}-{d:02}")
    }
}

impl Serialize for Date {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.collect_str(self)
    }
}

impl<'de> Deserialize<'de> for Date {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        struct V;
        impl Visitor<'_> for V {
            type Value = Date;
            fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str("a date like 2026-11-28")
            }
            fn visit_str<E: de::Error>(self, s: &str) -> Result<Date, E> {
                let days = parse_date(s).map_err(|e| E::custom(format!("{e}: {s:?}")))?;
                Ok(Date(days as i32))
            }
        }
        deserializer.deserialize_str(V)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn civil_round_trip_over_many_years() {
        for days in (-800_000..800_000).step_by(7) {
            let (y, m, d) = civil_from_days(days);
            assert_eq!(days_from_civil(y, m, d), days, "{y}-{m}-{d}");
        }
        assert_eq!(days_from_civil(1970, 1, 1), 0);
        assert_eq!(civil_from_days(days_from_civil(2024, 2, 29)), (2024, 2, 29));
    }

    #[test]
    fn formats_with_milliseconds() {
        assert_eq!(Millis(0).to_string(), "1970-01-01T00:00:00.000Z");
        let t = Millis::parse("2026-11-28T09:30:00Z").unwrap();
        assert_eq!(t.to_string(), "2026-11-28T09:30:00.000Z");
        assert_eq!(Millis(t.0 + 7).to_string(), "2026-11-28T09:30:00.007Z");
        assert_eq!(Millis(-1).to_string(), "1969-12-31T23:59:59.999Z");
    }

    #[test]
    fn rfc3339_round_trip() {
        let mut t = -2_000_000_000_000i64;
        while t < 4_000_000_000_000 {
            let s = Millis(t).to_string();
            assert_eq!(Millis::parse(&s), Ok(Millis(t)), "{s}");
            t += 987_654_321_123 / 1000 + 17;
        }
    }

    #[test]
    fn parses_offsets_and_fractions() {
        let z = Millis::parse("2026-11-28T09:30:00.250Z").unwrap();
        assert_eq!(Millis::parse("2026-11-28T10:30:00.25+01:00"), Ok(z));
        assert_eq!(Millis::parse("2026-11-28t04:00:00.250-05:30"), Ok(z));
        let p = parse_timestamp("2026-11-28T09:30:00.250001Z").unwrap();
        assert_eq!((p.floor_ms, p.ceil_ms()), (z.0, z.0 + 1));
        let p = parse_timestamp("2026-11-28T09:30:00.250000Z").unwrap();
        assert_eq!((p.floor_ms, p.ceil_ms()), (z.0, z.0));
    }

    #[test]
    fn rejects_garbage() {
        for bad in [
            "",
            "2026-11-28",
            "2026-11-28T09:30:00",
            "2026-11-28T09:30:00.Z",
            "2026-02-29T00:00:00Z",
            "2026-13-01T00:00:00Z",
            "2026-11-28T24:00:00Z",
            "2026-11-28T09:30:60Z",
            "2026-11-28T09:30:00+1:00",
            "2026-11-28T09:30:00Zjunk",
            "20261128T093000Z",
            "2026-11-28T09:30:00 00:00",
        ] {
            assert!(parse_timestamp(bad).is_err(), "{bad:?}");
        }
    }

    #[test]
    fn dates() {
        assert_eq!(
            parse_date("2024-02-29")
                .map(|d| Date(d as i32).to_string())
                .as_deref(),
            Ok("2024-02-29")
        );
        assert!(parse_date("2023-02-29").is_err());
        assert!(parse_date("2023-2-28").is_err());
        let d: Date = serde_json::from_str("\"2019-06-01\"").unwrap();
        assert_eq!(serde_json::to_string(&d).unwrap(), "\"2019-06-01\"");
        assert_eq!(
            year_of(Millis::parse("2026-01-01T00:00:00Z").unwrap().0 - 1),
            2025
        );
    }
}
