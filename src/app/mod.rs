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

use std::sync::atomic::{AtomicI64, AtomicU64, Ordering};
use std::sync::{Arc, Mutex, RwLock};

use chrono::{DateTime, NaiveDate, Utc};

use crate::auth::Users;
use crate::catalog::{Catalog, CatalogSources, LoadFailure};
use crate::config::Config;
use crate::decide::DecideError;
use crate::error_code::ErrorCode;
use crate::store::{CatalogVersionRow, Store, StoreError, StoreOptions};

/// The time source. Deadlines are computed on China Standard Time dates.
pub trait Clock: Send + Sync {
    fn now_ms(&self) -> i64;
    /// Today's date in China Standard Time (UTC+8, no daylight saving).
    fn today(&self) -> NaiveDate {
        let utc = DateTime::<Utc>::from_timestamp_millis(self.now_ms()).unwrap_or_default();
        (utc + chrono::Duration::hours(8)).date_naive()
    }
}

/// The machine's clock.
#[derive(Debug, Default)]
pub struct SystemClock;

impl Clock for SystemClock {
    fn now_ms(&self) -> i64 {
        Utc::now().timestamp_millis()
    }
}

/// A clock tests set by hand.
#[derive(Debug, Default)]
pub struct ManualClock {
    ms: AtomicI64,
}

impl ManualClock {
    /// A clock at 09:00 China time on `day`.
    pub fn at(day: NaiveDate) -> Self {
        let c = Self::default();
        c.set_day(day);
        c
    }
    pub fn set_day(&self, day: NaiveDate) {
        let ms = day
            .and_hms_opt(1, 0, 0)
            .map_or(0, |t| t.and_utc().timestamp_millis());
        self.ms.store(ms, Ordering::SeqCst);
    }
}

impl ManualClock {
    /// Move the clock on by `ms` milliseconds.
    pub fn advance_ms(&self, ms: i64) {
        self.ms.fetch_add(ms, Ordering::SeqCst);
    }
}

impl Clock for ManualClock {
    fn now_ms(&self) -> i64 {
        self.ms.load(Ordering::SeqCst)
    }
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

/// One attempt to load and activate a changed catalog.
#[derive(
    Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize, schemars::JsonSchema,
)]
pub struct ReloadAttempt {
    pub at_ms: i64,
    /// `startup`, `watch`, `admin` or `sighup`.
    pub trigger: String,
    pub outcome: ReloadOutcome,
    /// Content hash of the catalog that was tried.
    pub hash: Option<String>,
    /// Why it was rejected: every error with file:line:column, and every failing example.
    pub errors: Vec<String>,
}

/// What a reload attempt did.
#[derive(
    Debug, Clone, Copy, PartialEq, Eq, serde::Serialize, serde::Deserialize, schemars::JsonSchema,
)]
#[serde(rename_all = "snake_case")]
pub enum ReloadOutcome {
    /// The catalog passed the gate and went live.
    Activated,
    /// The rules directory is the active catalog already.
    Unchanged,
    /// The catalog failed the gate; the active catalog stays.
    Rejected,
}

impl ReloadOutcome {
    /// The label `/metrics` uses (the same word as in JSON).
    pub fn label(self) -> &'static str {
        match self {
            Self::Activated => "activated",
            Self::Unchanged => "unchanged",
            Self::Rejected => "rejected",
        }
    }
}

impl ReloadAttempt {
    fn new(
        at_ms: i64,
        trigger: &str,
        outcome: ReloadOutcome,
        hash: Option<String>,
        errors: Vec<String>,
    ) -> Self {
        Self {
            at_ms,
            trigger: trigger.to_string(),
            outcome,
            hash,
            errors,
        }
    }

    fn rejected(at_ms: i64, trigger: &str, hash: Option<String>, errors: Vec<String>) -> Self {
        Self::new(at_ms, trigger, ReloadOutcome::Rejected, hash, errors)
    }
}

/// When and by what the active catalog was activated.
#[derive(
    Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize, schemars::JsonSchema,
)]
pub struct Activation {
    pub at_ms: i64,
    pub by: String,
}

/// The active catalog and the versions open cases are pinned to.
pub struct CatalogRegistry {
    current: RwLock<Arc<Catalog>>,
    /// Bounded by count and bytes (least recently used out); reloaded from the database.
    pinned: crate::catalog::PinnedVersions,
    activation: Mutex<Activation>,
    last_attempt: Mutex<Option<ReloadAttempt>>,
    /// One reload at a time (watcher, admin endpoint, SIGHUP).
    reloading: Mutex<()>,
}

