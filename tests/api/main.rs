//! HTTP integration tests: the real service on a random port, on SQLite and on PostgreSQL,
//! driven over real connections with awc. Every behaviour is one `async fn(&TestApp)` run on
//! both backends (`<name>_sqlite`, `<name>_postgres`).
//!
//! PostgreSQL comes from `YICHUANG_TEST_PG` (default `postgres://postgres@127.0.0.1:5432`); each
//! test creates its own `yc_api_<unique>` database and drops it at the end.

#[path = "../common/mod.rs"]
mod common;
mod helpers;

mod access;
mod access_matrix;
mod bundle;
mod concurrency;
mod documents;
mod exchange;
mod hostile;
mod idempotency;
mod intake;
mod logs;
mod operations;
mod outage;
mod personal;
mod reload;
mod routing;
mod scheduler;
mod security;
mod supplement;
mod tokens;
mod validation;
