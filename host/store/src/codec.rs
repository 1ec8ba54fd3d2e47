//! Binary encoding of the hot-path values: records and feed entries.
//!
//! Record value (version 1):
//! `[1][flags][seq u64][modified_at i64][synced_at i64][data…]`, integers
//! big-endian; flags bit 0 = tombstone, bit 1 = modified_at present.
//! Feed chunk value (one per committed page, keyed by its first sequence
//! number): `[2]` then per change `[flags][id length u16][id…]`.

use crate::model::{NewChange, StoredRecord};

const VERSION: u8 = 1;
const TOMBSTONE: u8 = 1;
const HAS_MODIFIED_AT: u8 = 2;
const FEED_CHUNK_VERSION: u8 = 2;
const RECORD_HEADER: usize = 2 + 8 + 8 + 8;
/// Feed chunks store id lengths as `u16`.
pub(crate) const MAX_ID_BYTES: usize = u16::MAX as usize;

/// A stored value that does not decode.
#[derive(Debug, thiserror::Error)]
#[error("{0}")]
pub struct CodecError(String);

pub(crate) fn encode_record(out: &mut Vec<u8>, seq: u64, change: &NewChange, synced_at: i64) {
    out.clear();
    let mut flags = 0;
    if change.deleted {
        flags |= TOMBSTONE;
    }
    if change.modified_at.is_some() {
        flags |= HAS_MODIFIED_AT;
    }
    out.reserve(RECORD_HEADER + change.data.len());
    out.push(VERSION);
    out.push(flags);
    out.extend_from_slice(&seq.to_be_bytes());
    out.extend_from_slice(&change.modified_at.unwrap_or(0).to_be_bytes());
    out.extend_from_slice(&synced_at.to_be_bytes());
    out.extend_from_slice(&change.data);
}

pub(crate) fn decode_record(id: String, value: &[u8]) -> Result<StoredRecord, CodecError> {
    if value.len() < RECORD_HEADER || value[0] != VERSION {
        return Err(CodecError(format!("record `{id}` has an unknown encoding")));
    }
    let flags = value[1];
    let int = |at: usize| i64::from_be_bytes(value[at..at + 8].try_into().expect("8 bytes"));
    Ok(StoredRecord {
        seq: int(2) as u64,
        modified_at: (flags & HAS_MODIFIED_AT != 0).then(|| int(10)),
        synced_at: int(18),
        deleted: flags & TOMBSTONE != 0,
        data: value[RECORD_HEADER..].to_vec(),
        id,
    })
}

pub(crate) fn is_tombstone(value: &[u8]) -> Result<bool, CodecError> {
    match value {
        [VERSION, flags, ..] => Ok(flags & TOMBSTONE != 0),
        _ => Err(CodecError("record has an unknown encoding".into())),
    }
}

/// Appends one change to a feed chunk: `[flags][id length u16][id]`.
/// A chunk value is `[2][changes…]`, one chunk per committed page.
pub(crate) fn push_feed_item(chunk: &mut Vec<u8>, change: &NewChange) {
    if chunk.is_empty() {
        chunk.push(FEED_CHUNK_VERSION);
    }
    chunk.push(if change.deleted { TOMBSTONE } else { 0 });
    let id = change.id.as_bytes();
    // `Store::commit_page` refuses longer ids before encoding anything.
    let len = u16::try_from(id.len()).unwrap_or(u16::MAX);
    chunk.extend_from_slice(&len.to_be_bytes());
    chunk.extend_from_slice(id);
}

/// The record ids of a feed chunk, in sequence order.
pub(crate) fn decode_feed_chunk(value: &[u8]) -> Result<Vec<String>, CodecError> {
    let corrupt = || CodecError("feed chunk has an unknown encoding".into());
    let [FEED_CHUNK_VERSION, body @ ..] = value else {
        return Err(corrupt());
    };
    let mut rest = body;
    let mut ids = Vec::new();
    while let [_flags, high, low, tail @ ..] = rest {
        let len = usize::from(u16::from_be_bytes([*high, *low]));
        let id = tail.get(..len).ok_or_else(corrupt)?;
        ids.push(String::from_utf8(id.to_vec()).map_err(|_| corrupt())?);
        rest = &tail[len..];
    }
    if !rest.is_empty() {
        return Err(corrupt());
    }
    Ok(ids)
}

pub(crate) fn decode_u64(bytes: &[u8]) -> Result<u64, CodecError> {
    bytes
        .try_into()
        .map(u64::from_be_bytes)
        .map_err(|_| CodecError(format!("expected 8 bytes, found {}", bytes.len())))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn records_round_trip() {
        let change = NewChange {
            id: "WO-1".into(),
            deleted: false,
            modified_at: Some(-5),
            data: br#"{"a":1}"#.to_vec(),
        };
        let mut value = Vec::new();
        encode_record(&mut value, 42, &change, 1000);
        let record = decode_record("WO-1".into(), &value).unwrap();
        assert_eq!(record.seq, 42);
        assert_eq!(record.modified_at, Some(-5));
        assert_eq!(record.synced_at, 1000);
        assert!(!record.deleted);
        assert_eq!(record.data, change.data);

        let tombstone = NewChange {
            deleted: true,
            modified_at: None,
            data: Vec::new(),
            ..change
        };
        encode_record(&mut value, 43, &tombstone, 1001);
        let record = decode_record("WO-1".into(), &value).unwrap();
        assert!(record.deleted && record.modified_at.is_none() && record.data.is_empty());
        assert!(is_tombstone(&value).unwrap());
        let mut chunk = Vec::new();
        push_feed_item(&mut chunk, &tombstone);
        push_feed_item(
            &mut chunk,
            &NewChange {
                id: "AST-ä".into(),
                ..tombstone
            },
        );
        assert_eq!(decode_feed_chunk(&chunk).unwrap(), ["WO-1", "AST-ä"]);
        chunk.pop();
        assert!(decode_feed_chunk(&chunk).is_err());
    }

    #[test]
    fn rejects_unknown_encodings() {
        assert!(decode_record("x".into(), &[9; 40]).is_err());
        assert!(decode_record("x".into(), &[1; 3]).is_err());
        assert!(decode_feed_chunk(&[]).is_err());
    }
}
