//! yichuang
