//! Service configuration: a YAML file plus `YICHUANG_*` environment overrides. Every setting has a
//! documented default (see README.md), and unknown keys are rejected so a typo never passes silently.

use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};

/// How logs are written.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum LogFormat {
    /// Human-readable lines.
    Text,
    /// One JSON object per line.
    Json,
}

/// All settings of `yichuang serve`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct Config {
    /// Address to listen on. Env: `YICHUANG_BIND`.
    pub bind: String,
    /// `sqlite://PATH` (embedded default, created on first start) or `postgres://...`.
    /// Env: `YICHUANG_DATABASE_URL`.
    pub database_url: String,
    /// The rule catalog directory. Env: `YICHUANG_RULES_DIR`.
    pub rules_dir: PathBuf,
    /// `text` or `json`. Env: `YICHUANG_LOG_FORMAT`.
    pub log_format: LogFormat,
    /// Users and their hashed bearer tokens. Env: `YICHUANG_TOKENS_FILE`.
    pub tokens_file: PathBuf,
    /// Largest accepted request body in bytes. Env: `YICHUANG_MAX_BODY_BYTES`.
    pub max_body_bytes: usize,
    /// HTTP worker threads (default: number of cores). Env: `YICHUANG_WORKERS`.
    pub workers: Option<usize>,
    /// Database connections in the pool. Env: `YICHUANG_DB_POOL_SIZE`.
    pub db_pool_size: u32,
    /// PostgreSQL: writer sessions committing batches of writes side by side (SQLite has one).
    /// Env: `YICHUANG_PG_WRITERS`.
    pub pg_writers: usize,
    /// How long a request waits for a pooled connection, or for the writer stuck on the database
    /// (no progress), before failing with 503; also bounds making a PostgreSQL connection.
    /// Env: `YICHUANG_DB_TIMEOUT_MS`.
    pub db_timeout_ms: u64,
    /// PostgreSQL `statement_timeout` of the service's sessions (0 = the server's setting); below
    /// `db_timeout_ms`, so a statement stuck behind a lock is rolled back before the request gives
    /// up. Env: `YICHUANG_DB_STATEMENT_TIMEOUT_MS`.
    pub db_statement_timeout_ms: u64,
    /// SQLite: refuse writes (503) once the database file reaches this many MiB (0 = no limit).
    /// Env: `YICHUANG_SQLITE_MAX_MB`.
    pub sqlite_max_mb: u64,
    /// How often the rules directory is checked for changes (0 = never; reload by the admin
    /// endpoint or SIGHUP). Env: `YICHUANG_RELOAD_POLL_MS`.
    pub reload_poll_ms: u64,
    /// Fleet mode: how often the version published to the database (`yichuang rules publish`)
    /// is checked (0 = off; then the rules directory is the source). Env: `YICHUANG_FLEET_POLL_MS`.
    pub fleet_poll_ms: u64,
    /// How often the scheduler looks for due deadlines (timeouts, 容缺 lapses); 0 = never (run
    /// it by `POST /api/v1/scheduler/sweep`). Env: `YICHUANG_SCHEDULER_POLL_MS`.
    pub scheduler_poll_ms: u64,
    /// A case or step turns yellow (预警) once this share of its working days, in percent, has
    /// passed; red when overdue. Env: `YICHUANG_WARNING_PERCENT`.
    pub warning_percent: u32,
    /// Working days within which a 差评 must be followed up. Env: `YICHUANG_FOLLOWUP_DAYS`.
    pub followup_days: u32,
    /// Signed tokens (JWT) of the county's identity system: the expected `iss`. Required when a
    /// key is configured. Env: `YICHUANG_JWT_ISSUER`.
    pub jwt_issuer: Option<String>,
    /// The expected `aud` (the token must name it). Env: `YICHUANG_JWT_AUDIENCE`.
    pub jwt_audience: String,
    /// The identity system's public key (PEM: RSA, EC P-256/P-384 or Ed25519); JWTs are accepted
    /// only when this or `jwt_jwks_file` is set. Env: `YICHUANG_JWT_PUBLIC_KEY_FILE`.
    pub jwt_public_key_file: Option<PathBuf>,
    /// Or a key set (JWKS JSON); a token picks its key by `kid`. Env: `YICHUANG_JWT_JWKS_FILE`.
    pub jwt_jwks_file: Option<PathBuf>,
    /// Clock skew tolerated on `exp` and `nbf`, in seconds. Env: `YICHUANG_JWT_LEEWAY_SECS`.
    pub jwt_leeway_secs: u64,
    /// Requests per second per user (token) on authenticated endpoints, fractions allowed;
    /// 0 = no limit. Env: `YICHUANG_RATE_LIMIT_PER_SEC`.
    pub rate_limit_per_sec: f64,
    /// Requests a user may send at once above that rate (token bucket size; at least 1).
    /// Env: `YICHUANG_RATE_LIMIT_BURST`.
    pub rate_limit_burst: u32,
    /// Failed sign-ins (a wrong or expired token) allowed per client address per minute after
    /// the burst below; beyond it a failing request answers 429 (a valid token still passes).
    /// 0 = off. Env: `YICHUANG_AUTH_FAILURES_PER_MIN`.
    pub auth_failures_per_min: u32,
    /// Failed sign-ins a client address may make at once. Env: `YICHUANG_AUTH_FAILURE_BURST`.
    pub auth_failure_burst: u32,
    /// Longest a request may take, from its head to the answer (reading the body included), before
    /// it is answered 503 `request_timeout`; 0 = no limit. Env: `YICHUANG_REQUEST_TIMEOUT_MS`.
    pub request_timeout_ms: u64,
    /// Longest a client may take to send a request's head (slow clients are dropped with 408).
    /// Env: `YICHUANG_CLIENT_REQUEST_TIMEOUT_MS`.
    pub client_request_timeout_ms: u64,
    /// Longest a connection shutdown may take after the answer. Env:
    /// `YICHUANG_CLIENT_DISCONNECT_TIMEOUT_MS`.
    pub client_disconnect_timeout_ms: u64,
    /// Origins of browser front-ends on another origin that may call the API (CORS), e.g.
    /// `https://hall.qingshan.gov.cn`; `*` for any. Empty (the default): CORS off, and a
    /// preflight is answered 405. Env: `YICHUANG_CORS_ORIGINS`, comma-separated.
    pub cors_origins: Vec<String>,
    /// Systems that receive every case event (the provincial platform, the queue screen, the SMS
    /// gateway …): see docs/exchange.md. Also read from `subscribers.yaml` next to the config
    /// file when this list is empty.
    pub subscribers: Vec<Subscriber>,
    /// How often each subscriber's delivery worker looks for events when it found none (0 = no
    /// worker; deliveries wait in the outbox). Env: `YICHUANG_OUTBOX_POLL_MS`.
    pub outbox_poll_ms: u64,
    /// Warn (log and `yichuang_outbox_alert`) when a subscriber's oldest undelivered event is
    /// older than this many seconds. Env: `YICHUANG_OUTBOX_ALERT_SECS`.
    pub outbox_alert_secs: u64,
    /// Delivered outbox events (their payloads carry the applicant's name and ID number) are
    /// deleted this many days after they occurred, hourly, except each case's latest event
    /// (0 = kept until `archive`). Env: `YICHUANG_OUTBOX_KEEP_DAYS`.
    pub outbox_keep_days: u64,
    /// The `provincial` profile's template (minijinja, JSON out); it goes live only if every
    /// event kind of the sample cases renders. Env: `YICHUANG_EXCHANGE_TEMPLATE`.
    pub exchange_template: PathBuf,
    /// The 申办流水号 (SBLSH) of a case, a minijinja template over `case` (the payload's case)
    /// and `event`. Env: `YICHUANG_SBLSH_TEMPLATE`.
    pub sblsh_template: String,
    /// Personal-data keys (docs/personal-data.md): lines `<key id>: <base64 of 32 bytes>`, a
    /// `search:` key for the ID-number index and optionally `active: <key id>`. Unset (and no
    /// `YICHUANG_KEYS`): personal data is stored in plain text, with a warning at start.
    /// Env: `YICHUANG_KEY_FILE`; or the keys themselves in `YICHUANG_KEYS` (entries separated
    /// by `,`), which wins over the file.
    pub key_file: Option<PathBuf>,
}

