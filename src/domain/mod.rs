//! Pure domain types: no I/O beyond reading rule files, no database, no HTTP.

pub mod calendar;
pub mod id_number;
