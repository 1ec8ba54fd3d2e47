//! Key encoding. See `docs/storage.md`.
//!
//! Scoped keys start with length-prefixed parts (connection id, model) so a
//! prefix scan never runs into a neighbour whose name merely starts the same
//! way (`conn_1` and `conn_12`). The last part is raw bytes: record ids and
//! big-endian sequence numbers sort naturally.

/// Appends `part` with a one-byte length prefix. Parts are host-controlled
/// identifiers (connection ids, model names) validated to be ≤ 255 bytes.
fn push_part(key: &mut Vec<u8>, part: &str) {
    let len = u8::try_from(part.len()).expect("key parts are validated to be at most 255 bytes");
    key.push(len);
    key.extend_from_slice(part.as_bytes());
}

/// `conn`, as a prefix of everything scoped to one connection.
pub fn connection_prefix(connection: &str) -> Vec<u8> {
    let mut key = Vec::with_capacity(connection.len() + 1);
    push_part(&mut key, connection);
    key
}

/// `conn model`, as a prefix of everything scoped to one model of a connection.
pub fn model_prefix(connection: &str, model: &str) -> Vec<u8> {
    let mut key = Vec::with_capacity(connection.len() + model.len() + 2);
    push_part(&mut key, connection);
    push_part(&mut key, model);
    key
}

/// `conn model record_id`: a record.
pub fn record(prefix: &[u8], record_id: &str) -> Vec<u8> {
    let mut key = Vec::with_capacity(prefix.len() + record_id.len());
    key.extend_from_slice(prefix);
    key.extend_from_slice(record_id.as_bytes());
    key
}

/// Turns `key`, which starts with a model prefix of `prefix_len` bytes, into
/// that model's key for `record_id`: [`record`] reusing one buffer.
pub fn set_record_id(key: &mut Vec<u8>, prefix_len: usize, record_id: &str) {
    key.truncate(prefix_len);
    key.extend_from_slice(record_id.as_bytes());
}

/// `conn model seq`: a change feed entry.
pub fn feed(prefix: &[u8], seq: u64) -> Vec<u8> {
    let mut key = Vec::with_capacity(prefix.len() + 8);
    key.extend_from_slice(prefix);
    key.extend_from_slice(&seq.to_be_bytes());
    key
}

/// `conn run_id`: a sync run.
pub fn run(connection: &str, run_id: u64) -> Vec<u8> {
    let mut key = connection_prefix(connection);
    key.extend_from_slice(&run_id.to_be_bytes());
    key
}

/// `conn at seq`: a connection's timeline entry, in time order.
pub fn timeline(connection: &str, at: i64, seq: u64) -> Vec<u8> {
    let mut key = connection_prefix(connection);
    // Times before 1970 do not occur; clamping keeps the order of the rest.
    key.extend_from_slice(&(at.max(0) as u64).to_be_bytes());
    key.extend_from_slice(&seq.to_be_bytes());
    key
}

/// `conn model run_id record_id`: a quarantined record.
pub fn quarantine(prefix: &[u8], run_id: u64, record_id: &str) -> Vec<u8> {
    let mut key = Vec::with_capacity(prefix.len() + 8 + record_id.len());
    key.extend_from_slice(prefix);
    key.extend_from_slice(&run_id.to_be_bytes());
    key.extend_from_slice(record_id.as_bytes());
    key
}

/// `endpoint seq`: a webhook delivery.
pub fn delivery(endpoint: &str, seq: u64) -> Vec<u8> {
    let mut key = connection_prefix(endpoint);
    key.extend_from_slice(&seq.to_be_bytes());
    key
}

/// `endpoint at seq`: a delivery of an endpoint due at `at`; an endpoint's
/// due deliveries sort by time.
pub fn delivery_due(endpoint: &str, at: i64, seq: u64) -> Vec<u8> {
    let mut key = connection_prefix(endpoint);
    key.extend_from_slice(&(at.max(0) as u64).to_be_bytes());
    key.extend_from_slice(&seq.to_be_bytes());
    key
}

/// The (time, delivery seq) after an endpoint's `prefix` in a
/// [`delivery_due`] key; `None` for a malformed key.
pub fn parse_delivery_due(prefix: &[u8], key: &[u8]) -> Option<(i64, u64)> {
    let rest = key.strip_prefix(prefix)?;
    if rest.len() != 16 {
        return None;
    }
    let at = u64::from_be_bytes(rest[..8].try_into().ok()?);
    let seq = u64::from_be_bytes(rest[8..].try_into().ok()?);
    Some((i64::try_from(at).ok()?, seq))
}

/// The smallest key greater than every key starting with `prefix`, for
/// bounded range scans; `None` when no such key exists (all 0xFF).
pub fn prefix_end(prefix: &[u8]) -> Option<Vec<u8>> {
    let mut end = prefix.to_vec();
    while let Some(last) = end.pop() {
        if last < 0xFF {
            end.push(last + 1);
            return Some(end);
        }
    }
    None
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn prefixes_do_not_collide() {
        let a = model_prefix("conn_1", "assets");
        let b = model_prefix("conn_12", "assets");
        assert!(!b.starts_with(&a));
        assert!(!a.starts_with(&b));
    }

    #[test]
    fn feed_keys_sort_by_sequence() {
        let prefix = model_prefix("c", "m");
        assert!(feed(&prefix, 255) < feed(&prefix, 256));
        assert!(feed(&prefix, 1) < feed(&prefix, u64::MAX));
    }

    #[test]
    fn due_keys_sort_by_time_and_parse_back() {
        let early = delivery_due("wh_a", 1_000, 9);
        let late = delivery_due("wh_a", 2_000, 1);
        assert!(early < late);
        let prefix = connection_prefix("wh_a");
        assert_eq!(parse_delivery_due(&prefix, &late), Some((2_000, 1)));
        assert_eq!(parse_delivery_due(&prefix, &late[..late.len() - 1]), None);
        assert!(!delivery("wh_1", 1).starts_with(&connection_prefix("wh_12")));
    }

    #[test]
    fn prefix_end_bounds_the_prefix() {
        assert_eq!(prefix_end(b"ab"), Some(b"ac".to_vec()));
        assert_eq!(prefix_end(&[1, 0xFF]), Some(vec![2]));
        assert_eq!(prefix_end(&[0xFF]), None);
    }
}
