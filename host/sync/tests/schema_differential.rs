//! The ingest validator (`switchyard_sync::schema`) must agree with the
//! reference `jsonschema` crate on every record: each unified model's example
//! is mutated thousands of ways and both validators judge every mutant.

use serde_json::{Value, json};
use switchyard_sync::records::MODEL_SCHEMAS;
use switchyard_sync::schema::CompiledSchema;

mod common;

use common::Lcg;

fn replacements() -> Vec<Value> {
    vec![
        Value::Null,
        json!(true),
        json!(0),
        json!(-5),
        json!(1.5),
        json!(1e300),
        json!(""),
        json!("x"),
        json!("open"),
        json!("operational"),
        json!("EUR"),
        json!("eur"),
        json!("2026-11-28"),
        json!("2026-02-30"),
        json!("2026-11-28T09:30:00Z"),
        json!("2026-11-28T09:30:00.5+02:00"),
        json!("2026-11-28T25:00:00Z"),
        json!("x".repeat(600)),
        json!([]),
        json!([{"quantity": 1}]),
        json!([{"quantity": 0}]),
        json!([{"quantity": 2, "unit_price": -1}]),
        json!([{"quantity": 2, "sku": "x"}]),
        json!({}),
        json!({"a": 1}),
        json!(90.5),
        json!(-180),
    ]
}

fn mutate(example: &Value, rng: &mut Lcg, pool: &[Value]) -> Value {
    let mut record = example.clone();
    let object = record.as_object_mut().unwrap();
    let keys: Vec<String> = object.keys().cloned().collect();
    for _ in 0..=(rng.next() % 3) {
        match rng.next() % 4 {
            0 => {
                object.remove(rng.pick(&keys));
            }
            1 => {
                object.insert(format!("extra_{}", rng.next() % 3), rng.pick(pool).clone());
            }
            _ => {
                object.insert(rng.pick(&keys).clone(), rng.pick(pool).clone());
            }
        }
    }
    record
}

#[test]
fn agrees_with_the_reference_validator() {
    let pool = replacements();
    let mut rng = Lcg(0x5eed);
    let mut invalid = 0;
    let mut total = 0;
    for (model, text) in MODEL_SCHEMAS {
        let schema: Value = serde_json::from_str(text).unwrap();
        let reference = jsonschema::options()
            .with_draft(jsonschema::Draft::Draft202012)
            .should_validate_formats(true)
            .build(&schema)
            .unwrap();
        let ours = CompiledSchema::compile(&schema).unwrap();
        let example = &schema["examples"][0];
        for _ in 0..2000 {
            let record = mutate(example, &mut rng, &pool);
            let expected = reference.is_valid(&record);
            let report = ours.validate(&record.to_string()).unwrap();
            assert_eq!(
                report.errors.is_empty(),
                expected,
                "{model}: the validators disagree on {record}: ours says {:?}",
                report.errors
            );
            total += 1;
            invalid += usize::from(!expected);
        }
    }
    // The mutations must exercise both outcomes to mean anything.
    assert!(
        invalid > total / 4 && invalid < total * 9 / 10,
        "{invalid} of {total} invalid"
    );
}
