//! Connection health: what the runs of a connection say about it, and the
//! alerts (`connection.health_degraded`, `connection.recovered`) when that
//! crosses a threshold.

use serde::Serialize;
use std::collections::BTreeMap;
use switchyard_store::model::{Millis, Run, RunStatus, now_ms};
use switchyard_store::{Store, StoreError};

/// Runs examined per computation: a week at one run a minute per model.
const MAX_RUNS: usize = 20_000;

const HOUR: Millis = 3_600_000;

/// When a connection counts as unhealthy.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct HealthThresholds {
    /// This many failed runs in a row of one model.
    pub consecutive_failures: u32,
    /// This share of failed runs in the last hour…
    pub error_rate_1h: f64,
    /// …counted once the hour has at least this many finished runs.
    pub min_runs_1h: u64,
}

impl Default for HealthThresholds {
    fn default() -> Self {
        HealthThresholds {
            consecutive_failures: 3,
            error_rate_1h: 0.5,
            min_runs_1h: 4,
        }
    }
}

/// Finished runs and failures in a window.
#[derive(Debug, Clone, Copy, Default, PartialEq, Serialize)]
pub struct ErrorRate {
    /// Runs that ended in the window.
    pub runs: u64,
    /// Of those, the failed ones.
    pub failed: u64,
    /// `failed / runs`, 0 without runs.
    pub rate: f64,
}

impl ErrorRate {
    fn add(&mut self, failed: bool) {
        self.runs += 1;
        self.failed += u64::from(failed);
        self.rate = self.failed as f64 / self.runs as f64;
    }
}

/// How one model is doing.
#[derive(Debug, Clone, Default, PartialEq, Serialize)]
pub struct ModelHealth {
    /// Status of its latest finished run.
    pub last_run_status: Option<RunStatus>,
    /// When a run of it last succeeded.
    pub last_success_at: Option<Millis>,
    /// Failed runs since the last success.
    pub consecutive_failures: u32,
    /// Error code of its latest failure.
    pub last_error_code: Option<String>,
}

/// How a connection is doing, from its runs.
#[derive(Debug, Clone, Default, PartialEq, Serialize)]
pub struct Health {
    /// When any run last succeeded.
    pub last_success_at: Option<Millis>,
    /// The most failed runs in a row, over its models.
    pub consecutive_failures: u32,
    /// Over the last hour.
    pub error_rate_1h: ErrorRate,
    /// Over the last 24 hours.
    pub error_rate_24h: ErrorRate,
    /// Over the last 7 days.
    pub error_rate_7d: ErrorRate,
    /// By model.
    pub models: BTreeMap<String, ModelHealth>,
    /// Failed runs in the last 24 hours by error code.
    pub errors_24h: BTreeMap<String, u64>,
}

impl Health {
    /// Computes health from runs, newest first.
    pub fn from_runs(runs: &[Run], now: Millis) -> Self {
        let mut health = Health::default();
        // Models whose streak of failures a success has already ended.
        let mut streak_over: BTreeMap<&str, bool> = BTreeMap::new();
        for run in runs {
            // A run cut by a restart says nothing about the source.
            if matches!(run.status, RunStatus::Running | RunStatus::Interrupted) {
                continue;
            }
            let failed = run.status != RunStatus::Succeeded;
            let ended = run.finished_at.unwrap_or(run.started_at);
            let age = now - ended;
            if age <= HOUR {
                health.error_rate_1h.add(failed);
            }
            if age <= 24 * HOUR {
                health.error_rate_24h.add(failed);
                if let Some(error) = run.error.as_ref().filter(|_| failed) {
                    *health.errors_24h.entry(error.code.clone()).or_default() += 1;
                }
            }
            if age <= 7 * 24 * HOUR {
                health.error_rate_7d.add(failed);
            }
            let model = health.models.entry(run.model.clone()).or_default();
            if model.last_run_status.is_none() {
                model.last_run_status = Some(run.status);
                model.last_error_code = run.error.as_ref().map(|e| e.code.clone());
            }
            let over = streak_over.entry(&run.model).or_insert(false);
            if failed && !*over {
                model.consecutive_failures += 1;
            }
            if !failed {
                *over = true;
                model.last_success_at = model.last_success_at.max(Some(ended));
                health.last_success_at = health.last_success_at.max(Some(ended));
            }
        }
        health.consecutive_failures = health
            .models
            .values()
            .map(|m| m.consecutive_failures)
            .max()
            .unwrap_or(0);
        health
    }

