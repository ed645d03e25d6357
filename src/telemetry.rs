//! Structured logs with `tracing`. Personal data (ID numbers, names, phones) is never logged in
//! clear: handlers log case ids and outcomes, and the request log records the path only.

use tracing_subscriber::EnvFilter;

use crate::config::LogFormat;

/// Install the global subscriber (`RUST_LOG` filters; default `info`). Calling it twice is harmless.
pub fn init(format: LogFormat) {
    let filter = EnvFilter::try_from_default_env().unwrap_or_else(|_| EnvFilter::new("info"));
    let builder = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_target(false);
    let _ = match format {
        LogFormat::Json => builder.json().try_init(),
        LogFormat::Text => builder.try_init(),
    };
}
