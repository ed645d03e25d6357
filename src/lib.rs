//! yichuang (一窗): one-window intake and approval routing for government service centers.

pub mod authoring;
pub mod catalog;
pub mod cli;
pub mod decide;
pub mod domain;
pub mod rules;
pub mod store;
