//! Pure domain types: no actix, diesel or rhai types here.

pub mod application;
pub mod assessment;
pub mod calendar;
pub mod id_number;
pub mod matter;
pub mod org;
