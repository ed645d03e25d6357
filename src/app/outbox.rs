//! Delivery of the outbox to subscribers (issue 15): one thread per subscriber claims the
//! deliveries that may go now (in order per case, leased so that one instance sends an event at
//! a time), writes each in the subscriber's profile, signs it and POSTs it; a 2xx answer marks
//! it delivered, anything else schedules a retry with exponential backoff and jitter, and after
//! `max_attempts` the delivery is dead until resent. At least once: a receiver deduplicates on
//! `X-Yichuang-Event-Id`.
//!
//! HTTP client: `ureq` 3 without default features — blocking (the worker is a plain thread, as
//! the scheduler), small, plain HTTP; `--features https` adds rustls for `https://` URLs.

use std::path::{Path, PathBuf};
use std::sync::{Arc, RwLock};
use std::time::{Duration, Instant, SystemTime};

use hmac::{Hmac, Mac};
use serde::Serialize;
use sha2::Sha256;

use super::App;
use crate::config::{Config, Profile, Subscriber};
use crate::domain::handling::EventKind;
use crate::store::mapping::AsText;
use crate::store::outbox::{Attempt, AttemptOutcome, Claimed, OutboxRoute};
use crate::store::StoreError;

/// Deliveries claimed per round.
const BATCH: i64 = 100;

/// Why the exchange cannot start.
#[derive(Debug, thiserror::Error)]
pub enum ExchangeError {
    #[error("订阅方配置有误 / subscriber {name}: {message}")]
    Subscriber { name: String, message: String },
    #[error("省级报文模板未通过检查 / the provincial template {path} does not pass the gate:\n{}", .errors.join("\n"))]
    Template { path: String, errors: Vec<String> },
}

fn sub_err(name: &str, message: impl Into<String>) -> ExchangeError {
    ExchangeError::Subscriber {
        name: name.to_string(),
        message: message.into(),
    }
}

/// A subscriber ready to send to.
pub struct Target {
    pub name: String,
    pub url: String,
    pub kinds: Option<Vec<EventKind>>,
    pub profile: Profile,
    secret: Vec<u8>,
    pub timeout: Duration,
    pub max_attempts: u32,
    pub backoff_ms: u64,
    pub backoff_max_ms: u64,
    /// Deliveries sent at once (see `Subscriber::concurrency`).
    pub concurrency: usize,
    agent: ureq::Agent,
}

impl std::fmt::Debug for Target {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Target")
            .field("name", &self.name)
            .field("url", &self.url)
            .field("profile", &self.profile)
            .finish_non_exhaustive()
    }
}

impl Target {
    fn from_config(s: &Subscriber, base: &Path) -> Result<Target, ExchangeError> {
        if s.name.trim().is_empty() {
            return Err(sub_err(&s.name, "name must not be empty"));
        }
        if !s.url.starts_with("http://") && !s.url.starts_with("https://") {
            return Err(sub_err(
                &s.name,
                format!("url {:?} is not http(s)://", s.url),
            ));
        }
        if s.url.starts_with("https://") && !cfg!(feature = "https") {
            return Err(sub_err(
                &s.name,
                "https:// needs a build with `--features https` (or a local TLS-terminating proxy on http://)",
            ));
        }
        let secret = match (&s.secret, &s.secret_file) {
            (Some(v), None) => v.trim().as_bytes().to_vec(),
            (None, Some(f)) => {
                let path = if f.is_absolute() {
                    f.clone()
                } else {
                    base.join(f)
                };
                std::fs::read_to_string(&path)
                    .map_err(|e| sub_err(&s.name, format!("secret_file {}: {e}", path.display())))?
                    .trim()
                    .as_bytes()
                    .to_vec()
            }
            _ => {
                return Err(sub_err(
                    &s.name,
                    "set exactly one of secret and secret_file",
                ))
            }
        };
        if secret.len() < 16 {
            return Err(sub_err(&s.name, "the secret must have at least 16 bytes"));
        }
        let kinds = if s.events.iter().any(|e| e == "*") {
            None
        } else if s.events.is_empty() {
            return Err(sub_err(&s.name, "events must list kinds or *"));
        } else {
            let mut kinds = Vec::new();
            for e in &s.events {
                kinds.push(
                    EventKind::from_text(e)
                        .ok_or_else(|| sub_err(&s.name, format!("unknown event kind {e:?}")))?,
                );
            }
            Some(kinds)
        };
        if s.max_attempts == 0 || s.timeout_ms == 0 {
            return Err(sub_err(
                &s.name,
                "max_attempts and timeout_ms must be above 0",
            ));
        }
        if !(1..=32).contains(&s.concurrency) {
            return Err(sub_err(&s.name, "concurrency must be 1 to 32"));
        }
        let concurrency = usize::try_from(s.concurrency).unwrap_or(1);
        let timeout = Duration::from_millis(s.timeout_ms);
        let agent: ureq::Agent = ureq::Agent::config_builder()
            .timeout_global(Some(timeout))
            .max_idle_connections_per_host(concurrency)
            .http_status_as_error(false)
            .max_redirects(0)
            .build()
            .into();
        Ok(Target {
            name: s.name.clone(),
            url: s.url.clone(),
            kinds,
            profile: s.profile,
            secret,
            timeout,
            max_attempts: s.max_attempts,
            backoff_ms: s.backoff_ms.max(1),
            backoff_max_ms: s.backoff_max_ms.max(s.backoff_ms.max(1)),
            concurrency,
            agent,
        })
    }

