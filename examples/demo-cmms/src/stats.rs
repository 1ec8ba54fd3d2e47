//! Request counters of the source API, for tests to assert on.

use std::collections::BTreeMap;

use serde::Serialize;

/// Counters since start or the last reset. Only `/api/v1` requests count, so a test's
/// own admin calls do not show up.
#[derive(Debug, Default, Clone, Serialize)]
pub struct Stats {
    /// Source-API requests, faulted ones included.
    pub requests: u64,
    /// Successful logins.
    pub logins: u64,
    /// Responses by HTTP status.
    pub by_status: BTreeMap<u16, u64>,
    /// Requests by path (without the query).
    pub by_path: BTreeMap<String, u64>,
}

impl Stats {
    /// Counts a request as it arrives.
    pub fn request(&mut self, path: &str) {
        self.requests += 1;
        *self.by_path.entry(path.to_owned()).or_default() += 1;
    }

    /// Counts the status of a response.
    pub fn response(&mut self, status: u16) {
        *self.by_status.entry(status).or_default() += 1;
    }

    /// Zeroes every counter.
    pub fn reset(&mut self) {
        *self = Stats::default();
    }
}
