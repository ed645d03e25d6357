//! yichuang (一窗): one-window intake and approval routing for government service centers.

pub mod catalog;
pub mod domain;
pub mod rules;