    /// How long a claim keeps other instances off: long enough for a round of attempts.
    fn lease_ms(&self) -> i64 {
        i64::try_from(self.timeout.as_millis().saturating_mul(4))
            .unwrap_or(i64::MAX)
            .max(60_000)
    }
}

/// The configured subscribers and the provincial profile.
pub struct Exchange {
    pub targets: Vec<Arc<Target>>,
    provincial: Option<crate::app::exchange_profile::ProvincialSource>,
    template: RwLock<Option<Arc<crate::app::exchange_profile::Provincial>>>,
}

impl std::fmt::Debug for Exchange {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Exchange")
            .field("targets", &self.targets)
            .finish_non_exhaustive()
    }
}

impl Exchange {
    /// The subscribers of `config` (secrets read, kinds checked) and, if any uses the provincial
    /// profile, its template through the gate. `config_dir` resolves relative secret files.
    pub fn from_config(config: &Config, config_dir: &Path) -> Result<Exchange, ExchangeError> {
        let mut targets = Vec::new();
        for s in &config.subscribers {
            if targets.iter().any(|t: &Arc<Target>| t.name == s.name) {
                return Err(sub_err(&s.name, "the name is used twice"));
            }
            targets.push(Arc::new(Target::from_config(s, config_dir)?));
        }
        let wants_provincial = targets.iter().any(|t| t.profile == Profile::Provincial);
        let (provincial, template) = if wants_provincial {
            let source = crate::app::exchange_profile::ProvincialSource {
                path: config.exchange_template.clone(),
                sblsh: config.sblsh_template.clone(),
            };
            let t = source
                .load_gated()
                .map_err(|errors| ExchangeError::Template {
                    path: config.exchange_template.display().to_string(),
                    errors,
                })?;
            (Some(source), Some(Arc::new(t)))
        } else {
            (None, None)
        };
        Ok(Exchange {
            targets,
            provincial,
            template: RwLock::new(template),
        })
    }

    /// The store's routes for these subscribers.
    pub fn routes(&self) -> Vec<OutboxRoute> {
        self.targets
            .iter()
            .map(|t| OutboxRoute {
                subscriber: t.name.clone(),
                kinds: t.kinds.clone(),
            })
            .collect()
    }

    /// The provincial template as last gated.
    pub fn provincial(&self) -> Option<Arc<crate::app::exchange_profile::Provincial>> {
        self.template
            .read()
            .unwrap_or_else(|p| p.into_inner())
            .clone()
    }

    /// Load the template file again; it goes live only if it passes the gate. Returns the
    /// reasons when it does not (the previous template stays).
    pub fn reload_template(&self) -> Result<bool, Vec<String>> {
        let Some(source) = &self.provincial else {
            return Ok(false);
        };
        let t = source.load_gated()?;
        let mut cur = self.template.write().unwrap_or_else(|p| p.into_inner());
        let changed = cur.as_ref().is_none_or(|c| c.text() != t.text());
        if changed {
            *cur = Some(Arc::new(t));
        }
        Ok(changed)
    }

    pub fn template_path(&self) -> Option<&PathBuf> {
        self.provincial.as_ref().map(|p| &p.path)
    }
}

/// `X-Yichuang-Signature`: `t=<unix secs>,v1=<hex HMAC-SHA256(secret, "<t>.<body>")>`.
pub fn signature(secret: &[u8], t: u64, body: &[u8]) -> String {
    let mut mac = match Hmac::<Sha256>::new_from_slice(secret) {
        Ok(m) => m,
        // HMAC takes keys of any length; this arm is never taken.
        Err(_) => return format!("t={t},v1="),
    };
    mac.update(t.to_string().as_bytes());
    mac.update(b".");
    mac.update(body);
    let hex: String = mac
        .finalize()
        .into_bytes()
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect();
    format!("t={t},v1={hex}")
}

