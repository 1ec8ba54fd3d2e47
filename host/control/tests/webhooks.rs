//! The webhook dispatcher against a real HTTP receiver on 127.0.0.1: fan-out
//! from the event log, retries, signatures across a secret rotation, `410
//! Gone`, manual redelivery, and a slow endpoint that must not hold up a
//! fast one.

use axum::Router;
use axum::extract::{Path, State};
use axum::http::{HeaderMap, StatusCode};
use axum::routing::post;
use base64::Engine as _;
use base64::engine::general_purpose::STANDARD;
use serde_json::{Value, json};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};
use switchyard_control::events::{self, Events, new_event};
use switchyard_control::webhooks::{NewWebhook, WebhookUpdate, sign};
use switchyard_control::{Vault, WebhookConfig, Webhooks};
use switchyard_store::model::{Connection, ConnectionStatus, DeliveryStatus, WebhookDelivery};
use switchyard_store::{DeliveryQuery, Store};

/// What the receiver got: (path, headers, body).
type Received = Arc<Mutex<Vec<(String, HeaderMap, String)>>>;

#[derive(Clone)]
struct Receiver {
    received: Received,
    /// Requests to `/flaky` answered 503 before it starts answering 204.
    flaky_failures: Arc<Mutex<u32>>,
}

async fn receive(
    State(receiver): State<Receiver>,
    Path(path): Path<String>,
    headers: HeaderMap,
    body: String,
) -> (StatusCode, String) {
    receiver
        .received
        .lock()
        .unwrap()
        .push((path.clone(), headers, body));
    match path.as_str() {
        "gone" => (StatusCode::GONE, "no such hook".into()),
        "slow" => {
            tokio::time::sleep(Duration::from_secs(3)).await;
            (StatusCode::OK, String::new())
        }
        "flaky" => {
            let mut left = receiver.flaky_failures.lock().unwrap();
            if *left > 0 {
                *left -= 1;
                (
                    StatusCode::SERVICE_UNAVAILABLE,
                    "down for maintenance".into(),
                )
            } else {
                (StatusCode::NO_CONTENT, String::new())
            }
        }
        _ => (StatusCode::OK, "thanks".into()),
    }
}

async fn start_receiver(flaky_failures: u32) -> (String, Receiver) {
    let receiver = Receiver {
        received: Arc::default(),
        flaky_failures: Arc::new(Mutex::new(flaky_failures)),
    };
    let app = Router::new()
        .route("/{path}", post(receive))
        .with_state(receiver.clone());
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let url = format!("http://{}", listener.local_addr().unwrap());
    tokio::spawn(async move { axum::serve(listener, app).await.unwrap() });
    (url, receiver)
}

struct Fixture {
    _dir: tempfile::TempDir,
    store: Arc<Store>,
    webhooks: Webhooks,
    stop: Option<tokio::sync::oneshot::Sender<()>>,
    dispatcher: Option<tokio::task::JoinHandle<()>>,
}

impl Fixture {
    fn start(config: WebhookConfig) -> Self {
        let dir = tempfile::tempdir().unwrap();
        let store = Arc::new(Store::open(dir.path()).unwrap());
        let vault = Arc::new(Vault::from_spec(&Vault::generate_key()).unwrap());
        let webhooks = Webhooks::new(store.clone(), vault, config, None).unwrap();
        let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
        let dispatcher = tokio::spawn(webhooks.clone().run(async move {
            let _ = stopped.await;
        }));
        Fixture {
            _dir: dir,
            store,
            webhooks,
            stop: Some(stop),
            dispatcher: Some(dispatcher),
        }
    }

    fn emit(&self, event_type: &str, connection: &str) -> String {
        Events::new(self.store.clone())
            .append(vec![new_event(
                event_type,
                Some(connection),
                json!({"n": 1}),
            )])
            .unwrap()[0]
            .id
            .clone()
    }

    fn all_deliveries(&self, webhook: &str) -> Vec<WebhookDelivery> {
        self.webhooks
            .deliveries(
                webhook,
                &DeliveryQuery {
                    before: None,
                    status: None,
                    limit: 1000,
                    scan_limit: 10_000,
                },
            )
            .unwrap()
            .0
    }

