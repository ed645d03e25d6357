//! Pure domain types: no actix, diesel or rhai types here.

pub mod application;
pub mod assessment;
pub mod matter;
pub mod org;