/// The machine's clock in unix ms (leases and retries; see `store::outbox`).
pub fn wall_ms() -> i64 {
    SystemTime::now()
        .duration_since(SystemTime::UNIX_EPOCH)
        .map_or(0, |d| i64::try_from(d.as_millis()).unwrap_or(i64::MAX))
}

/// When to try again after the `attempts`-th failure: `backoff_ms · 2^(attempts-1)`, at most
/// `backoff_max_ms`, of which a random half (full jitter on the upper half) is waited.
pub fn backoff_ms(base: u64, max: u64, attempts: i64) -> u64 {
    let exp = u32::try_from(attempts.saturating_sub(1).clamp(0, 40)).unwrap_or(40);
    let delay = base.saturating_mul(1u64 << exp).min(max);
    let mut r = [0u8; 8];
    let random = if getrandom::fill(&mut r).is_ok() {
        u64::from_le_bytes(r)
    } else {
        u64::try_from(wall_ms()).unwrap_or(0)
    };
    let half = delay / 2;
    half + random % (delay - half + 1)
}

/// What one round of a subscriber did.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, schemars::JsonSchema)]
pub struct RoundReport {
    pub claimed: usize,
    pub delivered: usize,
    pub failed: usize,
    pub dead: usize,
    pub released: usize,
}

/// The body a subscriber receives for one event.
pub fn body_of(app: &App, ex: &Exchange, t: &Target, c: &Claimed) -> Result<String, String> {
    match t.profile {
        Profile::Native => Ok(c.payload.clone()),
        Profile::Provincial => {
            let Some(p) = ex.provincial() else {
                return Err("no provincial template".into());
            };
            let payload: serde_json::Value =
                serde_json::from_str(&c.payload).map_err(|e| format!("stored payload: {e}"))?;
            let matter = crate::app::exchange_profile::matter_of(app, &payload);
            p.render(&payload, &matter)
        }
    }
}

/// Send one body; `Ok` on a 2xx answer.
fn send(t: &Target, c: &Claimed, body: &str) -> Result<(), String> {
    let now = u64::try_from(wall_ms() / 1000).unwrap_or(0);
    let sig = signature(&t.secret, now, body.as_bytes());
    let sent = t
        .agent
        .post(&t.url)
        .header("Content-Type", "application/json; charset=utf-8")
        .header("X-Yichuang-Event-Id", &c.event_id)
        .header("X-Yichuang-Event-Kind", c.kind.as_text())
        .header("X-Yichuang-Signature", &sig)
        .send(body.as_bytes());
    match sent {
        Ok(mut r) => {
            let status = r.status();
            // Read (a bounded part of) the answer so the connection can be reused.
            let answer = r
                .body_mut()
                .with_config()
                .limit(64 * 1024)
                .read_to_string()
                .unwrap_or_default();
            if status.is_success() {
                Ok(())
            } else {
                let mut snippet: String = answer.chars().take(200).collect();
                if !snippet.is_empty() {
                    snippet.insert_str(0, ": ");
                }
                Err(format!("HTTP {}{snippet}", status.as_u16()))
            }
        }
        Err(e) => Err(e.to_string()),
    }
}