    /// Computes a connection's health from its stored runs.
    pub fn of(store: &Store, connection_id: &str) -> Result<Self, StoreError> {
        let runs = store.list_runs(connection_id, None, MAX_RUNS)?;
        Ok(Health::from_runs(&runs, now_ms()))
    }

    /// Why it is unhealthy by `thresholds`, if it is.
    pub fn problem(&self, thresholds: &HealthThresholds) -> Option<String> {
        if self.consecutive_failures >= thresholds.consecutive_failures {
            let (model, details) = self
                .models
                .iter()
                .max_by_key(|(_, m)| m.consecutive_failures)
                .expect("a failure streak has a model");
            return Some(format!(
                "{} failed runs in a row of {model} (last error: {})",
                details.consecutive_failures,
                details.last_error_code.as_deref().unwrap_or("unknown")
            ));
        }
        let hour = &self.error_rate_1h;
        if hour.runs >= thresholds.min_runs_1h && hour.rate >= thresholds.error_rate_1h {
            return Some(format!(
                "{} of {} runs failed in the last hour",
                hour.failed, hour.runs
            ));
        }
        None
    }

    /// Whether it is fully healthy again: the latest run of every model
    /// succeeded and the last hour is below the error-rate threshold.
    pub fn recovered(&self, thresholds: &HealthThresholds) -> bool {
        self.consecutive_failures == 0 && self.problem(thresholds).is_none()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use switchyard_store::model::{ErrorRecord, RunKind};

    fn run(model: &str, ok: bool, minutes_ago: i64, now: Millis) -> Run {
        let at = now - minutes_ago * 60_000;
        Run {
            id: 0,
            connection_id: "c".into(),
            model: model.into(),
            kind: RunKind::Incremental,
            status: if ok {
                RunStatus::Succeeded
            } else {
                RunStatus::Failed
            },
            started_at: at - 1000,
            finished_at: Some(at),
            pages: 0,
            records_upserted: 0,
            records_deleted: 0,
            records_quarantined: 0,
            connector_version: String::new(),
            connector_hash: String::new(),
            retries: vec![],
            error: (!ok).then(|| ErrorRecord {
                code: "source_unavailable".into(),
                message: String::new(),
            }),
        }
    }

    #[test]
    fn streaks_rates_and_thresholds() {
        let now = 10_000_000_000;
        // Newest first: assets failed three times after a success;
        // work orders are fine.
        let runs = vec![
            run("assets", false, 1, now),
            run("work-orders", true, 2, now),
            run("assets", false, 3, now),
            run("assets", false, 5, now),
            run("assets", true, 90, now),
            run("assets", false, 60 * 30, now),
            run("work-orders", false, 60 * 24 * 8, now),
        ];
        let health = Health::from_runs(&runs, now);
        assert_eq!(health.consecutive_failures, 3);
        assert_eq!(health.models["assets"].consecutive_failures, 3);
        assert_eq!(health.models["work-orders"].consecutive_failures, 0);
        assert_eq!(
            health.error_rate_1h,
            ErrorRate {
                runs: 4,
                failed: 3,
                rate: 0.75
            }
        );
        assert_eq!(health.error_rate_24h.runs, 5);
        assert_eq!(health.error_rate_7d.runs, 6);
        assert_eq!(health.errors_24h["source_unavailable"], 3);
        assert_eq!(health.last_success_at, Some(now - 2 * 60_000));
        let thresholds = HealthThresholds::default();
        let problem = health.problem(&thresholds).unwrap();
        assert!(
            problem.contains("3 failed runs in a row of assets"),
            "{problem}"
        );
        assert!(!health.recovered(&thresholds));

        let after = [vec![run("assets", true, 0, now)], runs].concat();
        let health = Health::from_runs(&after, now);
        assert_eq!(health.consecutive_failures, 0);
        // 3 of 5 runs failed this hour: still over the 50 % threshold.
        assert!(!health.recovered(&thresholds));
        let lenient = HealthThresholds {
            error_rate_1h: 0.9,
            ..thresholds
        };
        assert!(health.recovered(&lenient));
    }
}
