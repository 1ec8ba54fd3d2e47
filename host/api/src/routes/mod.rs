pub mod connections;
pub mod connectors;
pub mod records;