/// How a subscriber's events are written.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Profile {
    /// The service's own JSON (the outbox payload as stored).
    #[default]
    Native,
    /// The provincial 办件/好差评 exchange, from `exchange_template`.
    Provincial,
}

/// One system that receives case events.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Subscriber {
    /// Unique; names its deliveries (renaming a subscriber starts it afresh).
    pub name: String,
    /// Where events are POSTed (`http://`; `https://` needs the `https` build feature).
    pub url: String,
    /// Event kinds (`intake`, `decided`, `rated` …) or `*` for all.
    #[serde(default = "all_events")]
    pub events: Vec<String>,
    #[serde(default)]
    pub profile: Profile,
    /// The HMAC-SHA256 key of `X-Yichuang-Signature`; or `secret_file`.
    #[serde(default)]
    pub secret: Option<String>,
    #[serde(default)]
    pub secret_file: Option<PathBuf>,
    /// One attempt's whole time (connect, send, answer).
    #[serde(default = "default_timeout_ms")]
    pub timeout_ms: u64,
    /// Attempts before a delivery is dead (`yichuang outbox resend` revives it).
    #[serde(default = "default_max_attempts")]
    pub max_attempts: u32,
    /// First retry after about this long; doubling each attempt, with jitter.
    #[serde(default = "default_backoff_ms")]
    pub backoff_ms: u64,
    /// The longest wait between attempts.
    #[serde(default = "default_backoff_max_ms")]
    pub backoff_max_ms: u64,
    /// Deliveries sent at once (1–32), each on its own connection: never two of one case, so
    /// each case's events still arrive in order.
    #[serde(default = "default_concurrency")]
    pub concurrency: u32,
}