impl CatalogRegistry {
    pub fn new(catalog: Catalog) -> Self {
        Self {
            current: RwLock::new(Arc::new(catalog)),
            pinned: crate::catalog::PinnedVersions::default(),
            activation: Mutex::new(Activation {
                at_ms: 0,
                by: "startup".into(),
            }),
            last_attempt: Mutex::new(None),
            reloading: Mutex::new(()),
        }
    }

    /// Swap in a new catalog. Requests in flight keep the `Arc` they already hold and finish on
    /// the catalog they started with; the previous version stays available to pinned cases.
    fn activate(&self, new: Arc<Catalog>, by: &str, at_ms: i64) {
        let old = {
            let mut cur = self.current.write().unwrap_or_else(|p| p.into_inner());
            std::mem::replace(&mut *cur, new)
        };
        let hash = old.hash.clone();
        self.pinned.insert(&hash, old);
        *self.activation.lock().unwrap_or_else(|p| p.into_inner()) = Activation {
            at_ms,
            by: by.to_string(),
        };
    }

    pub fn activation(&self) -> Activation {
        self.activation
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .clone()
    }

    pub fn last_attempt(&self) -> Option<ReloadAttempt> {
        self.last_attempt
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .clone()
    }

    /// The catalog new intakes are assessed under.
    pub fn current(&self) -> Arc<Catalog> {
        match self.current.read() {
            Ok(c) => c.clone(),
            Err(poisoned) => poisoned.into_inner().clone(),
        }
    }

    /// The exact catalog version a case was assessed under: the active one, one in memory, or
    /// the stored files of that version.
    pub fn by_hash(&self, store: &Store, hash: &str) -> Result<Arc<Catalog>, AppError> {
        let current = self.current();
        if current.hash == hash {
            return Ok(current);
        }
        // Loaded outside the cache's lock; a version evicted earlier is loaded again.
        self.pinned.get_or_load(hash, || {
            let row = store
                .catalog_version(hash)?
                .ok_or_else(|| AppError::CatalogVersion {
                    hash: hash.to_string(),
                    message: "not stored".into(),
                })?;
            let files = serde_json::from_str(&row.files).map_err(|e| AppError::CatalogVersion {
                hash: hash.to_string(),
                message: e.to_string(),
            })?;
            let catalog = Catalog::load(CatalogSources { files }).map_err(|e: LoadFailure| {
                AppError::CatalogVersion {
                    hash: hash.to_string(),
                    message: e.to_string(),
                }
            })?;
            Ok(Arc::new(catalog))
        })
    }
}

/// The gate every new catalog passes before it goes live: it loads (parse, validate, compile,
/// templates included) with no error, every golden example passes, and every notice kind of
/// every golden example and every service guide renders with its templates. Returns the catalog
/// or every reason.
pub fn gate(sources: CatalogSources) -> Result<Catalog, Vec<String>> {
    let catalog = Catalog::load(sources)
        .map_err(|f| f.errors().map(ToString::to_string).collect::<Vec<_>>())?;
    examples_pass(&catalog)?;
    let unrendered = crate::authoring::render_samples(&catalog);
    if !unrendered.is_empty() {
        return Err(unrendered);
    }
    Ok(catalog)
}

/// Every golden example of a loaded catalog passes, or every failure in words.
fn examples_pass(catalog: &Catalog) -> Result<(), Vec<String>> {
    let failures: Vec<String> = crate::authoring::run_examples(catalog)
        .into_iter()
        .filter(|r| !r.passed())
        .map(|r| {
            let why = r.error.clone().unwrap_or_else(|| r.differences.join("; "));
            format!(
                "{} [{}] 样例“{}”未通过 / example failed: {why}",
                r.file, r.matter, r.name
            )
        })
        .collect();
    if failures.is_empty() {
        Ok(())
    } else {
        Err(failures)
    }
}

