//! Switchyard's sync engine.
//!
//! A run syncs one model of one connection: page by page from the stored
//! cursor, each page validated and committed atomically with its cursor, and
//! every failure handled by the [`RetryPolicy`] according to its error case.
#![warn(missing_docs)]

mod engine;
pub mod policy;
pub mod records;
mod scan;
mod scheduler;
pub mod schema;
mod writer;

pub use engine::{RunObserver, RunOptions, SyncConfig, SyncEngine, SyncError, field_values};
pub use policy::RetryPolicy;
pub use scheduler::{Scheduler, SchedulerConfig};
