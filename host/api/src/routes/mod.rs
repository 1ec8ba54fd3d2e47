pub mod connections;
pub mod records;
