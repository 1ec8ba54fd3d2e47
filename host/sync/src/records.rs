//! Checking what a connector returns before it is stored: JSON syntax, then
//! the unified model's JSON Schema (`schemas/`).

use crate::schema::{CompiledSchema, check_syntax};
use std::collections::HashMap;
use switchyard_runtime::types::{Change, Operation};
use switchyard_store::model::{NewChange, QuarantinedRecord, now_ms};

/// The unified models and their JSON Schemas (draft 2020-12), from `schemas/`.
pub const MODEL_SCHEMAS: [(&str, &str); 5] = [
    (
        "work-orders",
        include_str!("../../../schemas/work-orders.schema.json"),
    ),
    (
        "assets",
        include_str!("../../../schemas/assets.schema.json"),
    ),
    (
        "locations",
        include_str!("../../../schemas/locations.schema.json"),
    ),
    ("parts", include_str!("../../../schemas/parts.schema.json")),
    (
        "purchase-orders",
        include_str!("../../../schemas/purchase-orders.schema.json"),
    ),
];

/// Longest validation message kept with a quarantined record.
const MAX_REASON_CHARS: usize = 500;

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

/// Validates records against the unified models. Models without a schema
/// (a connector's own, non-unified models) only need to be JSON objects.
#[derive(Debug)]
pub struct RecordValidator {
    schemas: HashMap<&'static str, CompiledSchema>,
}

impl Default for RecordValidator {
    fn default() -> Self {
        let schemas = MODEL_SCHEMAS
            .iter()
            .map(|(model, text)| {
                let schema: serde_json::Value =
                    serde_json::from_str(text).expect("the bundled schemas are valid JSON");
                let compiled = CompiledSchema::compile(&schema)
                    .unwrap_or_else(|e| panic!("the bundled {model} schema compiles: {e}"));
                (*model, compiled)
            })
            .collect();
        RecordValidator { schemas }
    }
}

impl RecordValidator {
    /// Why `data` is not a valid `model` record with id `id`, if it is not.
    /// `Err` when `data` is not JSON at all.
    pub fn problem(&self, model: &str, id: &str, data: &str) -> Result<Option<String>, String> {
        problem(self.schemas.get(model), model, id, data)
    }

    /// Splits a page into valid changes and quarantined records. Data that is
    /// not JSON at all breaks the contract and fails the whole page (the
    /// `Err` message); JSON that is not a record is quarantined.
    pub fn check(
        &self,
        model: &str,
        run_id: u64,
        changes: Vec<Change>,
    ) -> Result<CheckedPage, String> {
        let schema = self.schemas.get(model);
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
                    if let Some(reason) = problem(schema, model, &change.id, &data)? {
                        page.quarantined
                            .push(quarantine(model, run_id, &change.id, &reason, &data));
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

fn problem(
    schema: Option<&CompiledSchema>,
    model: &str,
    id: &str,
    data: &str,
) -> Result<Option<String>, String> {
    let report = match schema {
        Some(schema) => schema.validate_record(data, id),
        None => check_syntax(data, Some(id)),
    }
    .map_err(|e| format!("record `{id}` of {model} is not valid JSON: {e}"))?;
    if !report.is_object {
        return Ok(Some("the record is not a JSON object".into()));
    }
    if !report.errors.is_empty() {
        return Ok(Some(truncate(&format!(
            "does not match the {model} schema: {}",
            report.errors.join("; ")
        ))));
    }
    if let Some(data_id) = report.id
        && data_id != id
    {
        return Ok(Some(truncate(&format!(
            "its `id` is `{data_id}` but the change is for `{id}`"
        ))));
    }
    Ok(None)
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

fn truncate(text: &str) -> String {
    if text.chars().count() <= MAX_REASON_CHARS {
        return text.to_string();
    }
    let mut cut: String = text.chars().take(MAX_REASON_CHARS).collect();
    cut.push('…');
    cut
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn upsert(id: &str, data: serde_json::Value) -> Change {
        Change {
            id: id.into(),
            op: Operation::Upsert,
            modified_at: None,
            data: Some(data.to_string()),
        }
    }

    #[test]
    fn the_schema_examples_are_valid() {
        let validator = RecordValidator::default();
        for (model, text) in MODEL_SCHEMAS {
            let schema: serde_json::Value = serde_json::from_str(text).unwrap();
            let example = &schema["examples"][0];
            let id = example["id"].as_str().unwrap();
            assert_eq!(
                validator.problem(model, id, &example.to_string()),
                Ok(None),
                "{model}"
            );
        }
    }

    #[test]
    fn invalid_records_are_quarantined_and_the_rest_proceeds() {
        let validator = RecordValidator::default();
        let good = json!({"id": "A1", "name": "Pump", "status": "operational", "updated_at": "2026-11-28T10:00:00Z"});
        let bad_status = json!({"id": "A2", "name": "Pump", "status": "exploded", "updated_at": "2026-11-28T10:00:00Z"});
        let bad_time =
            json!({"id": "A3", "name": "Pump", "status": "down", "updated_at": "yesterday"});
        let extra = json!({"id": "A4", "name": "Pump", "status": "down", "updated_at": "2026-11-28T10:00:00Z", "colour": "red"});
        let wrong_id = json!({"id": "B9", "name": "Pump", "status": "down", "updated_at": "2026-11-28T10:00:00Z"});
        let changes = vec![
            upsert("A1", good),
            upsert("A2", bad_status),
            upsert("A3", bad_time),
            upsert("A4", extra),
            upsert("A5", wrong_id),
            upsert("A6", json!([1, 2])),
        ];
        let page = validator.check("assets", 7, changes).unwrap();
        assert_eq!(page.upserted, 1);
        assert_eq!(page.changes.len(), 1);
        let reasons: Vec<(&str, &str)> = page
            .quarantined
            .iter()
            .map(|q| (q.id.as_str(), q.reason.as_str()))
            .collect();
        assert_eq!(reasons.len(), 5);
        assert!(reasons[0].1.contains("/status"), "{reasons:?}");
        assert!(reasons[1].1.contains("/updated_at"), "{reasons:?}");
        assert!(reasons[2].1.contains("colour"), "{reasons:?}");
        assert!(reasons[3].1.contains("`B9`"), "{reasons:?}");
        assert_eq!(reasons[4].1, "the record is not a JSON object");
        assert!(
            page.quarantined
                .iter()
                .all(|q| q.run_id == 7 && q.model == "assets")
        );
    }

    #[test]
    fn data_that_is_not_json_fails_the_page() {
        let validator = RecordValidator::default();
        let change = Change {
            id: "x".into(),
            op: Operation::Upsert,
            modified_at: None,
            data: Some("{not json".into()),
        };
        let error = validator.check("assets", 1, vec![change]).unwrap_err();
        assert!(error.contains("not valid JSON"), "{error}");
    }

    #[test]
    fn models_without_a_schema_need_only_objects() {
        let validator = RecordValidator::default();
        assert_eq!(
            validator.problem("meters", "m1", r#"{"anything": 1}"#),
            Ok(None)
        );
        assert!(
            validator
                .problem("meters", "m1", r#""text""#)
                .unwrap()
                .is_some()
        );
    }
}
