//! Pure domain types: no actix, diesel or rhai types here.

pub mod application;
pub mod assessment;
pub mod calendar;
pub mod case;
pub mod china_time;
pub mod deadline;
pub mod handling;
pub mod id_number;
pub mod matter;
pub mod notice;
pub mod org;
pub mod route;
pub mod unit;
