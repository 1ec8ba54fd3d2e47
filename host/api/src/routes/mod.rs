pub mod connections;
pub mod connectors;
pub mod logs;
pub mod records;