fn all_events() -> Vec<String> {
    vec!["*".into()]
}
fn default_timeout_ms() -> u64 {
    5_000
}
fn default_max_attempts() -> u32 {
    12
}
fn default_backoff_ms() -> u64 {
    1_000
}
fn default_backoff_max_ms() -> u64 {
    600_000
}
fn default_concurrency() -> u32 {
    4
}

/// `subscribers.yaml`: the list alone.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct SubscribersFile {
    subscribers: Vec<Subscriber>,
}

impl Default for Config {
    fn default() -> Self {
        Self {
            bind: "127.0.0.1:8080".into(),
            database_url: "sqlite://data/yichuang.db".into(),
            rules_dir: PathBuf::from("rules"),
            log_format: LogFormat::Text,
            tokens_file: PathBuf::from("config/tokens.yaml"),
            max_body_bytes: 256 * 1024,
            workers: None,
            db_pool_size: 8,
            pg_writers: crate::store::DEFAULT_PG_WRITERS,
            db_timeout_ms: 3_000,
            db_statement_timeout_ms: 2_000,
            sqlite_max_mb: 0,
            reload_poll_ms: 2_000,
            fleet_poll_ms: 0,
            scheduler_poll_ms: 1_000,
            warning_percent: 80,
            followup_days: 5,
            jwt_issuer: None,
            jwt_audience: "yichuang".into(),
            jwt_public_key_file: None,
            jwt_jwks_file: None,
            jwt_leeway_secs: 60,
            rate_limit_per_sec: 0.0,
            rate_limit_burst: 20,
            auth_failures_per_min: 12,
            auth_failure_burst: 20,
            request_timeout_ms: 30_000,
            client_request_timeout_ms: 10_000,
            client_disconnect_timeout_ms: 2_000,
            cors_origins: Vec::new(),
            subscribers: Vec::new(),
            outbox_poll_ms: 500,
            outbox_alert_secs: 3_600,
            outbox_keep_days: 90,
            exchange_template: PathBuf::from("config/exchange/provincial.json.j2"),
            sblsh_template: "{{ case.received_on | replace('-', '') }}{{ case.id }}".into(),
            key_file: None,
        }
    }
}

/// A configuration that cannot be used.
#[derive(Debug, thiserror::Error)]
pub enum ConfigError {
    #[error("cannot read config file {path}: {source}")]
    Read {
        path: String,
        #[source]
        source: std::io::Error,
    },
    #[error("config file {path}: {message}")]
    Parse { path: String, message: String },
    #[error("environment variable {name}: {message}")]
    Env { name: String, message: String },
}

fn env_parse<T: std::str::FromStr>(name: &str, f: impl FnOnce(T)) -> Result<(), ConfigError>
where
    T::Err: std::fmt::Display,
{
    if let Ok(v) = std::env::var(name) {
        let parsed = v.parse::<T>().map_err(|e| ConfigError::Env {
            name: name.into(),
            message: e.to_string(),
        })?;
        f(parsed);
    }
    Ok(())
}

