//! Application services: intake, supplements and reads, with transactions, the clock and the
//! catalog registry. Everything here is synchronous; the HTTP layer runs it on blocking threads.

pub mod access;
pub mod exchange_profile;
pub mod handling;
pub mod intake;
pub mod outbox;
pub mod personal;
pub mod replay;
pub mod scheduler;
pub mod supervise;

mod clock;
mod registry;
mod watch;

pub use clock::{Clock, ManualClock, SystemClock};
pub use registry::{
    gate, publish, store_catalog_version, Activation, CatalogRegistry, PublishError, ReloadAttempt,
    ReloadOutcome,
};
pub use watch::{start_fleet_sync, start_watcher};

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, RwLock};

use crate::auth::Users;
use crate::catalog::{Catalog, CatalogSources};
use crate::config::Config;
use crate::decide::DecideError;
use crate::error_code::ErrorCode;
use crate::store::{Store, StoreError, StoreOptions};
use registry::examples_pass;

/// A value as the JSON text the store keeps.
pub(crate) fn to_json<T: serde::Serialize>(v: &T) -> Result<String, AppError> {
    serde_json::to_string(v).map_err(|e| AppError::Corrupt(e.to_string()))
}

/// Errors of the application layer; the HTTP layer maps each to a status and a stable code.
#[derive(Debug, thiserror::Error)]
pub enum AppError {
    #[error("{message}")]
    Invalid {
        code: ErrorCode,
        message: String,
        details: serde_json::Value,
    },
    #[error("{0}")]
    NotFound(String),
    #[error("{0}")]
    Forbidden(String),
    #[error("{0}")]
    Conflict(String),
    #[error(transparent)]
    Decide(#[from] DecideError),
    #[error(transparent)]
    Store(#[from] StoreError),
    #[error("catalog version {hash} cannot be loaded: {message}")]
    CatalogVersion { hash: String, message: String },
    #[error("stored data is unreadable: {0}")]
    Corrupt(String),
    /// A notice or guide template of the catalog did not render (the gate renders every kind
    /// of every golden example, so this is a notice unlike any example).
    #[error(transparent)]
    Template(#[from] crate::print::TemplateError),
}

impl AppError {
    pub fn invalid(code: ErrorCode, message: impl Into<String>) -> Self {
        Self::Invalid {
            code,
            message: message.into(),
            details: serde_json::Value::Null,
        }
    }
}

/// The service could not start.
#[derive(Debug, thiserror::Error)]
pub enum StartError {
    #[error("规则目录无法加载 / the rule catalog does not load:\n{0}")]
    Catalog(String),
    #[error("数据库无法打开 / the database cannot be opened: {0}")]
    Store(#[from] StoreError),
    #[error("用户令牌文件有误 / the tokens file is unusable: {0}")]
    Users(#[from] crate::auth::AuthConfigError),
    #[error(transparent)]
    Exchange(#[from] outbox::ExchangeError),
    #[error("个人信息密钥有误 / the personal-data keys are unusable: {0}")]
    Keys(#[from] crate::store::crypto::KeyError),
}

/// Load the catalog (through the gate: no error, every example passes), open the store (running
/// migrations), record the catalog version and load the users: everything `serve` and the tests
/// need before binding a port.
pub fn start(config: Config, clock: Arc<dyn Clock>) -> Result<App, StartError> {
    let catalog = Catalog::load_dir(&config.rules_dir).map_err(|f| {
        StartError::Catalog(
            f.diagnostics
                .iter()
                .map(ToString::to_string)
                .collect::<Vec<_>>()
                .join("\n"),
        )
    })?;
    // The same gate as a reload: a catalog whose golden examples fail does not go live at start
    // either (a script that runs away on its own example, say).
    examples_pass(&catalog).map_err(|failures| StartError::Catalog(failures.join("\n")))?;
    let (_, covered_until) = catalog.calendar.coverage();
    let today = clock.today();
    if (covered_until - today).num_days() < 90 {
        tracing::warn!(
            %covered_until,
            "工作日历仅发布至 {covered_until}；此后的期限将标注为无法精确计算，请在国务院公布次年安排后添加 calendar/<年>.yaml"
        );
    }
    for w in &catalog.warnings {
        tracing::warn!("{w}");
    }
    let keys = crate::store::crypto::Keyring::from_settings(config.key_file.as_deref())?;
    match &keys {
        Some(k) => tracing::info!(
            active = k.active(),
            keys = k.key_ids().len(),
            "personal data is encrypted at rest (AES-256-GCM)"
        ),
        None => tracing::warn!(
            "未配置个人信息密钥（key_file / YICHUANG_KEY_FILE / YICHUANG_KEYS）：姓名、身份证号、申请表和文书内容将以明文存储，仅可用于开发和演示 / no personal-data keys: personal data is stored in PLAIN TEXT (development only; see docs/personal-data.md)"
        ),
    }
    let store = Store::open(
        &config.database_url,
        StoreOptions {
            pool_size: config.db_pool_size,
            connect_timeout: std::time::Duration::from_millis(config.db_timeout_ms),
            write_timeout: std::time::Duration::from_millis(config.db_timeout_ms),
            statement_timeout: (config.db_statement_timeout_ms > 0)
                .then(|| std::time::Duration::from_millis(config.db_statement_timeout_ms)),
            sqlite_max_bytes: (config.sqlite_max_mb > 0)
                .then(|| config.sqlite_max_mb.saturating_mul(1 << 20)),
            group_commit: true,
            pg_writers: config.pg_writers,
            keys: keys.map(std::sync::Arc::new),
        },
    )?;
    store_catalog_version(&store, &catalog, "startup", clock.now_ms())?;
    let users = Users::load(&config.tokens_file, &catalog.org)?
        .with_signed_tokens(crate::auth::SignedTokens::from_config(&config)?);
    tracing::info!(
        catalog = %catalog.short_hash(),
        version = %catalog.manifest.version,
        matters = catalog.matters.len(),
        users = users.len(),
        "catalog loaded"
    );
    warn_development_tokens(&users);
    let exchange = outbox::Exchange::from_config(&config, std::path::Path::new("."))?;
    store.set_outbox_routes(exchange.routes());
    let app = App::new(config, catalog, store, users, clock);
    app.set_exchange(exchange);
    scheduler::record_calendar_of_an_empty_start(&app);
    Ok(app)
}

/// A loud warning while users have the published development tokens (`dev-<id>`).
fn warn_development_tokens(users: &Users) {
    let dev = users.development_tokens();
    if !dev.is_empty() {
        tracing::warn!(
            users = dev.len(),
            first = %dev[0],
            "development tokens in use: anyone who read the README can sign in as these users; give each a token of its own (`yichuang token new`) before the hall opens"
        );
    }
}

/// Everything the services share.
pub struct App {
    pub config: Config,
    pub registry: CatalogRegistry,
    pub store: Store,
    /// The tokens file as last loaded; `reload_users` swaps it (SIGHUP).
    users: std::sync::RwLock<Arc<Users>>,
    pub clock: Arc<dyn Clock>,
    /// The calendar the open cases were last dated on (by the scheduler's sweep).
    pub(crate) dated_on: std::sync::Mutex<Option<Arc<crate::domain::calendar::Calendar>>>,
    ids: AtomicU64,
    id_seed: u64,
    /// The subscribers the outbox delivers to (see `outbox`).
    exchange: RwLock<Option<Arc<outbox::Exchange>>>,
}

impl App {
    pub fn new(
        config: Config,
        catalog: Catalog,
        store: Store,
        users: Users,
        clock: Arc<dyn Clock>,
    ) -> Self {
        use std::hash::{BuildHasher, Hasher};
        let mut h = std::collections::hash_map::RandomState::new().build_hasher();
        h.write_i64(clock.now_ms());
        h.write_u32(std::process::id());
        crate::metrics::install();
        let registry = CatalogRegistry::new(catalog, clock.now_ms());
        Self {
            config,
            registry,
            store,
            users: std::sync::RwLock::new(Arc::new(users)),
            clock,
            dated_on: std::sync::Mutex::new(None),
            ids: AtomicU64::new(0),
            id_seed: h.finish(),
            exchange: RwLock::new(None),
        }
    }

    /// The subscribers and their profiles (none until `start` or `set_exchange`).
    pub fn exchange(&self) -> Option<Arc<outbox::Exchange>> {
        self.exchange
            .read()
            .unwrap_or_else(|p| p.into_inner())
            .clone()
    }

    /// Deliver to these subscribers: new events get their deliveries from the next commit on.
    pub fn set_exchange(&self, ex: outbox::Exchange) {
        self.store.set_outbox_routes(ex.routes());
        *self.exchange.write().unwrap_or_else(|p| p.into_inner()) = Some(Arc::new(ex));
    }

    /// The users of the tokens file (and the signed-token verifier), as last loaded.
    pub fn users(&self) -> Arc<Users> {
        self.users.read().unwrap_or_else(|p| p.into_inner()).clone()
    }

    /// Read the tokens file again (and the signed-token keys) and use it from the next request:
    /// users added or revoked take effect without a restart. A file that does not load leaves
    /// the users as they were.
    pub fn reload_users(&self) -> Result<usize, StartError> {
        let org = &self.registry.current().org;
        let users = Users::load(&self.config.tokens_file, org)?
            .with_signed_tokens(crate::auth::SignedTokens::from_config(&self.config)?);
        warn_development_tokens(&users);
        let n = users.len();
        *self.users.write().unwrap_or_else(|p| p.into_inner()) = Arc::new(users);
        tracing::info!(users = n, "tokens file reloaded");
        Ok(n)
    }

    /// Load the rules directory again and activate it if it differs from the active catalog and
    /// passes the gate: it parses, validates and compiles (`Catalog::load`) and every golden
    /// example passes. Otherwise the active catalog stays and the attempt records why.
    pub fn reload(&self, trigger: &str) -> ReloadAttempt {
        self.attempt(trigger, |at_ms| {
            let sources = match CatalogSources::read_dir(&self.config.rules_dir) {
                Ok(s) => s,
                Err(e) => {
                    return ReloadAttempt::rejected(at_ms, trigger, None, vec![e.to_string()])
                }
            };
            let hash = sources.content_hash();
            if hash == self.registry.current().hash {
                return ReloadAttempt::new(
                    at_ms,
                    trigger,
                    ReloadOutcome::Unchanged,
                    Some(hash),
                    Vec::new(),
                );
            }
            match gate(sources) {
                Err(errors) => ReloadAttempt::rejected(at_ms, trigger, Some(hash), errors),
                Ok(catalog) => {
                    if let Err(e) = store_catalog_version(&self.store, &catalog, trigger, at_ms) {
                        let why = format!("目录版本无法保存 / cannot store the version: {e}");
                        return ReloadAttempt::rejected(at_ms, trigger, Some(hash), vec![why]);
                    }
                    self.go_live(Arc::new(catalog), trigger, at_ms)
                }
            }
        })
    }

    /// Follow the version published to the database (a fleet): load it by its hash, pass it
    /// through the same gate, activate it.
    pub fn follow_published(&self, hash: &str) -> ReloadAttempt {
        const TRIGGER: &str = "fleet";
        self.attempt(TRIGGER, |at_ms| {
            if self.registry.current().hash == hash {
                return ReloadAttempt::new(
                    at_ms,
                    TRIGGER,
                    ReloadOutcome::Unchanged,
                    Some(hash.into()),
                    Vec::new(),
                );
            }
            let rejected =
                |errors| ReloadAttempt::rejected(at_ms, TRIGGER, Some(hash.into()), errors);
            match self.registry.by_hash(&self.store, hash) {
                Err(e) => rejected(vec![e.to_string()]),
                Ok(catalog) => match examples_pass(&catalog) {
                    Err(errors) => rejected(errors),
                    Ok(()) => self.go_live(catalog, TRIGGER, at_ms),
                },
            }
        })
    }

    /// One reload at a time: run it, log a rejection, and record it as the last attempt.
    fn attempt(&self, trigger: &str, f: impl FnOnce(i64) -> ReloadAttempt) -> ReloadAttempt {
        self.registry
            .one_at_a_time(trigger, || self.clock.now_ms(), f)
    }

    /// Activate a catalog that passed the gate.
    fn go_live(&self, catalog: Arc<Catalog>, trigger: &str, at_ms: i64) -> ReloadAttempt {
        let hash = catalog.hash.clone();
        tracing::info!(catalog = %catalog.short_hash(), version = %catalog.manifest.version, trigger, "catalog activated");
        self.registry.activate(catalog, trigger, at_ms);
        ReloadAttempt::new(
            at_ms,
            trigger,
            ReloadOutcome::Activated,
            Some(hash),
            Vec::new(),
        )
    }

    /// This instance's name in leases and records (process id and a random tag).
    pub fn instance(&self) -> String {
        format!("{}-{:08x}", std::process::id(), self.id_seed & 0xffff_ffff)
    }

    /// A new unique id, `<prefix>-<yyyymmdd>-<ms of day><counter><process tag>`: ordered by time
    /// (so index inserts append instead of scattering), unique across instances by the random
    /// per-process tag.
    pub fn new_id(&self, prefix: &str) -> String {
        let n = self.ids.fetch_add(1, Ordering::Relaxed) % 1_000_000;
        let ms_of_day = crate::domain::china_time::ms_of_day(self.clock.now_ms());
        // 48 random bits: another case's id says nothing about the next one (ids sort by time
        // within a day, the counter keeps them unique within one instance).
        let mut random = [0u8; 6];
        if getrandom::fill(&mut random).is_err() {
            // No entropy source: fall back to the instance's seed (unique, not unguessable).
            random.copy_from_slice(&self.id_seed.to_le_bytes()[..6]);
        }
        let random: String = random.iter().map(|b| format!("{b:02x}")).collect();
        format!(
            "{prefix}-{}-{ms_of_day:08}{n:06}{random}",
            self.clock.today().format("%Y%m%d")
        )
    }
}
