//! Opaque pagination cursors and time formatting shared by the routes.

use crate::error::ApiError;
use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
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

/// Encodes a cursor: a kind tag and a position, made opaque.
pub fn encode(kind: &str, position: &str) -> String {
    URL_SAFE_NO_PAD.encode(format!("{kind}:{position}"))
}

/// Decodes a cursor of `kind`, or a 400 `invalid_cursor`.
pub fn decode(kind: &str, cursor: &str) -> Result<String, ApiError> {
    let invalid = || {
        ApiError::new(
            axum::http::StatusCode::BAD_REQUEST,
            "invalid_cursor",
            "The cursor is not valid here. Pass back `next_cursor` exactly as it was returned, to the same endpoint.",
        )
    };
    let bytes = URL_SAFE_NO_PAD.decode(cursor).map_err(|_| invalid())?;
    let text = String::from_utf8(bytes).map_err(|_| invalid())?;
    text.strip_prefix(kind)
        .and_then(|rest| rest.strip_prefix(':'))
        .map(str::to_string)
        .ok_or_else(invalid)
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
    fn cursors_round_trip_and_reject_others() {
        let cursor = encode("records", "WO-1");
        assert_eq!(decode("records", &cursor).unwrap(), "WO-1");
        assert!(decode("changes", &cursor).is_err());
        assert!(decode("records", "!!!").is_err());
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
