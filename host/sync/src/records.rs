//! Checking what a connector returns before it is stored.

use switchyard_runtime::types::{Change, Operation};
use switchyard_store::model::{NewChange, QuarantinedRecord, now_ms};

/// Longest data kept with a quarantined record.
const QUARANTINE_DATA_BYTES: usize = 16 << 10;

/// A page after validation.
#[derive(Debug, Default)]
pub struct CheckedPage {
    /// Valid changes, in source order.
    pub changes: Vec<NewChange>,
    /// Records that failed validation.
    pub quarantined: Vec<QuarantinedRecord>,
    /// Valid upserts.
    pub upserted: u64,
    /// Deletions.
    pub deleted: u64,
}

/// Validates records.
#[derive(Debug, Default)]
pub struct RecordValidator {}

impl RecordValidator {
    /// Splits a page into valid changes and quarantined records. Data that is
    /// not JSON at all breaks the contract and fails the whole page (the
    /// `Err` message); JSON that is not a record is quarantined.
    pub fn check(
        &self,
        model: &str,
        run_id: u64,
        changes: Vec<Change>,
    ) -> Result<CheckedPage, String> {
        let mut page = CheckedPage::default();
        page.changes.reserve(changes.len());
        for change in changes {
            match (change.op, change.data) {
                (Operation::Delete, _) => {
                    page.deleted += 1;
                    page.changes.push(NewChange {
                        id: change.id,
                        deleted: true,
                        modified_at: change.modified_at,
                        data: Vec::new(),
                    });
                }
                (Operation::Upsert, data) => {
                    let data = data.unwrap_or_default();
                    let value: serde_json::Value = serde_json::from_str(&data).map_err(|e| {
                        format!("record `{}` of {model} is not valid JSON: {e}", change.id)
                    })?;
                    if !value.is_object() {
                        page.quarantined.push(quarantine(
                            model,
                            run_id,
                            &change.id,
                            "the record is not a JSON object",
                            &data,
                        ));
                        continue;
                    }
                    page.upserted += 1;
                    page.changes.push(NewChange {
                        id: change.id,
                        deleted: false,
                        modified_at: change.modified_at,
                        data: data.into_bytes(),
                    });
                }
            }
        }
        Ok(page)
    }
}

fn quarantine(model: &str, run_id: u64, id: &str, reason: &str, data: &str) -> QuarantinedRecord {
    let mut end = data.len().min(QUARANTINE_DATA_BYTES);
    while !data.is_char_boundary(end) {
        end -= 1;
    }
    QuarantinedRecord {
        id: id.to_string(),
        model: model.to_string(),
        run_id,
        reason: reason.to_string(),
        data: data[..end].to_string(),
        received_at: now_ms(),
    }
}
