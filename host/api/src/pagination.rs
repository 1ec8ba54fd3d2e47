//! Opaque pagination cursors and time formatting shared by the routes.

use crate::error::ApiError;
use time::OffsetDateTime;
use time::format_description::well_known::Rfc3339;

/// Page size when none is asked for.
pub const DEFAULT_LIMIT: u32 = 100;
/// Largest page size.
pub const MAX_LIMIT: u32 = 1000;

/// Checks `limit`: 1 to [`MAX_LIMIT`], default [`DEFAULT_LIMIT`].
pub fn limit(limit: Option<u32>) -> Result<usize, ApiError> {
    match limit.unwrap_or(DEFAULT_LIMIT) {
        n @ 1..=MAX_LIMIT => Ok(n as usize),
        _ => Err(ApiError::invalid_parameter(
            "limit",
            format!("`limit` must be between 1 and {MAX_LIMIT}."),
        )),
    }
}

/// The shape of cursors that are a position in a numbered sequence (the
/// change feed, runs, the timeline, events).
pub const NUMBER_CURSOR_PATTERN: &str = "^[0-9]{1,19}$";
/// The shape of record cursors: the last record id, in hex.
pub const TEXT_CURSOR_PATTERN: &str = "^([0-9a-f]{2}){1,1024}$";
/// The shape of request log cursors: time and sequence number.
pub const PAIR_CURSOR_PATTERN: &str = "^[0-9]{1,18}-[0-9]{1,19}$";

fn invalid_cursor() -> ApiError {
    ApiError::new(
        axum::http::StatusCode::BAD_REQUEST,
        "invalid_cursor",
        "The cursor is not valid. Pass back `next_cursor` exactly as it was returned.",
    )
    .with_details(serde_json::json!({ "parameter": "cursor" }))
}

fn digits(text: &str) -> Result<u64, ApiError> {
    if text.is_empty() || text.len() > 19 || !text.bytes().all(|b| b.is_ascii_digit()) {
        return Err(invalid_cursor());
    }
    text.parse().map_err(|_| invalid_cursor())
}

/// A cursor at position `n` of a numbered sequence.
pub fn number_cursor(n: u64) -> String {
    n.to_string()
}

/// Reads a [`number_cursor`].
pub fn parse_number_cursor(cursor: &str) -> Result<u64, ApiError> {
    digits(cursor)
}

/// A cursor after the text `position` (a record id).
pub fn text_cursor(position: &str) -> String {
    hex::encode(position)
}

/// Reads a [`text_cursor`].
pub fn parse_text_cursor(cursor: &str) -> Result<String, ApiError> {
    if cursor.is_empty() || cursor.len() > 2048 {
        return Err(invalid_cursor());
    }
    let bytes = hex::decode(cursor).map_err(|_| invalid_cursor())?;
    // Ids are text; a hand-made cursor of other bytes still names a place
    // in the order, so it is read, not refused.
    Ok(String::from_utf8_lossy(&bytes).into_owned())
}

/// A cursor of two numbers (time and sequence).
pub fn pair_cursor(first: i64, second: u64) -> String {
    format!("{}-{second}", first.max(0))
}

/// Reads a [`pair_cursor`].
pub fn parse_pair_cursor(cursor: &str) -> Result<(i64, u64), ApiError> {
    let (first, second) = cursor.split_once('-').ok_or_else(invalid_cursor)?;
    let first = i64::try_from(digits(first)?).map_err(|_| invalid_cursor())?;
    Ok((first, digits(second)?))
}

/// Formats milliseconds as RFC 3339 UTC with milliseconds.
pub fn format_time(ms: i64) -> String {
    let format = time::macros::format_description!(
        "[year]-[month]-[day]T[hour]:[minute]:[second].[subsecond digits:3]Z"
    );
    OffsetDateTime::from_unix_timestamp_nanos(i128::from(ms) * 1_000_000)
        .ok()
        .and_then(|t| t.format(&format).ok())
        .unwrap_or_default()
}

/// Parses an RFC 3339 time parameter into milliseconds.
pub fn parse_time(name: &str, value: &str) -> Result<i64, ApiError> {
    OffsetDateTime::parse(value, &Rfc3339)
        .map(|t| (t.unix_timestamp_nanos() / 1_000_000) as i64)
        .map_err(|_| {
            ApiError::invalid_parameter(
                name,
                format!("`{name}` must be an RFC 3339 time such as 2026-11-28T09:30:00Z."),
            )
        })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cursors_round_trip_and_match_their_patterns() {
        let text = text_cursor("WO-1/é");
        assert_eq!(parse_text_cursor(&text).unwrap(), "WO-1/é");
        assert!(regex_like(TEXT_CURSOR_PATTERN, &text));
        assert!(parse_text_cursor("xyz").is_err());
        assert_eq!(parse_number_cursor(&number_cursor(42)).unwrap(), 42);
        assert!(parse_number_cursor("").is_err());
        assert!(parse_number_cursor("99999999999999999999").is_err());
        assert_eq!(parse_pair_cursor(&pair_cursor(1795, 7)).unwrap(), (1795, 7));
        assert!(parse_pair_cursor("1795").is_err());
    }

    /// Checks the simple patterns above without a regex engine.
    fn regex_like(pattern: &str, text: &str) -> bool {
        pattern == TEXT_CURSOR_PATTERN
            && text.len().is_multiple_of(2)
            && text
                .bytes()
                .all(|b| b.is_ascii_digit() || (b'a'..=b'f').contains(&b))
    }

    #[test]
    fn times() {
        assert_eq!(format_time(1_795_000_000_123), "2026-11-18T11:06:40.123Z");
        assert_eq!(
            parse_time("t", "2026-11-18T11:06:40.123Z").unwrap(),
            1_795_000_000_123
        );
        assert_eq!(
            parse_time("t", "2026-11-18T12:06:40.123+01:00").unwrap(),
            1_795_000_000_123
        );
        assert!(parse_time("t", "yesterday").is_err());
    }

    #[test]
    fn limits() {
        assert_eq!(limit(None).unwrap(), 100);
        assert_eq!(limit(Some(1000)).unwrap(), 1000);
        assert!(limit(Some(0)).is_err());
        assert!(limit(Some(1001)).is_err());
    }
}