/// Every `YICHUANG_*` variable the service reads (in [`Config::load`]).
pub const VARIABLES: &[&str] = &[
    "YICHUANG_BIND",
    "YICHUANG_DATABASE_URL",
    "YICHUANG_RULES_DIR",
    "YICHUANG_TOKENS_FILE",
    "YICHUANG_MAX_BODY_BYTES",
    "YICHUANG_WORKERS",
    "YICHUANG_DB_POOL_SIZE",
    "YICHUANG_PG_WRITERS",
    "YICHUANG_DB_TIMEOUT_MS",
    "YICHUANG_DB_STATEMENT_TIMEOUT_MS",
    "YICHUANG_SQLITE_MAX_MB",
    "YICHUANG_RELOAD_POLL_MS",
    "YICHUANG_FLEET_POLL_MS",
    "YICHUANG_SCHEDULER_POLL_MS",
    "YICHUANG_WARNING_PERCENT",
    "YICHUANG_FOLLOWUP_DAYS",
    "YICHUANG_JWT_ISSUER",
    "YICHUANG_JWT_AUDIENCE",
    "YICHUANG_JWT_PUBLIC_KEY_FILE",
    "YICHUANG_JWT_JWKS_FILE",
    "YICHUANG_JWT_LEEWAY_SECS",
    "YICHUANG_RATE_LIMIT_PER_SEC",
    "YICHUANG_RATE_LIMIT_BURST",
    "YICHUANG_AUTH_FAILURES_PER_MIN",
    "YICHUANG_AUTH_FAILURE_BURST",
    "YICHUANG_REQUEST_TIMEOUT_MS",
    "YICHUANG_CLIENT_REQUEST_TIMEOUT_MS",
    "YICHUANG_CLIENT_DISCONNECT_TIMEOUT_MS",
    "YICHUANG_LOG_FORMAT",
    "YICHUANG_CORS_ORIGINS",
    "YICHUANG_OUTBOX_POLL_MS",
    "YICHUANG_OUTBOX_ALERT_SECS",
    "YICHUANG_OUTBOX_KEEP_DAYS",
    "YICHUANG_EXCHANGE_TEMPLATE",
    "YICHUANG_SBLSH_TEMPLATE",
    "YICHUANG_KEY_FILE",
    "YICHUANG_KEYS",
];

/// Variables of the project's tools and tests, not the service's: never reported.
const TOOL_VARIABLES: &[&str] = &[
    "YICHUANG_TEST_PG",
    "YICHUANG_URL",
    "YICHUANG_TOKEN",
    "YICHUANG_BENCH_KEEP",
];

/// Edit distance, for "did you mean".
fn distance(a: &str, b: &str) -> usize {
    let b: Vec<char> = b.chars().collect();
    let mut row: Vec<usize> = (0..=b.len()).collect();
    for (i, ca) in a.chars().enumerate() {
        let mut prev = row[0];
        row[0] = i + 1;
        for (j, cb) in b.iter().enumerate() {
            let cur = row[j + 1];
            row[j + 1] = (prev + usize::from(ca != *cb)).min(row[j] + 1).min(cur + 1);
            prev = cur;
        }
    }
    row[b.len()]
}

/// A `YICHUANG_*` variable the service does not know is an error naming the closest known one:
/// a misspelt `YICHUANG_DATABSE_URL` must not start the service on the default database.
pub fn check_variables<I: IntoIterator<Item = String>>(names: I) -> Result<(), ConfigError> {
    for name in names {
        if !name.starts_with("YICHUANG_")
            || VARIABLES.contains(&name.as_str())
            || TOOL_VARIABLES.contains(&name.as_str())
        {
            continue;
        }
        let closest = VARIABLES
            .iter()
            .min_by_key(|v| distance(&name, v))
            .copied()
            .unwrap_or("YICHUANG_BIND");
        return Err(ConfigError::Env {
            message: format!(
                "unknown variable (did you mean {closest}?); the variables are listed in README.md"
            ),
            name,
        });
    }
    Ok(())
}

