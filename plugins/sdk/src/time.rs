//! Time helpers: the current time, and RFC 3339 / HTTP dates in the
//! contract's [`Timestamp`](crate::Timestamp) unit (milliseconds since the
//! Unix epoch, UTC).

use crate::Timestamp;

/// The current wall-clock time, from the host.
pub fn now_ms() -> Timestamp {
    let now = wasip2::clocks::wall_clock::now();
    now.seconds as i64 * 1000 + i64::from(now.nanoseconds / 1_000_000)
}

/// Formats a timestamp as RFC 3339 in UTC with milliseconds:
/// `2026-11-28T09:30:00.000Z`.
pub fn format_rfc3339(ms: Timestamp) -> String {
    let days = ms.div_euclid(86_400_000);
    let in_day = ms.rem_euclid(86_400_000);
    let (year, month, day) = civil_from_days(days);
    let (h, m, s, milli) = (
        in_day / 3_600_000,
        in_day / 60_000 % 60,
        in_day / 1000 % 60,
        in_day % 1000,
    );
    format!("{year:04}-{month:02}-{day:02}T{h:02}:{m:02}:{s:02}.{milli:03}Z")
}

/// Parses an RFC 3339 date-time (`2026-11-28T09:30:00Z`, with optional
/// fraction and `±hh:mm` offset) into a timestamp. Digits of the fraction
/// beyond milliseconds are dropped.
pub fn parse_rfc3339(text: &str) -> Option<Timestamp> {
    let b = text.as_bytes();
    if b.len() < 20 || b[4] != b'-' || b[7] != b'-' || !matches!(b[10], b'T' | b't' | b' ') {
        return None;
    }
    if b[13] != b':' || b[16] != b':' {
        return None;
    }
    let year = digits(&b[0..4])?;
    let month = digits(&b[5..7])?;
    let day = digits(&b[8..10])?;
    let (h, m, s) = (
        digits(&b[11..13])?,
        digits(&b[14..16])?,
        digits(&b[17..19])?,
    );
    if !(1..=12).contains(&month) || day < 1 || day > days_in_month(year, month) {
        return None;
    }
    if h > 23 || m > 59 || s > 60 {
        return None;
    }
    let mut rest = &b[19..];
    let mut millis = 0;
    if let Some((b'.', fraction)) = rest.split_first() {
        let len = fraction.iter().take_while(|c| c.is_ascii_digit()).count();
        if len == 0 {
            return None;
        }
        let mut scaled = 0;
        for i in 0..3 {
            scaled = scaled * 10
                + fraction
                    .get(i)
                    .filter(|_| i < len)
                    .map_or(0, |d| i64::from(d - b'0'));
        }
        millis = scaled;
        rest = &fraction[len..];
    }
    let offset_minutes = match rest {
        [b'Z' | b'z'] => 0,
        [sign @ (b'+' | b'-'), oh1, oh2, b':', om1, om2] => {
            let minutes = digits(&[*oh1, *oh2])? * 60 + digits(&[*om1, *om2])?;
            if *sign == b'-' { -minutes } else { minutes }
        }
        _ => return None,
    };
    let days = days_from_civil(year, month, day);
    let seconds = days * 86_400 + h * 3600 + m * 60 + s - offset_minutes * 60;
    Some(seconds * 1000 + millis)
}

/// Parses an HTTP date (`Sun, 06 Nov 1994 08:49:37 GMT`, the IMF-fixdate form
/// of RFC 9110) into a timestamp.
pub fn parse_http_date(text: &str) -> Option<Timestamp> {
    let mut parts = text.split_ascii_whitespace();
    let _weekday = parts.next()?;
    let day = digits(parts.next()?.as_bytes())?;
    let month = match parts.next()? {
        "Jan" => 1,
        "Feb" => 2,
        "Mar" => 3,
        "Apr" => 4,
        "May" => 5,
        "Jun" => 6,
        "Jul" => 7,
        "Aug" => 8,
        "Sep" => 9,
        "Oct" => 10,
        "Nov" => 11,
        "Dec" => 12,
        _ => return None,
    };
    let year = digits(parts.next()?.as_bytes())?;
    let clock = parts.next()?.as_bytes();
    if parts.next()? != "GMT" || clock.len() != 8 || clock[2] != b':' || clock[5] != b':' {
        return None;
    }
    let iso = format!(
        "{year:04}-{month:02}-{day:02}T{}Z",
        core::str::from_utf8(clock).ok()?
    );
    parse_rfc3339(&iso)
}

fn digits(bytes: &[u8]) -> Option<i64> {
    if bytes.is_empty() || !bytes.iter().all(u8::is_ascii_digit) {
        return None;
    }
    Some(bytes.iter().fold(0, |n, d| n * 10 + i64::from(d - b'0')))
}

fn is_leap(year: i64) -> bool {
    year % 4 == 0 && (year % 100 != 0 || year % 400 == 0)
}

fn days_in_month(year: i64, month: i64) -> i64 {
    match month {
        2 if is_leap(year) => 29,
        2 => 28,
        4 | 6 | 9 | 11 => 30,
        _ => 31,
    }
}

// Days since 1970-01-01 of a proleptic Gregorian date (Howard Hinnant's
// `days_from_civil`).
fn days_from_civil(year: i64, month: i64, day: i64) -> i64 {
    let y = if month <= 2 { year - 1 } else { year };
    let era = y.div_euclid(400);
    let yoe = y - era * 400;
    let mp = (month + 9) % 12;
    let doy = (153 * mp + 2) / 5 + day - 1;
    let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    era * 146_097 + doe - 719_468
}

fn civil_from_days(days: i64) -> (i64, i64, i64) {
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z - era * 146_097;
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let day = doy - (153 * mp + 2) / 5 + 1;
    let month = if mp < 10 { mp + 3 } else { mp - 9 };
    let year = yoe + era * 400 + i64::from(month <= 2);
    (year, month, day)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rfc3339_round_trips() {
        for ms in [0, 1, 951_782_400_000, 1_795_000_000_123, -86_400_001] {
            assert_eq!(parse_rfc3339(&format_rfc3339(ms)), Some(ms));
        }
        assert_eq!(format_rfc3339(0), "1970-01-01T00:00:00.000Z");
    }

    #[test]
    fn rfc3339_offsets_and_fractions() {
        let utc = parse_rfc3339("2026-11-28T09:30:00Z").unwrap();
        assert_eq!(parse_rfc3339("2026-11-28T10:30:00+01:00"), Some(utc));
        assert_eq!(parse_rfc3339("2026-11-28T09:30:00.5Z"), Some(utc + 500));
        assert_eq!(
            parse_rfc3339("2026-11-28T09:30:00.123456Z"),
            Some(utc + 123)
        );
        assert_eq!(parse_rfc3339("2026-02-30T09:30:00Z"), None);
        assert_eq!(parse_rfc3339("2026-11-28"), None);
    }

    #[test]
    fn http_dates() {
        assert_eq!(
            parse_http_date("Sun, 06 Nov 1994 08:49:37 GMT"),
            parse_rfc3339("1994-11-06T08:49:37Z")
        );
        assert_eq!(parse_http_date("Sunday, 06-Nov-94 08:49:37 GMT"), None);
    }
}