/// One round for one subscriber: claim, send, record. A claim holds at most one delivery per
/// case (the earliest undelivered), so the round's deliveries go out `concurrency` at a time
/// without putting a case's events out of order. After a failure the deliveries of the round not
/// yet sent are given back untried (the receiver is likely down).
pub fn round(app: &App, ex: &Exchange, t: &Target) -> Result<RoundReport, StoreError> {
    use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
    let owner = app.instance();
    let lease = t.lease_ms();
    let claimed = app
        .store
        .outbox_claim(&t.name, wall_ms(), &owner, lease, BATCH)?;
    let mut report = RoundReport {
        claimed: claimed.len(),
        ..RoundReport::default()
    };
    if claimed.is_empty() {
        return Ok(report);
    }
    let started = Instant::now();
    let budget = Duration::from_millis(u64::try_from(lease / 2).unwrap_or(30_000));
    let broken = AtomicBool::new(false);
    let next = AtomicUsize::new(0);
    let attempt = |c: &Claimed| -> AttemptOutcome {
        if broken.load(Ordering::Relaxed) || started.elapsed() > budget {
            return AttemptOutcome::Released;
        }
        match body_of(app, ex, t, c).and_then(|body| send(t, c, &body)) {
            Ok(()) => AttemptOutcome::Delivered,
            Err(error) => {
                broken.store(true, Ordering::Relaxed);
                let attempts = c.attempts + 1;
                let dead = attempts >= i64::from(t.max_attempts);
                if dead {
                    tracing::warn!(subscriber = %t.name, event = %c.event_id, attempts, error = %error, "outbox delivery dead; `yichuang outbox resend` sends it again");
                } else {
                    tracing::debug!(subscriber = %t.name, event = %c.event_id, attempts, error = %error, "outbox delivery failed");
                }
                let wait = backoff_ms(t.backoff_ms, t.backoff_max_ms, attempts);
                AttemptOutcome::Failed {
                    error,
                    retry_at: wall_ms().saturating_add(i64::try_from(wait).unwrap_or(i64::MAX / 2)),
                    dead,
                }
            }
        }
    };
    // Each sender takes the next delivery of the round until none is left.
    let sender = || {
        let mut mine = Vec::new();
        loop {
            let i = next.fetch_add(1, Ordering::Relaxed);
            let Some(c) = claimed.get(i) else {
                return mine;
            };
            mine.push((i, attempt(c)));
        }
    };
    let senders = t.concurrency.clamp(1, claimed.len());
    let mut outcomes: Vec<(usize, AttemptOutcome)> = if senders == 1 {
        sender()
    } else {
        std::thread::scope(|s| {
            let handles: Vec<_> = (0..senders).map(|_| s.spawn(sender)).collect();
            handles
                .into_iter()
                .flat_map(|h| h.join().unwrap_or_default())
                .collect()
        })
    };
    // A delivery whose sender is gone without an outcome is given back untried.
    let mut slots: Vec<AttemptOutcome> = claimed.iter().map(|_| AttemptOutcome::Released).collect();
    for (i, outcome) in outcomes.drain(..) {
        if let Some(slot) = slots.get_mut(i) {
            *slot = outcome;
        }
    }
    let mut done = Vec::with_capacity(claimed.len());
    for (c, outcome) in claimed.iter().zip(slots) {
        match &outcome {
            AttemptOutcome::Delivered => {
                report.delivered += 1;
                crate::metrics::outbox_delivered(&t.name);
            }
            AttemptOutcome::Failed { dead, .. } => {
                report.failed += 1;
                report.dead += usize::from(*dead);
                crate::metrics::outbox_failed(&t.name);
            }
            AttemptOutcome::Released => report.released += 1,
        }
        done.push(Attempt {
            subscriber: c.subscriber.clone(),
            event_id: c.event_id.clone(),
            outcome,
        });
    }
    app.store.outbox_finish(&owner, wall_ms(), &done)?;
    Ok(report)
}

/// Deliver until nothing more can go now (all subscribers); for tests and `outbox deliver`.
pub fn drain(app: &App) -> Result<RoundReport, StoreError> {
    let mut total = RoundReport::default();
    let Some(ex) = app.exchange() else {
        return Ok(total);
    };
    for t in &ex.targets {
        loop {
            let r = round(app, &ex, t)?;
            total.claimed += r.claimed;
            total.delivered += r.delivered;
            total.failed += r.failed;
            total.dead += r.dead;
            total.released += r.released;
            if r.claimed == 0 || r.failed > 0 {
                break;
            }
        }
    }
    Ok(total)
}

