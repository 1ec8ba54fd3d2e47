pub mod connections;
pub mod logs;
pub mod records;
