pub mod connections;
pub mod connectors;
pub mod lifecycle;
pub mod logs;
pub mod records;
pub mod webhooks;