/// One delivery thread per subscriber, polling every `outbox_poll_ms` when idle; a thread that
/// watches the provincial template file and the backlog's age. All stop when the app is dropped.
pub fn start_outbox(app: &Arc<App>) {
    let every = app.config.outbox_poll_ms;
    let Some(ex) = app.exchange() else { return };
    if every == 0 || ex.targets.is_empty() {
        return;
    }
    for t in ex.targets.clone() {
        let name = t.name.clone();
        let weak = Arc::downgrade(app);
        let ex = ex.clone();
        let spawned = std::thread::Builder::new()
            .name(format!("yichuang-outbox-{}", t.name))
            .spawn(move || loop {
                let Some(app) = weak.upgrade() else { return };
                let busy = match round(&app, &ex, &t) {
                    Ok(r) => r.claimed > 0 && r.failed == 0,
                    Err(e) => {
                        tracing::warn!(subscriber = %t.name, error = %e, "outbox round failed");
                        false
                    }
                };
                drop(app);
                if !busy {
                    std::thread::sleep(Duration::from_millis(every));
                }
            });
        if let Err(e) = spawned {
            tracing::warn!(error = %e, subscriber = %name, "outbox worker not started");
        }
    }
    let weak = Arc::downgrade(app);
    let alert_after = i64::try_from(app.config.outbox_alert_secs)
        .unwrap_or(i64::MAX / 1000)
        .saturating_mul(1000);
    let _ = std::thread::Builder::new()
        .name("yichuang-outbox-watch".into())
        .spawn(move || {
            let mut last_alert = Instant::now() - Duration::from_secs(3600);
            loop {
                std::thread::sleep(Duration::from_millis(every.max(1000)));
                let Some(app) = weak.upgrade() else { return };
                if let Some(ex) = app.exchange() {
                    if let Err(errors) = ex.reload_template() {
                        if last_alert.elapsed() > Duration::from_secs(60) {
                            tracing::warn!(first = %errors.first().map_or("", String::as_str), "the changed provincial template does not pass the gate; the previous one stays");
                        }
                    }
                }
                if last_alert.elapsed() > Duration::from_secs(60) {
                    if let Ok(backlog) = app.store.outbox_backlog() {
                        let now = app.clock.now_ms();
                        for b in backlog {
                            if let Some(at) = b.oldest_at {
                                if now - at > alert_after {
                                    last_alert = Instant::now();
                                    tracing::warn!(subscriber = %b.subscriber, undelivered = b.undelivered, dead = b.dead, oldest_secs = (now - at) / 1000, "outbox: events undelivered for longer than outbox_alert_secs");
                                }
                            }
                        }
                    }
                }
            }
        });
}

/// Deletes delivered outbox events older than `outbox_keep_days` (see
/// [`crate::store::Store::outbox_prune`]); returns what went.
pub fn prune(app: &App) -> Result<crate::store::outbox::Pruned, crate::store::StoreError> {
    let before = keep_cutoff(app.clock.now_ms(), app.config.outbox_keep_days);
    app.store.outbox_prune(before, crate::store::MAX_PAGE)
}

/// The moment `days` days before `now_ms` (unix ms): events that occurred before it may go.
pub fn keep_cutoff(now_ms: i64, days: u64) -> i64 {
    let days = i64::try_from(days).unwrap_or(i64::MAX / 86_400_000);
    now_ms.saturating_sub(days.saturating_mul(86_400_000))
}

/// Prunes the outbox a minute after the start and then hourly, subscribers or not (the events
/// are written either way), unless `outbox_keep_days` is 0.
pub fn start_outbox_pruning(app: &Arc<App>) {
    if app.config.outbox_keep_days == 0 {
        return;
    }
    let weak = Arc::downgrade(app);
    let spawned = std::thread::Builder::new()
        .name("yichuang-outbox-prune".into())
        .spawn(move || {
            let mut wait = Duration::from_secs(60);
            loop {
                std::thread::sleep(wait);
                wait = Duration::from_secs(3600);
                let Some(app) = weak.upgrade() else { return };
                match prune(&app) {
                    Ok(p) if p.events > 0 => {
                        tracing::info!(
                            events = p.events,
                            deliveries = p.deliveries,
                            "outbox: delivered events past outbox_keep_days deleted"
                        );
                    }
                    Ok(_) => {}
                    Err(e) => tracing::warn!(error = %e, "outbox pruning failed"),
                }
            }
        });
    if let Err(e) = spawned {
        tracing::warn!(error = %e, "outbox pruning not started");
    }
}

/// The outbox gauges of every configured subscriber, for `/metrics`.
pub fn gauges(app: &App) -> Vec<crate::metrics::OutboxGauge> {
    let Some(ex) = app.exchange() else {
        return Vec::new();
    };
    let backlog = match app.store.outbox_backlog() {
        Ok(b) => b,
        Err(e) => {
            tracing::warn!(error = %e, "outbox backlog unavailable for /metrics");
            return Vec::new();
        }
    };
    let now = app.clock.now_ms();
    let limit = app.config.outbox_alert_secs as f64;
    ex.targets
        .iter()
        .map(|t| {
            let b = backlog.iter().find(|b| b.subscriber == t.name);
            let age = b
                .and_then(|b| b.oldest_at)
                .map_or(0.0, |at| ((now - at).max(0) as f64) / 1000.0);
            crate::metrics::OutboxGauge {
                subscriber: t.name.clone(),
                undelivered: b.map_or(0, |b| b.undelivered),
                dead: b.map_or(0, |b| b.dead),
                oldest_age_secs: age,
                alert: age > limit,
            }
        })
        .collect()
}
