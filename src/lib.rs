//! yichuang

pub mod domain;
