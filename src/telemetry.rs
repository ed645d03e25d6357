//! Structured logs with `tracing`. Personal data (ID numbers, names, phones) is never logged in
//! clear: handlers log case ids and outcomes, and the request log records the path only, with any
//! segment that could be personal data (`loggable_path`) masked.

use std::borrow::Cow;
use std::io::IsTerminal;

use tracing_subscriber::EnvFilter;

use crate::config::LogFormat;

/// Install the global subscriber (`RUST_LOG` filters; default `info`). Calling it twice is harmless.
pub fn init(format: LogFormat) {
    let filter = EnvFilter::try_from_default_env().unwrap_or_else(|_| EnvFilter::new("info"));
    let builder = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_target(false)
        .with_ansi(std::io::stdout().is_terminal());
    let _ = match format {
        LogFormat::Json => builder.json().try_init(),
        LogFormat::Text => builder.try_init(),
    };
}

/// Whether text has a run of 11 or more ASCII digits: ID numbers (18), phones (11) and bank
/// accounts (16–19) all do.
fn has_long_digit_run(text: &str) -> bool {
    text.split(|c: char| !c.is_ascii_digit())
        .any(|run| run.len() >= 11)
}

/// One of the service's own ids (`App::new_id`: `PREFIX-YYYYMMDD-` then 14 digits and 4 hex),
/// whose digits are a time and a counter, not a person. (Text deliberately built in that exact
/// shape passes too; the log test checks that real case ids stay readable.)
fn is_service_id(segment: &str) -> bool {
    let mut parts = segment.splitn(3, '-');
    let (Some(prefix), Some(date), Some(tail)) = (parts.next(), parts.next(), parts.next()) else {
        return false;
    };
    prefix.starts_with(|c: char| c.is_ascii_uppercase())
        && prefix
            .chars()
            .all(|c| c.is_ascii_uppercase() || c.is_ascii_digit() || c == '_')
        && date.len() == 8
        && date.bytes().all(|b| b.is_ascii_digit())
        && tail.len() == 18
        && tail[..14].bytes().all(|b| b.is_ascii_digit())
        && tail[14..].bytes().all(|b| b.is_ascii_hexdigit())
}

/// Whether a path segment or header value could carry personal data: long digit runs (ID
/// numbers, phones, bank accounts) or encoded / non-ASCII text (names, addresses).
pub fn may_be_personal(text: &str) -> bool {
    !is_service_id(text) && (has_long_digit_run(text) || text.contains('%') || !text.is_ascii())
}

/// A request path as it may be logged: every segment that could be personal data becomes `*`.
/// (`/api/v1/cases/330112195003120017` is logged as `/api/v1/cases/*`; case and notice ids stay.)
pub fn loggable_path(path: &str) -> Cow<'_, str> {
    if !path.split('/').any(may_be_personal) {
        return Cow::Borrowed(path);
    }
    Cow::Owned(
        path.split('/')
            .map(|seg| if may_be_personal(seg) { "*" } else { seg })
            .collect::<Vec<_>>()
            .join("/"),
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn personal_segments_are_masked_and_ids_kept() {
        for (path, logged) in [
            ("/api/v1/cases/330112195003120017", "/api/v1/cases/*"),
            (
                "/api/v1/cases/33011219500312001X/notices",
                "/api/v1/cases/*/notices",
            ),
            (
                "/api/v1/cases/13800001234/history",
                "/api/v1/cases/*/history",
            ),
            (
                "/api/v1/notices/6228480012345678/print",
                "/api/v1/notices/*/print",
            ),
            (
                "/api/v1/matters/%E6%9D%8E%E7%A7%80%E8%8B%B1",
                "/api/v1/matters/*",
            ),
            ("/api/v1/matters/李秀英/guide", "/api/v1/matters/*/guide"),
            (
                "/api/v1/matters/QS-MZ-001/guide.html",
                "/api/v1/matters/QS-MZ-001/guide.html",
            ),
            (
                "/api/v1/cases/QINGSHAN-20261123-330234430000002313",
                "/api/v1/cases/QINGSHAN-20261123-330234430000002313",
            ),
            (
                "/api/v1/notices/N-20260302-0324000000000107ab/print",
                "/api/v1/notices/N-20260302-0324000000000107ab/print",
            ),
            ("/api/v1/cases/X-330112196806152420", "/api/v1/cases/*"),
            ("/healthz", "/healthz"),
        ] {
            assert_eq!(loggable_path(path), logged, "{path}");
        }
    }

    #[test]
    fn request_ids_that_could_be_personal_are_recognised() {
        assert!(may_be_personal("330112195003120017"));
        assert!(!may_be_personal("r42"));
        assert!(!may_be_personal("7f3c2a1e-9b4d-4e21-a0c3-5d6e7f8a9b0c"));
    }
}
