pub mod connections;
pub mod lifecycle;
pub mod records;
