//! Switchyard's metrics, in one Prometheus registry that every layer records
//! into and `GET /metrics` renders.
//!
//! | metric | labels |
//! |---|---|
//! | `switchyard_http_requests_total` | `method`, `route`, `status` |
//! | `switchyard_http_request_duration_seconds` | `method`, `route` |
//! | `switchyard_errors_total` | `code` |
//! | `switchyard_sync_runs_total` | `kind`, `status` |
//! | `switchyard_sync_records_total` | `operation` (`upsert`, `delete`, `quarantine`) |
//! | `switchyard_plugin_calls_total` | `function`, `outcome` (`ok` or the error code) |
//! | `switchyard_plugin_call_duration_seconds` | `function` |
//! | `switchyard_outbound_requests_total` | `outcome` (`2xx`…`5xx`, or the error) |
//! | `switchyard_webhook_deliveries_total` | `outcome` |
//! | `switchyard_request_log_dropped_total` | — |
#![warn(missing_docs)]

use prometheus::{
    Encoder, HistogramOpts, HistogramVec, IntCounter, IntCounterVec, Opts, Registry, TextEncoder,
};
use std::sync::LazyLock;

/// Every metric of the host.
pub struct Metrics {
    registry: Registry,
    /// Inbound API requests.
    pub http_requests: IntCounterVec,
    /// Inbound API request latency.
    pub http_duration: HistogramVec,
    /// Errors by code, wherever they surfaced (API responses, runs, retries).
    pub errors: IntCounterVec,
    /// Finished sync runs.
    pub sync_runs: IntCounterVec,
    /// Records written by syncs.
    pub sync_records: IntCounterVec,
    /// Connector calls.
    pub plugin_calls: IntCounterVec,
    /// Connector call latency.
    pub plugin_call_duration: HistogramVec,
    /// Requests connectors made to their sources.
    pub outbound_requests: IntCounterVec,
    /// Webhook delivery attempts.
    pub webhook_deliveries: IntCounterVec,
    /// Request log entries dropped because the writer was behind.
    pub request_log_dropped: IntCounter,
}

fn counter(registry: &Registry, name: &str, help: &str, labels: &[&str]) -> IntCounterVec {
    let metric = IntCounterVec::new(Opts::new(name, help), labels).expect("valid metric");
    registry
        .register(Box::new(metric.clone()))
        .expect("unique metric");
    metric
}

fn histogram(
    registry: &Registry,
    name: &str,
    help: &str,
    labels: &[&str],
    buckets: Vec<f64>,
) -> HistogramVec {
    let metric = HistogramVec::new(HistogramOpts::new(name, help).buckets(buckets), labels)
        .expect("valid metric");
    registry
        .register(Box::new(metric.clone()))
        .expect("unique metric");
    metric
}

impl Metrics {
    fn new() -> Self {
        let registry = Registry::new();
        let latency = vec![
            0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0,
            30.0,
        ];
        let request_log_dropped = IntCounter::new(
            "switchyard_request_log_dropped_total",
            "Request log entries dropped because the writer was behind.",
        )
        .expect("valid metric");
        registry
            .register(Box::new(request_log_dropped.clone()))
            .expect("unique metric");
        Metrics {
            http_requests: counter(
                &registry,
                "switchyard_http_requests_total",
                "API requests.",
                &["method", "route", "status"],
            ),
            http_duration: histogram(
                &registry,
                "switchyard_http_request_duration_seconds",
                "API request latency.",
                &["method", "route"],
                latency.clone(),
            ),
            errors: counter(
                &registry,
                "switchyard_errors_total",
                "Errors by code.",
                &["code"],
            ),
            sync_runs: counter(
                &registry,
                "switchyard_sync_runs_total",
                "Finished sync runs.",
                &["kind", "status"],
            ),
            sync_records: counter(
                &registry,
                "switchyard_sync_records_total",
                "Records written by syncs.",
                &["operation"],
            ),
            plugin_calls: counter(
                &registry,
                "switchyard_plugin_calls_total",
                "Connector calls.",
                &["function", "outcome"],
            ),
            plugin_call_duration: histogram(
                &registry,
                "switchyard_plugin_call_duration_seconds",
                "Connector call latency.",
                &["function"],
                latency,
            ),
            outbound_requests: counter(
                &registry,
                "switchyard_outbound_requests_total",
                "Requests connectors made to their sources.",
                &["outcome"],
            ),
            webhook_deliveries: counter(
                &registry,
                "switchyard_webhook_deliveries_total",
                "Webhook delivery attempts.",
                &["outcome"],
            ),
            request_log_dropped,
            registry,
        }
    }

    /// The metrics in Prometheus' text exposition format.
    pub fn render(&self) -> String {
        let mut buffer = Vec::new();
        TextEncoder::new()
            .encode(&self.registry.gather(), &mut buffer)
            .expect("encoding to memory does not fail");
        String::from_utf8(buffer).expect("the text format is UTF-8")
    }
}

/// The process's metrics.
pub fn metrics() -> &'static Metrics {
    static METRICS: LazyLock<Metrics> = LazyLock::new(Metrics::new);
    &METRICS
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn renders_recorded_values() {
        let m = metrics();
        m.errors.with_label_values(&["token_invalid"]).inc();
        m.http_duration
            .with_label_values(&["GET", "/x"])
            .observe(0.003);
        let text = m.render();
        assert!(
            text.contains("switchyard_errors_total{code=\"token_invalid\"} 1"),
            "{text}"
        );
        assert!(text.contains("switchyard_http_request_duration_seconds_bucket{method=\"GET\",route=\"/x\",le=\"0.005\"} 1"));
    }
}