/// Why `publish` did not publish.
#[derive(Debug, thiserror::Error)]
pub enum PublishError {
    #[error("{0}")]
    Read(#[from] crate::catalog::SourceError),
    #[error("目录未通过检查 / the catalog does not pass the gate:\n{}", .0.join("\n"))]
    Rejected(Vec<String>),
    #[error(transparent)]
    Store(#[from] StoreError),
}

/// `yichuang rules publish`: check a catalog directory through the gate, store it and make it
/// the active version for every instance on the database.
pub fn publish(
    store: &Store,
    dir: &std::path::Path,
    by: &str,
    now_ms: i64,
) -> Result<(String, String), PublishError> {
    let catalog = gate(CatalogSources::read_dir(dir)?).map_err(PublishError::Rejected)?;
    store_catalog_version(store, &catalog, by, now_ms)?;
    store.record_activation(&catalog.hash, by, now_ms)?;
    Ok((catalog.hash.clone(), catalog.manifest.version.clone()))
}

/// Store a catalog version (content-addressed) so cases can be replayed under it later.
pub fn store_catalog_version(
    store: &Store,
    catalog: &Catalog,
    by: &str,
    now_ms: i64,
) -> Result<(), StoreError> {
    let files = serde_json::to_string(&catalog.sources.files)
        .map_err(|e| StoreError::Query(e.to_string()))?;
    store.save_catalog_version(&CatalogVersionRow {
        hash: catalog.hash.clone(),
        version: catalog.manifest.version.clone(),
        name: catalog.manifest.name.clone(),
        files,
        created_at: now_ms,
        activated_at: Some(now_ms),
        activated_by: Some(by.to_string()),
    })
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

/// What the rules directory looks like now: each file's path, size and modification time.
fn fingerprint(dir: &std::path::Path) -> Vec<(std::path::PathBuf, u64, std::time::SystemTime)> {
    let mut out = Vec::new();
    let mut pending = vec![dir.to_path_buf()];
    while let Some(d) = pending.pop() {
        let Ok(entries) = std::fs::read_dir(&d) else {
            continue;
        };
        for e in entries.flatten() {
            let path = e.path();
            let Ok(meta) = e.metadata() else { continue };
            if meta.is_dir() {
                pending.push(path);
            } else {
                let modified = meta.modified().unwrap_or(std::time::UNIX_EPOCH);
                out.push((path, meta.len(), modified));
            }
        }
    }
    out.sort();
    out
}

/// Watch the rules directory and reload when it changes. A burst of file events (an editor
/// saving, a deploy copying many files) merges into one reload: a change is applied only once
/// the directory looked the same at two polls in a row. Stops when the app is dropped.
pub fn start_watcher(app: &Arc<App>) {
    let every = app.config.reload_poll_ms;
    if every == 0 {
        return;
    }
    let weak = Arc::downgrade(app);
    let dir = app.config.rules_dir.clone();
    let spawned = std::thread::Builder::new()
        .name("yichuang-rules-watch".into())
        .spawn(move || {
            let mut applied = fingerprint(&dir);
            let mut pending = None;
            loop {
                std::thread::sleep(std::time::Duration::from_millis(every));
                let Some(app) = weak.upgrade() else { return };
                let now = fingerprint(&dir);
                if now == applied {
                    pending = None;
                } else if pending.as_ref() == Some(&now) {
                    app.reload("watch");
                    applied = now;
                    pending = None;
                } else {
                    pending = Some(now);
                }
            }
        });
    if let Err(e) = spawned {
        tracing::warn!(error = %e, "rules directory not watched; use the reload endpoint or SIGHUP");
    }
}

/// Follow the version published to the database (`rules publish` / `rules activate`): every
/// instance on one database converges to the latest activation within `fleet_poll_ms`.
pub fn start_fleet_sync(app: &Arc<App>) {
    let every = app.config.fleet_poll_ms;
    if every == 0 {
        return;
    }
    let weak = Arc::downgrade(app);
    let spawned = std::thread::Builder::new()
        .name("yichuang-fleet-sync".into())
        .spawn(move || {
            let mut seen: Option<i64> = None;
            loop {
                std::thread::sleep(std::time::Duration::from_millis(every));
                let Some(app) = weak.upgrade() else { return };
                match app.store.active_catalog() {
                    Ok(Some(active)) if seen != Some(active.id) => {
                        // Each activation is tried once; a rejected one stays rejected until a
                        // newer activation appears (the status endpoint shows why).
                        seen = Some(active.id);
                        app.follow_published(&active.hash);
                    }
                    Ok(_) => {}
                    Err(e) => {
                        tracing::warn!(error = %e, "cannot read the published catalog version")
                    }
                }
            }
        });
    if let Err(e) = spawned {
        tracing::warn!(error = %e, "fleet sync not started");
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
        let registry = CatalogRegistry::new(catalog);
        registry
            .activation
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .at_ms = clock.now_ms();
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
        let _one_at_a_time = self
            .registry
            .reloading
            .lock()
            .unwrap_or_else(|p| p.into_inner());
        let result = f(self.clock.now_ms());
        crate::metrics::reload(trigger, result.outcome.label());
        if result.outcome == ReloadOutcome::Rejected {
            tracing::warn!(trigger, errors = result.errors.len(), first = %result.errors.first().map_or("", String::as_str), "catalog change rejected; the active catalog stays");
        }
        *self
            .registry
            .last_attempt
            .lock()
            .unwrap_or_else(|p| p.into_inner()) = Some(result.clone());
        result
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
        let ms_of_day = (self.clock.now_ms() + 8 * 3_600_000).rem_euclid(86_400_000);
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
