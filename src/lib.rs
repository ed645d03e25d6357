//! yichuang (一窗): one-window intake and approval routing for government service centers.
//!
//! Layers, inner to outer: `domain` (pure types) ← `rules` (rhai) and `catalog` (loading) ←
//! `decide` (the pure intake decision) ← `store` (diesel) and `app` (services) ← `http` and `cli`;
//! `print` lays out notices and guides with the catalog's templates.

pub mod app;
pub mod auth;
pub mod authoring;
pub mod catalog;
pub mod cli;
pub mod config;
pub mod decide;
pub mod digest;
pub mod domain;
pub mod error_code;
pub mod http;
pub mod metrics;
pub mod print;
pub mod rules;
pub mod store;
pub mod telemetry;
