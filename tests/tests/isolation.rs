//! A token of connection A never reads connection B, over every read
//! endpoint; the same requests with B's own token succeed, so the test
//! would notice an endpoint that answered 403 to everyone.

use reqwest::Method;
use serde_json::{Value, json};
use std::time::Duration;
use switchyard_tests::{DemoCmms, Host};

const MODELS: [&str; 3] = ["work-orders", "assets", "locations"];

/// Every read endpoint of a connection.
fn read_paths(connection: &str) -> Vec<String> {
    let mut paths = vec![
        format!("/v1/connections/{connection}"),
        format!("/v1/connections/{connection}/runs"),
        format!("/v1/connections/{connection}/timeline"),
        format!("/v1/events?connection_id={connection}"),
    ];
    for (model, id) in [
        ("work-orders", "WO-0000001"),
        ("assets", "AST-000001"),
        ("locations", "LOC-00001"),
    ] {
        let base = format!("/v1/connections/{connection}/models/{model}");
        paths.push(format!("{base}/records"));
        paths.push(format!("{base}/records?include_deleted=true&limit=5"));
        paths.push(format!("{base}/records/{id}"));
        paths.push(format!("{base}/changes"));
    }
    paths
}

#[test]
fn a_token_of_one_connection_never_reads_another() -> anyhow::Result<()> {
    let cmms_a = DemoCmms::start(&["--records", "60", "--seed", "1"])?;
    let cmms_b = DemoCmms::start(&["--records", "60", "--seed", "2"])?;
    let host = Host::start()?;
    let (a, token_a) = host.connect_flow_demo_cmms(&cmms_a, None, "admin", "secret")?;
    let (b, token_b) = host.connect_flow_demo_cmms(&cmms_b, None, "admin", "secret")?;
    host.wait_for_success(&a, &MODELS, Duration::from_secs(60))?;
    host.wait_for_success(&b, &MODELS, Duration::from_secs(60))?;

    let paths = read_paths(&b);
    for path in &paths {
        let (status, body) = host.get_json(path, &token_b)?;
        assert_eq!(status, 200, "B's own token reads {path}: {body}");
        let (status, body) = host.get_json(path, &token_a)?;
        assert_eq!(status, 403, "A's token on {path}: {body}");
        assert_eq!(body["error"]["code"], "insufficient_permissions", "{path}");
        assert!(
            !body.to_string().contains(&cmms_b.url),
            "nothing of B leaks in the error"
        );
    }
    println!("{} read endpoints checked", paths.len());

    // Writes too: A's token cannot start B's syncs.
    let response = host
        .request(Method::POST, &format!("/v1/connections/{b}/sync"), &token_a)
        .json(&json!({}))
        .send()?;
    assert_eq!(response.status(), 403);

    // Listings show only the token's own connection and events.
    let (_, list) = host.get_json("/v1/connections", &token_a)?;
    let ids: Vec<&str> = list["data"]
        .as_array()
        .unwrap()
        .iter()
        .map(|c| c["id"].as_str().unwrap())
        .collect();
    assert_eq!(ids, [a.as_str()]);
    let (status, events) = host.get_json("/v1/events?limit=1000", &token_a)?;
    assert_eq!(status, 200);
    let events: &Vec<Value> = events["data"].as_array().unwrap();
    assert!(!events.is_empty());
    assert!(events.iter().all(|e| e["connection_id"] == a.as_str()));
    // The admin sees both.
    let all = host.events("type=connection.created")?;
    assert!(all.iter().any(|e| e["connection_id"] == a.as_str()));
    assert!(all.iter().any(|e| e["connection_id"] == b.as_str()));
    Ok(())
}