impl Config {
    /// Defaults, then the file (if given), then the environment. An unknown `YICHUANG_*`
    /// variable is an error.
    pub fn load(file: Option<&Path>) -> Result<Self, ConfigError> {
        check_variables(std::env::vars_os().filter_map(|(k, _)| k.into_string().ok()))?;
        let mut c = match file {
            Some(p) => {
                let text = std::fs::read_to_string(p).map_err(|source| ConfigError::Read {
                    path: p.display().to_string(),
                    source,
                })?;
                serde_yaml::from_str(&text).map_err(|e| ConfigError::Parse {
                    path: p.display().to_string(),
                    message: e.to_string(),
                })?
            }
            None => Config::default(),
        };
        env_parse::<String>("YICHUANG_BIND", |v| c.bind = v)?;
        env_parse::<String>("YICHUANG_DATABASE_URL", |v| c.database_url = v)?;
        env_parse::<PathBuf>("YICHUANG_RULES_DIR", |v| c.rules_dir = v)?;
        env_parse::<String>("YICHUANG_TOKENS_FILE", |v| c.tokens_file = PathBuf::from(v))?;
        env_parse::<usize>("YICHUANG_MAX_BODY_BYTES", |v| c.max_body_bytes = v)?;
        env_parse::<usize>("YICHUANG_WORKERS", |v| c.workers = Some(v))?;
        env_parse::<u32>("YICHUANG_DB_POOL_SIZE", |v| c.db_pool_size = v)?;
        env_parse::<usize>("YICHUANG_PG_WRITERS", |v| c.pg_writers = v)?;
        env_parse::<u64>("YICHUANG_DB_TIMEOUT_MS", |v| c.db_timeout_ms = v)?;
        env_parse::<u64>("YICHUANG_DB_STATEMENT_TIMEOUT_MS", |v| {
            c.db_statement_timeout_ms = v
        })?;
        env_parse::<u64>("YICHUANG_SQLITE_MAX_MB", |v| c.sqlite_max_mb = v)?;
        env_parse::<u64>("YICHUANG_RELOAD_POLL_MS", |v| c.reload_poll_ms = v)?;
        env_parse::<u64>("YICHUANG_FLEET_POLL_MS", |v| c.fleet_poll_ms = v)?;
        env_parse::<u64>("YICHUANG_SCHEDULER_POLL_MS", |v| c.scheduler_poll_ms = v)?;
        env_parse::<u32>("YICHUANG_WARNING_PERCENT", |v| c.warning_percent = v)?;
        env_parse::<u32>("YICHUANG_FOLLOWUP_DAYS", |v| c.followup_days = v)?;
        env_parse::<String>("YICHUANG_JWT_ISSUER", |v| c.jwt_issuer = Some(v))?;
        env_parse::<String>("YICHUANG_JWT_AUDIENCE", |v| c.jwt_audience = v)?;
        env_parse::<PathBuf>("YICHUANG_JWT_PUBLIC_KEY_FILE", |v| {
            c.jwt_public_key_file = Some(v)
        })?;
        env_parse::<PathBuf>("YICHUANG_JWT_JWKS_FILE", |v| c.jwt_jwks_file = Some(v))?;
        env_parse::<u64>("YICHUANG_JWT_LEEWAY_SECS", |v| c.jwt_leeway_secs = v)?;
        env_parse::<f64>("YICHUANG_RATE_LIMIT_PER_SEC", |v| c.rate_limit_per_sec = v)?;
        env_parse::<u32>("YICHUANG_RATE_LIMIT_BURST", |v| c.rate_limit_burst = v)?;
        env_parse::<u32>("YICHUANG_AUTH_FAILURES_PER_MIN", |v| {
            c.auth_failures_per_min = v
        })?;
        env_parse::<u32>("YICHUANG_AUTH_FAILURE_BURST", |v| c.auth_failure_burst = v)?;
        env_parse::<u64>("YICHUANG_OUTBOX_POLL_MS", |v| c.outbox_poll_ms = v)?;
        env_parse::<u64>("YICHUANG_OUTBOX_ALERT_SECS", |v| c.outbox_alert_secs = v)?;
        env_parse::<u64>("YICHUANG_OUTBOX_KEEP_DAYS", |v| c.outbox_keep_days = v)?;
        env_parse::<PathBuf>("YICHUANG_EXCHANGE_TEMPLATE", |v| c.exchange_template = v)?;
        env_parse::<String>("YICHUANG_SBLSH_TEMPLATE", |v| c.sblsh_template = v)?;
        if let Some(p) = file {
            let beside = p.with_file_name("subscribers.yaml");
            if c.subscribers.is_empty() && beside.is_file() {
                let text =
                    std::fs::read_to_string(&beside).map_err(|source| ConfigError::Read {
                        path: beside.display().to_string(),
                        source,
                    })?;
                let f: SubscribersFile =
                    serde_yaml::from_str(&text).map_err(|e| ConfigError::Parse {
                        path: beside.display().to_string(),
                        message: e.to_string(),
                    })?;
                c.subscribers = f.subscribers;
            }
        }
        env_parse::<u64>("YICHUANG_REQUEST_TIMEOUT_MS", |v| c.request_timeout_ms = v)?;
        env_parse::<u64>("YICHUANG_CLIENT_REQUEST_TIMEOUT_MS", |v| {
            c.client_request_timeout_ms = v
        })?;
        env_parse::<u64>("YICHUANG_CLIENT_DISCONNECT_TIMEOUT_MS", |v| {
            c.client_disconnect_timeout_ms = v
        })?;
        env_parse::<PathBuf>("YICHUANG_KEY_FILE", |v| c.key_file = Some(v))?;
        // Read again by `Keyring::from_settings`; checked here so a broken value stops at once.
        if let Ok(v) = std::env::var("YICHUANG_KEYS") {
            crate::store::crypto::Keyring::parse(&v, "YICHUANG_KEYS").map_err(|e| {
                ConfigError::Env {
                    name: "YICHUANG_KEYS".into(),
                    message: e.to_string(),
                }
            })?;
        }
        if let Ok(v) = std::env::var("YICHUANG_CORS_ORIGINS") {
            c.cors_origins = v
                .split(',')
                .map(str::trim)
                .filter(|o| !o.is_empty())
                .map(str::to_string)
                .collect();
        }
        for o in &c.cors_origins {
            let scheme = o.starts_with("https://") || o.starts_with("http://");
            if o != "*" && (!scheme || o.trim_end_matches('/') != o.as_str() || o.contains(' ')) {
                return Err(ConfigError::Env {
                    name: "cors_origins".into(),
                    message: format!(
                        "'{o}' is not an origin: write scheme and host (and port) without a path, e.g. https://hall.example.gov.cn, or * for any"
                    ),
                });
            }
        }
        if let Ok(v) = std::env::var("YICHUANG_LOG_FORMAT") {
            c.log_format = match v.as_str() {
                "text" => LogFormat::Text,
                "json" => LogFormat::Json,
                other => {
                    return Err(ConfigError::Env {
                        name: "YICHUANG_LOG_FORMAT".into(),
                        message: format!("'{other}' is neither text nor json"),
                    })
                }
            };
        }
        Ok(c)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The defaults documented in README.md and config/yichuang.example.yaml.
    #[test]
    fn documented_defaults_are_current() {
        let example = std::fs::read_to_string(
            Path::new(env!("CARGO_MANIFEST_DIR")).join("config/yichuang.example.yaml"),
        )
        .unwrap();
        let parsed: Config = serde_yaml::from_str(&example).unwrap();
        assert_eq!(parsed, Config::default());
    }

    #[test]
    fn a_misspelt_variable_is_an_error_naming_the_right_one() {
        let err = check_variables(vec!["YICHUANG_DATABSE_URL".to_string()]).unwrap_err();
        let text = err.to_string();
        assert!(text.contains("YICHUANG_DATABSE_URL"), "{text}");
        assert!(
            text.contains("did you mean YICHUANG_DATABASE_URL"),
            "{text}"
        );
        assert!(check_variables(vec![
            "YICHUANG_BIND".to_string(),
            "YICHUANG_TEST_PG".to_string(),
            "PATH".to_string(),
        ])
        .is_ok());
    }

    /// `VARIABLES` lists exactly the names `load` reads.
    #[test]
    fn the_variable_list_is_what_load_reads() {
        let src = include_str!("config.rs");
        let load = &src[src.find("pub fn load(").unwrap()..src.find("mod tests").unwrap()];
        let mut read: Vec<&str> = load
            .match_indices("\"YICHUANG_")
            .map(|(i, _)| {
                let rest = &load[i + 1..];
                &rest[..rest.find('"').unwrap()]
            })
            .collect();
        read.sort_unstable();
        read.dedup();
        let mut listed: Vec<&str> = VARIABLES.to_vec();
        listed.sort_unstable();
        assert_eq!(read, listed);
    }

    #[test]
    fn unknown_keys_are_rejected() {
        let err = serde_yaml::from_str::<Config>("bnid: 0.0.0.0:80\n").unwrap_err();
        assert!(err.to_string().contains("bnid"), "{err}");
    }
}
