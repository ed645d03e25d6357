//! The deadline scheduler: finds due items whose time has come and carries each out once.
//!
//! Exactly once, also after downtime and with several instances: an instance leases a batch of
//! due items (PostgreSQL: `FOR UPDATE SKIP LOCKED`, so instances take different items), and the
//! transition commits together with "this item is done", guarded by `state = 'pending'`. An item
//! whose lease ran out (its instance died) is taken again; if it was in fact carried out, the
//! guard makes the second attempt a no-op.

use std::sync::Arc;

use serde::Serialize;

use super::{handling, App, AppError};
use crate::store::mapping::AsText;
use crate::store::StoreError;

/// Due items leased per round.
const BATCH: i64 = 200;
/// How long a lease keeps other instances off an item.
const LEASE_MS: i64 = 60_000;

/// What one sweep did.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, schemars::JsonSchema)]
pub struct SweepReport {
    /// Due items taken.
    pub claimed: usize,
    /// Items carried out with an effect (a reminder, escalation, deemed approval, lapse).
    pub fired: usize,
    /// Items that had nothing left to do (the step or case had moved on) and are closed.
    pub closed: usize,
    /// Items another instance carried out first.
    pub taken_by_others: usize,
    /// Items that failed; they stay pending and are retried after their lease.
    pub failed: usize,
    /// Cases whose deadline dates a newly published calendar set or moved (the first sweep
    /// after a calendar change visits every open case; a start on the calendar the database's
    /// open cases were last dated on visits none).
    pub dated: usize,
    /// Open cases that pass visited.
    pub dating_visited: usize,
    /// What was done, as `case_id kind:policy`.
    pub actions: Vec<String>,
}

/// At start: when the database records no calendar its open cases were dated on and holds no
/// open case, there is nothing to date, so this start's calendar is recorded as that calendar.
/// Without it the first sweep would visit every case taken since the start (each was dated at
/// intake on this same calendar), and on a busy first second keep finding new ones while it
/// pages through them. Anything else is left to the sweep; a failure here only logs.
pub(crate) fn record_calendar_of_an_empty_start(app: &App) {
    let calendar = app.registry.current().calendar.clone();
    let recorded = || -> Result<bool, AppError> {
        if app.store.dated_calendar()?.is_some()
            || !app.store.cases_with_open_parts(None, 1, None)?.is_empty()
        {
            return Ok(false);
        }
        app.store
            .record_dated_calendar(&calendar.fingerprint(), app.clock.now_ms())?;
        Ok(true)
    };
    match recorded() {
        Ok(true) => *app.dated_on.lock().unwrap_or_else(|p| p.into_inner()) = Some(calendar),
        Ok(false) => {}
        Err(e) => {
            tracing::warn!(error = %e, "calendar of the start not recorded; the first sweep dates the open cases")
        }
    }
}

/// Carry out every due item whose time has come (by the app's clock).
pub fn sweep(app: &App) -> Result<SweepReport, AppError> {
    let mut report = SweepReport::default();
    // A calendar published since the last sweep (or since the start): date the open cases
    // first, so that their new timeouts are among the items below.
    let calendar = app.registry.current().calendar.clone();
    let mut dated_on = app.dated_on.lock().unwrap_or_else(|p| p.into_inner());
    // The same catalog keeps the same calendar `Arc`: the days are compared only after a
    // catalog change, and the cases visited only when the days differ. At start, the database
    // says which calendar its open cases were last dated on: with the same days, a restart does
    // not visit every open case again (with 300,000 open cases that pass took minutes).
    if !dated_on.as_ref().is_some_and(|d| Arc::ptr_eq(d, &calendar)) {
        if dated_on.as_deref() != Some(&*calendar) {
            let fingerprint = calendar.fingerprint();
            let dated_before = dated_on.is_none()
                && app.store.dated_calendar()?.as_deref() == Some(fingerprint.as_str());
            if !dated_before {
                let pass = match dated_on.as_deref() {
                    // The old calendar is known in this process: only deadlines on or after
                    // the first day that changed can move (none when only names changed).
                    Some(old) => match old.first_difference(&calendar) {
                        Some(day) => handling::date_open_cases(app, Some(day))?,
                        None => handling::DatingPass::default(),
                    },
                    // At start it is not known: every open case.
                    None => handling::date_open_cases(app, None)?,
                };
                report.dated = pass.changed;
                report.dating_visited = pass.visited;
                if pass.failed == 0 {
                    app.store
                        .record_dated_calendar(&fingerprint, app.clock.now_ms())?;
                }
            }
        }
        *dated_on = Some(calendar);
    }
    drop(dated_on);
    let owner = app.instance();
    loop {
        let now = app.clock.now_ms();
        let items = app.store.claim_due(now, &owner, LEASE_MS, BATCH)?;
        if items.is_empty() {
            break;
        }
        let n = items.len();
        report.claimed += n;
        for item in &items {
            // `handling::fire` retries a version conflict (a concurrent approver action).
            match handling::fire(app, item, &owner) {
                Ok(Some(what)) => {
                    crate::metrics::due_fired(item.item.kind.as_text());
                    report.fired += 1;
                    report.actions.push(format!("{} {what}", item.case_id));
                }
                Ok(None) => report.closed += 1,
                Err(AppError::Store(StoreError::DueItemTaken(_))) => report.taken_by_others += 1,
                Err(e) => {
                    tracing::warn!(case = %item.case_id, item = item.id, error = %e, "due item failed");
                    crate::metrics::due_failed();
                    report.failed += 1;
                }
            }
        }
        // Go round again even after a short batch: a transition may have made the next item
        // due already (after downtime, a chain of deemed approvals fires in one sweep). Items
        // that failed stay leased, so the loop ends.
        let _ = n;
    }
    Ok(report)
}

/// Run the sweep every `scheduler_poll_ms` on a thread of its own; stops when the app is dropped.
pub fn start_scheduler(app: &Arc<App>) {
    let every = app.config.scheduler_poll_ms;
    if every == 0 {
        return;
    }
    let weak = Arc::downgrade(app);
    let mut warned_on = None;
    let spawned = std::thread::Builder::new()
        .name("yichuang-scheduler".into())
        .spawn(move || loop {
            std::thread::sleep(std::time::Duration::from_millis(every));
            let Some(app) = weak.upgrade() else { return };
            // Once a day from 1 November while next year's calendar is missing.
            let today = app.clock.today();
            if warned_on != Some(today) {
                warned_on = Some(today);
                if let Some(w) = app.registry.current().calendar.next_year_missing(today) {
                    tracing::warn!(warning = %w, "working-day calendar");
                }
            }
            match sweep(&app) {
                Ok(r) if r.claimed > 0 => tracing::info!(
                    claimed = r.claimed,
                    fired = r.fired,
                    closed = r.closed,
                    failed = r.failed,
                    "deadline sweep"
                ),
                Ok(_) => {}
                Err(e) => tracing::warn!(error = %e, "deadline sweep failed"),
            }
        });
    if let Err(e) = spawned {
        tracing::warn!(error = %e, "scheduler not started");
    }
}
