//! The catalog registry: the active catalog, the versions open cases are pinned to, the gate
//! every new catalog passes, and publishing a catalog to every instance on the database.

use std::sync::{Arc, Mutex, RwLock};

use super::AppError;
use crate::catalog::{Catalog, CatalogSources, LoadFailure};
use crate::store::{CatalogVersionRow, Store, StoreError};

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
    pub(super) fn new(
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

    pub(super) fn rejected(
        at_ms: i64,
        trigger: &str,
        hash: Option<String>,
        errors: Vec<String>,
    ) -> Self {
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
    /// The registry of `catalog`, activated at startup at `at_ms`.
    pub fn new(catalog: Catalog, at_ms: i64) -> Self {
        Self {
            current: RwLock::new(Arc::new(catalog)),
            pinned: crate::catalog::PinnedVersions::default(),
            activation: Mutex::new(Activation {
                at_ms,
                by: "startup".into(),
            }),
            last_attempt: Mutex::new(None),
            reloading: Mutex::new(()),
        }
    }

    /// One reload at a time: run `f` at the time `now_ms` tells once the others are done, log
    /// a rejection, and record it as the last attempt.
    pub(super) fn one_at_a_time(
        &self,
        trigger: &str,
        now_ms: impl FnOnce() -> i64,
        f: impl FnOnce(i64) -> ReloadAttempt,
    ) -> ReloadAttempt {
        let _one_at_a_time = self.reloading.lock().unwrap_or_else(|p| p.into_inner());
        let result = f(now_ms());
        crate::metrics::reload(trigger, result.outcome.label());
        if result.outcome == ReloadOutcome::Rejected {
            tracing::warn!(trigger, errors = result.errors.len(), first = %result.errors.first().map_or("", String::as_str), "catalog change rejected; the active catalog stays");
        }
        *self.last_attempt.lock().unwrap_or_else(|p| p.into_inner()) = Some(result.clone());
        result
    }

    /// Swap in a new catalog. Requests in flight keep the `Arc` they already hold and finish on
    /// the catalog they started with; the previous version stays available to pinned cases.
    pub(super) fn activate(&self, new: Arc<Catalog>, by: &str, at_ms: i64) {
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
pub(super) fn examples_pass(catalog: &Catalog) -> Result<(), Vec<String>> {
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