    async fn wait_until(&self, what: &str, limit: Duration, mut done: impl FnMut(&Self) -> bool) {
        let start = Instant::now();
        while !done(self) {
            assert!(start.elapsed() < limit, "timed out waiting for {what}");
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    }

    async fn stop(mut self) {
        let _ = self.stop.take().unwrap().send(());
        tokio::time::timeout(Duration::from_secs(10), self.dispatcher.take().unwrap())
            .await
            .expect("the dispatcher stops")
            .unwrap();
    }
}

fn fast_config() -> WebhookConfig {
    WebhookConfig {
        retry_schedule: [0, 100, 100, 100].map(Duration::from_millis).to_vec(),
        attempt_timeout: Duration::from_secs(1),
        poll_interval: Duration::from_millis(50),
        ..WebhookConfig::default()
    }
}

fn key_of(secret: &str) -> Vec<u8> {
    STANDARD
        .decode(secret.strip_prefix("whsec_").unwrap())
        .unwrap()
}

/// Whether one of the request's signatures is the HMAC under `secret`.
fn verifies(headers: &HeaderMap, body: &str, secret: &str) -> bool {
    let header = |name: &str| headers.get(name).unwrap().to_str().unwrap().to_string();
    let timestamp: i64 = header("webhook-timestamp").parse().unwrap();
    let expected = sign(&[key_of(secret)], &header("webhook-id"), timestamp, body);
    header("webhook-signature")
        .split(' ')
        .any(|sig| sig == expected)
}

fn signature_count(headers: &HeaderMap) -> usize {
    headers["webhook-signature"]
        .to_str()
        .unwrap()
        .split(' ')
        .count()
}

/// Emits an event and returns the headers and body of the request that
/// delivers it.
async fn next_delivery(fixture: &Fixture, receiver: &Receiver, what: &str) -> (HeaderMap, String) {
    receiver.received.lock().unwrap().clear();
    fixture.emit(events::SYNC_FAILED, "conn_a");
    fixture
        .wait_until(what, Duration::from_secs(10), |_| {
            !receiver.received.lock().unwrap().is_empty()
        })
        .await;
    let received = receiver.received.lock().unwrap();
    let (_, headers, body) = &received[0];
    (headers.clone(), body.clone())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn deliveries_retry_verify_rotate_go_and_redeliver() {
    let (url, receiver) = start_receiver(2).await;
    let fixture = Fixture::start(fast_config());
    // An event from before the endpoint existed is not sent to it.
    fixture.emit(events::CONNECTION_CREATED, "conn_old");
    let (endpoint, secret) = fixture
        .webhooks
        .create(NewWebhook {
            url: format!("{url}/flaky"),
            event_types: vec!["sync.*".into(), events::CONNECTION_CREATED.into()],
            connection_id: None,
            description: Some("test receiver".into()),
        })
        .unwrap();
    assert!(secret.starts_with("whsec_") && key_of(&secret).len() == 32);
    assert_eq!(fixture.webhooks.secret(&endpoint.id).unwrap(), secret);

    let created = fixture.emit(events::CONNECTION_CREATED, "conn_a");
    // Not subscribed: no delivery.
    fixture.emit(events::CONNECTION_STATUS_CHANGED, "conn_a");
    let completed = fixture.emit(events::SYNC_COMPLETED, "conn_a");
    fixture
        .wait_until("both deliveries", Duration::from_secs(10), |f| {
            let deliveries = f.all_deliveries(&endpoint.id);
            deliveries.len() == 2
                && deliveries
                    .iter()
                    .all(|d| d.status == DeliveryStatus::Delivered)
        })
        .await;
    let deliveries = fixture.all_deliveries(&endpoint.id);
    let ids: Vec<&str> = deliveries.iter().map(|d| d.message_id.as_str()).collect();
    assert_eq!(ids, [completed.as_str(), created.as_str()], "newest first");
    // The receiver failed twice: those attempts were retried on schedule.
    let attempts: usize = deliveries.iter().map(|d| d.attempts.len()).sum();
    assert_eq!(attempts, 4);
    let retried: Vec<_> = deliveries
        .iter()
        .flat_map(|d| &d.attempts)
        .filter(|a| a.outcome == "retry")
        .collect();
    assert_eq!(retried.len(), 2);
    assert!(retried.iter().all(|a| a.status_code == Some(503)
        && a.error.as_deref() == Some("http_503")
        && a.response_body == "down for maintenance"));
    {
        let received = receiver.received.lock().unwrap();
        assert_eq!(received.len(), 4);
        for (_, headers, body) in received.iter() {
            assert!(verifies(headers, body, &secret), "{body}");
            let body: Value = serde_json::from_str(body).unwrap();
            assert_eq!(
                body["data"]["event_id"],
                headers["webhook-id"].to_str().unwrap()
            );
            assert_eq!(body["data"]["connection_id"], "conn_a");
        }
        // Retries keep the webhook-id and the body.
        let same: Vec<_> = received
            .iter()
            .filter(|(_, h, _)| h["webhook-id"] == created.as_str())
            .map(|(_, _, b)| b.clone())
            .collect();
        assert!(same.len() >= 2 && same.iter().all(|b| *b == same[0]));
    }

    // Rotation: both secrets sign during the grace period.
    let (_, new_secret) = fixture
        .webhooks
        .rotate_secret(&endpoint.id, Some(Duration::from_secs(3600)))
        .unwrap();
    assert_ne!(new_secret, secret);
    assert_eq!(fixture.webhooks.secret(&endpoint.id).unwrap(), new_secret);
    let (headers, body) =
        next_delivery(&fixture, &receiver, "the delivery after the rotation").await;
    assert_eq!(signature_count(&headers), 2);
    assert!(verifies(&headers, &body, &new_secret) && verifies(&headers, &body, &secret));
    // Without a grace period the old secret stops at once.
    fixture
        .webhooks
        .rotate_secret(&endpoint.id, Some(Duration::ZERO))
        .unwrap();
    let newest = fixture.webhooks.secret(&endpoint.id).unwrap();
    let (headers, body) = next_delivery(
        &fixture,
        &receiver,
        "the delivery after the second rotation",
    )
    .await;
    assert_eq!(signature_count(&headers), 1);
    assert!(verifies(&headers, &body, &newest) && !verifies(&headers, &body, &new_secret));

    // 410 Gone disables the endpoint; later events are not fanned out to it.
    fixture
        .webhooks
        .update(
            &endpoint.id,
            WebhookUpdate {
                url: Some(format!("{url}/gone")),
                ..Default::default()
            },
        )
        .unwrap();
    let gone_event = fixture.emit(events::SYNC_COMPLETED, "conn_a");
    fixture
        .wait_until(
            "the endpoint to be disabled",
            Duration::from_secs(10),
            |f| !f.webhooks.get(&endpoint.id).unwrap().enabled,
        )
        .await;
    let disabled = fixture.webhooks.get(&endpoint.id).unwrap();
    assert!(disabled.disabled_reason.unwrap().contains("410 Gone"));
    let gone = fixture
        .all_deliveries(&endpoint.id)
        .into_iter()
        .find(|d| d.message_id == gone_event)
        .unwrap();
    assert_eq!(gone.status, DeliveryStatus::Failed);
    assert_eq!(gone.attempts.len(), 1, "no retries after 410");
    assert_eq!(gone.attempts[0].outcome, "gone");
    fixture.emit(events::SYNC_COMPLETED, "conn_a");
    tokio::time::sleep(Duration::from_millis(300)).await;
    let count = fixture.all_deliveries(&endpoint.id).len();
    assert!(matches!(
        fixture.webhooks.redeliver(&endpoint.id, &gone.id),
        Err(switchyard_control::WebhookError::Disabled(_))
    ));

    // Enabled again at a working URL, a redelivery is one more attempt with
    // the same webhook-id.
    fixture
        .webhooks
        .update(
            &endpoint.id,
            WebhookUpdate {
                url: Some(format!("{url}/ok")),
                enabled: Some(true),
                ..Default::default()
            },
        )
        .unwrap();
    assert_eq!(
        fixture.all_deliveries(&endpoint.id).len(),
        count,
        "nothing fanned out while disabled"
    );
    receiver.received.lock().unwrap().clear();
    fixture.webhooks.redeliver(&endpoint.id, &gone.id).unwrap();
    fixture
        .wait_until("the redelivery", Duration::from_secs(10), |f| {
            f.webhooks.delivery(&endpoint.id, &gone.id).unwrap().status == DeliveryStatus::Delivered
        })
        .await;
    let redelivered = fixture.webhooks.delivery(&endpoint.id, &gone.id).unwrap();
    assert_eq!(redelivered.attempts.len(), 2);
    assert_eq!(redelivered.attempts[1].trigger, "manual");
    assert_eq!(redelivered.attempts[1].outcome, "delivered");
    assert_eq!(
        receiver.received.lock().unwrap()[0].1["webhook-id"],
        gone_event.as_str()
    );
    fixture.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn retries_end_and_a_slow_endpoint_does_not_hold_up_others() {
    let (url, _receiver) = start_receiver(u32::MAX).await;
    let fixture = Fixture::start(WebhookConfig {
        max_concurrent: 4,
        max_per_endpoint: 2,
        ..fast_config()
    });
    let new = |path: &str| NewWebhook {
        url: format!("{url}/{path}"),
        event_types: vec!["*".into()],
        connection_id: None,
        description: None,
    };
    let (slow, _) = fixture.webhooks.create(new("slow")).unwrap();
    let (fast, _) = fixture.webhooks.create(new("ok")).unwrap();
    let (down, _) = fixture.webhooks.create(new("flaky")).unwrap();
    let only_b = NewWebhook {
        connection_id: Some("conn_b".into()),
        ..new("ok")
    };
    assert!(matches!(
        fixture.webhooks.create(only_b.clone()),
        Err(switchyard_control::WebhookError::ConnectionNotFound(_))
    ));
    fixture
        .store
        .put_connection(&Connection {
            id: "conn_b".into(),
            connector_id: "demo-cmms".into(),
            pinned_version: None,
            settings: Default::default(),
            sealed_secrets: None,
            status: ConnectionStatus::Active,
            lookback_days: 30,
            sync_interval_secs: Default::default(),
            created_at: 0,
            updated_at: 0,
            credentials_version: 0,
        })
        .unwrap();
    let (filtered, _) = fixture.webhooks.create(only_b).unwrap();
    let started = Instant::now();
    for _ in 0..6 {
        fixture.emit(events::SYNC_COMPLETED, "conn_a");
    }
    fixture
        .wait_until(
            "the fast endpoint's deliveries",
            Duration::from_secs(10),
            |f| {
                let d = f.all_deliveries(&fast.id);
                d.len() == 6 && d.iter().all(|d| d.status == DeliveryStatus::Delivered)
            },
        )
        .await;
    // The slow endpoint's attempts time out after 1 s each, two at a time:
    // the fast one did not wait for them.
    assert!(
        started.elapsed() < Duration::from_millis(1500),
        "{:?}",
        started.elapsed()
    );
    assert!(
        fixture.all_deliveries(&filtered.id).is_empty(),
        "connection filter"
    );

    // An endpoint that never answers 2xx: four attempts, then failed.
    fixture
        .wait_until(
            "the down endpoint's deliveries to fail",
            Duration::from_secs(10),
            |f| {
                let d = f.all_deliveries(&down.id);
                d.len() == 6 && d.iter().all(|d| d.status == DeliveryStatus::Failed)
            },
        )
        .await;
    for delivery in fixture.all_deliveries(&down.id) {
        let outcomes: Vec<&str> = delivery
            .attempts
            .iter()
            .map(|a| a.outcome.as_str())
            .collect();
        assert_eq!(outcomes, ["retry", "retry", "retry", "failed"]);
        assert!(delivery.next_attempt_at.is_none());
    }
    // The slow one's attempts timed out and are being retried.
    let slow_deliveries = fixture.all_deliveries(&slow.id);
    assert!(
        slow_deliveries
            .iter()
            .flat_map(|d| &d.attempts)
            .all(|a| a.error.as_deref() == Some("timeout"))
    );
    // Deleting an endpoint takes its deliveries along.
    fixture.webhooks.delete(&slow.id).unwrap();
    assert!(fixture.webhooks.get(&slow.id).is_err());
    fixture.stop().await;
}

/// Without a dispatcher running: what disabling, enabling and redelivering
/// do to the outbox.
#[tokio::test]
async fn enabling_delivers_only_new_events_and_a_redelivery_stays_one_attempt() {
    let dir = tempfile::tempdir().unwrap();
    let store = Arc::new(Store::open(dir.path()).unwrap());
    let vault = Arc::new(Vault::from_spec(&Vault::generate_key()).unwrap());
    let webhooks = Webhooks::new(store.clone(), vault, fast_config(), None).unwrap();
    let emit = |event_type: &str| {
        Events::new(store.clone())
            .append(vec![new_event(event_type, None, json!({}))])
            .unwrap()[0]
            .id
            .clone()
    };
    let (endpoint, _) = webhooks
        .create(NewWebhook {
            url: "http://127.0.0.1:9/hooks".into(),
            event_types: vec!["*".into()],
            connection_id: None,
            description: None,
        })
        .unwrap();
    let set_enabled = |enabled: bool| {
        webhooks
            .update(
                &endpoint.id,
                WebhookUpdate {
                    enabled: Some(enabled),
                    ..Default::default()
                },
            )
            .unwrap()
    };
    let deliveries = || {
        webhooks
            .deliveries(
                &endpoint.id,
                &DeliveryQuery {
                    before: None,
                    status: None,
                    limit: 100,
                    scan_limit: 1000,
                },
            )
            .unwrap()
            .0
    };

    emit(events::SYNC_COMPLETED);
    while webhooks.fan_out_batch().unwrap() {}
    assert_eq!(deliveries()[0].status, DeliveryStatus::Pending);

    // Disabling fails what is pending.
    set_enabled(false);
    let first = deliveries()[0].clone();
    assert_eq!(first.status, DeliveryStatus::Failed);

    // An event while disabled, not yet fanned out when the endpoint is
    // enabled again, is not delivered; the next one is.
    emit(events::SYNC_FAILED);
    set_enabled(true);
    let after_enable = emit(events::CONNECTION_CREATED);
    while webhooks.fan_out_batch().unwrap() {}
    let all = deliveries();
    assert_eq!(all.len(), 2);
    assert_eq!(all[0].event_id, after_enable);

    // Redelivering an ended delivery is one attempt, however often asked.
    let once = webhooks.redeliver(&endpoint.id, &first.id).unwrap();
    assert!(once.next_attempt_final);
    let twice = webhooks.redeliver(&endpoint.id, &first.id).unwrap();
    assert!(twice.next_attempt_final && twice.status == DeliveryStatus::Pending);
}
