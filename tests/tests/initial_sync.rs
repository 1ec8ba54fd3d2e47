//! The thin slice end to end: demo-cmms with 10,000 records, the real host
//! process with the real connector component, an initial sync, and every
//! record read back over the API and compared field by field with the source.

use reqwest::Method;
use serde_json::{Value, json};
use std::collections::BTreeMap;
use std::time::Duration;
use switchyard_tests::{DemoCmms, Host, expected_unified};

const MODELS: [&str; 3] = ["work-orders", "assets", "locations"];

#[test]
fn ten_thousand_records_arrive_field_by_field() -> anyhow::Result<()> {
    let cmms = DemoCmms::start(&["--records", "10000"])?;
    let host = Host::start()?;
    let (connection, token) = host.connect_demo_cmms(&cmms, json!({}))?;
    let response = host
        .request(
            Method::POST,
            &format!("/v1/connections/{connection}/sync"),
            &token,
        )
        .json(&json!({}))
        .send()?;
    assert_eq!(response.status(), 202, "{}", response.text()?);
    let runs = host.wait_for_success(&connection, &MODELS, Duration::from_secs(120))?;

    let mut total = 0;
    for model in MODELS {
        let source = cmms.export(model)?;
        let stored = host.all_records(&connection, model, &token, true)?;
        assert_eq!(stored.len(), source.len(), "{model}: record count");
        let stored: BTreeMap<&str, &Value> = stored
            .iter()
            .map(|r| (r["id"].as_str().unwrap(), r))
            .collect();
        for record in &source {
            let id = record["id"].as_str().unwrap();
            let stored = stored
                .get(id)
                .unwrap_or_else(|| panic!("{model} {id} missing"));
            assert_eq!(stored["deleted"], false);
            assert_eq!(
                stored["modified_at"], record["updated_at"],
                "{model} {id} modified_at"
            );
            let expected = expected_unified(model, record);
            for (field, value) in expected.as_object().unwrap() {
                assert_eq!(&stored["data"][field], value, "{model} {id} field {field}");
            }
            assert_eq!(
                stored["data"].as_object().unwrap().len(),
                expected.as_object().unwrap().len(),
                "{model} {id}: unexpected extra fields"
            );
        }
        total += source.len();
        let run = runs.iter().find(|r| r["model"] == model).unwrap();
        assert_eq!(run["kind"], "initial");
        assert_eq!(run["records_upserted"], source.len());
        assert_eq!(run["connector_version"], "1.0.0");
    }
    assert_eq!(total, 10_000);
    Ok(())
}

#[test]
fn records_are_paginated_and_readable_one_by_one() -> anyhow::Result<()> {
    let cmms = DemoCmms::start(&["--records", "300"])?;
    let host = Host::start()?;
    let (connection, token) = host.connect_demo_cmms(&cmms, json!({}))?;
    host.request(
        Method::POST,
        &format!("/v1/connections/{connection}/sync"),
        &token,
    )
    .json(&json!({"model": "assets"}))
    .send()?
    .error_for_status()?;
    host.wait_for_success(&connection, &["assets"], Duration::from_secs(60))?;

    let base = format!("/v1/connections/{connection}/models/assets/records");
    let first: Value = host
        .request(Method::GET, &format!("{base}?limit=7"), &token)
        .send()?
        .json()?;
    assert_eq!(first["data"].as_array().unwrap().len(), 7);
    let cursor = first["next_cursor"].as_str().unwrap();
    let second: Value = host
        .request(
            Method::GET,
            &format!("{base}?limit=7&cursor={cursor}"),
            &token,
        )
        .send()?
        .json()?;
    let last_of_first = first["data"][6]["id"].as_str().unwrap();
    let first_of_second = second["data"][0]["id"].as_str().unwrap();
    assert!(
        first_of_second > last_of_first,
        "pages are ordered and disjoint"
    );

    let one: Value = host
        .request(Method::GET, &format!("{base}/{first_of_second}"), &token)
        .send()?
        .error_for_status()?
        .json()?;
    assert_eq!(one, second["data"][0]);

    let missing = host
        .request(Method::GET, &format!("{base}/AST-nope"), &token)
        .send()?;
    assert_eq!(missing.status(), 404);
    let body: Value = missing.json()?;
    assert_eq!(body["error"]["code"], "record_not_found");
    Ok(())
}
