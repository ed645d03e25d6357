//! The outbox (issue 15): every case event is also written to `outbox_events`, in the transaction
//! of the change (from `ops::insert_event`, the one place audit entries are written), with one
//! `outbox_deliveries` row per subscriber that wants its kind. The delivery worker
//! (`app::outbox`) sends them after COMMIT, so a rolled-back change reports nothing and a
//! committed one is always reported.
//!
//! Order and leases: a delivery is claimed only when no earlier event of the same case to the same
//! subscriber is undelivered (pending or dead), and a claim leases it to one instance
//! (PostgreSQL: `FOR UPDATE SKIP LOCKED`, as the scheduler's `claim_due`), so one event is in
//! flight from one instance at a time and each case's events arrive in order.
//!
//! Delivery times (`next_attempt_at`, leases) are the machine's clock in unix ms; a new delivery
//! is due at once (0). `occurred_at` and `created_at` are the app's clock.

use std::sync::{Arc, RwLock};

use diesel::prelude::*;
use serde::Serialize;

use super::conn::DbConnection;
use super::mapping::AsText;
use super::schema::{cases, outbox_deliveries, outbox_events};
use super::tx::write_tx;
use super::{NewEvent, Store, StoreError, MAX_PAGE};
use crate::domain::handling::EventKind;

/// Where a delivery stands.
#[derive(
    Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, serde::Deserialize, schemars::JsonSchema,
)]
#[serde(rename_all = "snake_case")]
pub enum OutboxState {
    /// Not yet delivered; tried again at `next_attempt_at`.
    Pending,
    /// The subscriber answered 2xx.
    Delivered,
    /// Given up after the subscriber's `max_attempts`; `resend` puts it back.
    Dead,
}

/// A subscriber as the store sees it: which event kinds get a delivery row (`None`: all).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct OutboxRoute {
    pub subscriber: String,
    pub kinds: Option<Vec<EventKind>>,
}

impl OutboxRoute {
    pub fn wants(&self, kind: EventKind) -> bool {
        self.kinds.as_ref().is_none_or(|k| k.contains(&kind))
    }
}

/// The routes the writer and the pooled writes read (swapped whole by `set_outbox_routes`).
pub type SharedRoutes = Arc<RwLock<Arc<Vec<OutboxRoute>>>>;

pub(crate) fn current(r: &SharedRoutes) -> Arc<Vec<OutboxRoute>> {
    r.read().unwrap_or_else(|p| p.into_inner()).clone()
}

/// The case as an event's payload describes it (read with the audit head, in the transaction).
#[derive(Debug, Clone, PartialEq, Eq, Queryable, Selectable, Serialize)]
#[diesel(table_name = cases)]
pub struct CaseSummary {
    pub id: String,
    pub matter_code: String,
    pub bundle_code: Option<String>,
    pub status: String,
    pub center_id: String,
    pub township: Option<String>,
    pub village: Option<String>,
    pub window_id: Option<String>,
    pub channel: String,
    pub clerk_id: String,
    pub agent_id: Option<String>,
    pub applicant_kind: String,
    pub applicant_name: String,
    pub applicant_id_number: Option<String>,
    pub received_on: String,
    pub due_date: Option<String>,
    pub catalog_hash: String,
}

impl CaseSummary {
    /// The summary of a case row about to be inserted (what a read of it would give).
    pub(crate) fn of_row(c: &super::CaseRow) -> Self {
        Self {
            id: c.id.clone(),
            matter_code: c.matter_code.clone(),
            bundle_code: c.bundle_code.clone(),
            status: c.status.clone(),
            center_id: c.center_id.clone(),
            township: c.township.clone(),
            village: c.village.clone(),
            window_id: c.window_id.clone(),
            channel: c.channel.clone(),
            clerk_id: c.clerk_id.clone(),
            agent_id: c.agent_id.clone(),
            applicant_kind: c.applicant_kind.clone(),
            applicant_name: c.applicant_name.clone(),
            applicant_id_number: c.applicant_id_number.clone(),
            received_on: c.received_on.clone(),
            due_date: c.due_date.clone(),
            catalog_hash: c.catalog_hash.clone(),
        }
    }
}

/// The native payload of one event (what `native` subscribers receive, byte for byte).
#[derive(Serialize)]
struct Payload<'a> {
    id: &'a str,
    case_id: &'a str,
    seq: i64,
    kind: &'static str,
    /// RFC 3339, China Standard Time.
    occurred_at: String,
    occurred_at_ms: i64,
    actor: &'a str,
    catalog_hash: &'a str,
    detail: serde_json::Value,
    case: &'a CaseSummary,
}

pub use crate::domain::china_time::rfc3339_of_ms as cst;

#[derive(Clone, Insertable)]
#[diesel(table_name = outbox_events)]
#[diesel(treat_none_as_default_value = false)]
struct EventInsert<'a> {
    id: &'a str,
    case_id: &'a str,
    seq: i64,
    kind: &'static str,
    occurred_at: i64,
    payload: &'a str,
}

#[derive(Clone, Insertable)]
#[diesel(table_name = outbox_deliveries)]
#[diesel(treat_none_as_default_value = false)]
struct DeliveryInsert<'a> {
    subscriber: &'a str,
    event_id: &'a str,
    case_id: &'a str,
    seq: i64,
    state: &'static str,
    attempts: i64,
    next_attempt_at: i64,
    created_at: i64,
}

/// The outbox row of one event, built before it is written (so a batch of intakes writes all
/// of its events in one statement).
pub(crate) struct PreparedEvent {
    id: String,
    case_id: String,
    seq: i64,
    kind: EventKind,
    occurred_at: i64,
    payload: String,
}

impl PreparedEvent {
    /// The event number `seq` of `case` (1 for a case's first event), with its native payload.
    pub(crate) fn new(
        case: &CaseSummary,
        seq: i64,
        at: i64,
        e: &NewEvent,
    ) -> Result<Self, StoreError> {
        let id = format!("{}:{seq}", case.id);
        let detail = serde_json::from_str(&e.detail)
            .unwrap_or_else(|_| serde_json::Value::String(e.detail.clone()));
        let payload = serde_json::to_string(&Payload {
            id: &id,
            case_id: &case.id,
            seq,
            kind: e.action.as_text(),
            occurred_at: cst(at),
            occurred_at_ms: at,
            actor: &e.actor,
            catalog_hash: &e.catalog_hash,
            detail,
            case,
        })
        .map_err(|err| StoreError::Query(format!("outbox payload: {err}")))?;
        Ok(Self {
            id,
            case_id: case.id.clone(),
            seq,
            kind: e.action,
            occurred_at: at,
            payload,
        })
    }

    fn row(&self) -> EventInsert<'_> {
        EventInsert {
            id: &self.id,
            case_id: &self.case_id,
            seq: self.seq,
            kind: self.kind.as_text(),
            occurred_at: self.occurred_at,
            payload: &self.payload,
        }
    }
}

/// The delivery rows of `events`: one, pending, for each subscriber in `routes` that wants the
/// event's kind.
fn new_deliveries<'a>(
    events: &'a [PreparedEvent],
    routes: &'a [OutboxRoute],
) -> Vec<DeliveryInsert<'a>> {
    events
        .iter()
        .flat_map(|e| {
            routes
                .iter()
                .filter(|r| r.wants(e.kind))
                .map(move |r| DeliveryInsert {
                    subscriber: &r.subscriber,
                    event_id: &e.id,
                    case_id: &e.case_id,
                    seq: e.seq,
                    state: OutboxState::Pending.as_text(),
                    attempts: 0,
                    next_attempt_at: 0,
                    created_at: e.occurred_at,
                })
        })
        .collect()
}

/// Writes the outbox rows of `events` and a delivery for each subscriber in `routes` that
/// wants its kind, in as few statements as the rows allow (inside the caller's transaction).
pub(crate) fn insert_prepared(
    conn: &mut DbConnection,
    events: &[PreparedEvent],
    routes: &[OutboxRoute],
) -> Result<(), StoreError> {
    let rows: Vec<EventInsert<'_>> = events.iter().map(PreparedEvent::row).collect();
    super::batch::insert_rows!(conn, outbox_events::table, rows)?;
    let deliveries = new_deliveries(events, routes);
    super::batch::insert_rows!(conn, outbox_deliveries::table, deliveries)?;
    Ok(())
}

/// PostgreSQL: the rows of [`insert_prepared`] as columns, for one statement with the other
/// rows of a batch of intakes.
pub(crate) fn prepared_columns<'a>(
    events: &'a [PreparedEvent],
    routes: &'a [OutboxRoute],
) -> Vec<super::columns::Columns<'a>> {
    use super::columns::Columns;
    let rows: Vec<EventInsert<'a>> = events.iter().map(PreparedEvent::row).collect();
    let deliveries = new_deliveries(events, routes);
    let rows = Columns::new("outbox_events")
        .text(outbox_events::id, rows.iter().map(|r| r.id))
        .text(outbox_events::case_id, rows.iter().map(|r| r.case_id))
        .int(outbox_events::seq, rows.iter().map(|r| r.seq))
        .text(outbox_events::kind, rows.iter().map(|r| r.kind))
        .int(
            outbox_events::occurred_at,
            rows.iter().map(|r| r.occurred_at),
        )
        .text(outbox_events::payload, rows.iter().map(|r| r.payload));
    let deliveries = Columns::new("outbox_deliveries")
        .text(
            outbox_deliveries::subscriber,
            deliveries.iter().map(|d| d.subscriber),
        )
        .text(
            outbox_deliveries::event_id,
            deliveries.iter().map(|d| d.event_id),
        )
        .text(
            outbox_deliveries::case_id,
            deliveries.iter().map(|d| d.case_id),
        )
        .int(outbox_deliveries::seq, deliveries.iter().map(|d| d.seq))
        .text(outbox_deliveries::state, deliveries.iter().map(|d| d.state))
        .int(
            outbox_deliveries::attempts,
            deliveries.iter().map(|d| d.attempts),
        )
        .int(
            outbox_deliveries::next_attempt_at,
            deliveries.iter().map(|d| d.next_attempt_at),
        )
        .int(
            outbox_deliveries::created_at,
            deliveries.iter().map(|d| d.created_at),
        );
    vec![rows, deliveries]
}

/// The SQL of `insert_prepared`'s statements for two events of `case_id` (SQLite), for the
/// test that each batch is one statement.
#[cfg(test)]
pub(crate) fn batch_sql_for_test(case_id: &str) -> Vec<String> {
    use diesel::sqlite::Sqlite;
    let e = EventInsert {
        id: "c:1",
        case_id,
        seq: 1,
        kind: "intake",
        occurred_at: 0,
        payload: "{}",
    };
    let d = DeliveryInsert {
        subscriber: "s",
        event_id: "c:1",
        case_id,
        seq: 1,
        state: OutboxState::Pending.as_text(),
        attempts: 0,
        next_attempt_at: 0,
        created_at: 0,
    };
    vec![
        diesel::debug_query::<Sqlite, _>(
            &diesel::insert_into(outbox_events::table).values(vec![e.clone(), e]),
        )
        .to_string(),
        diesel::debug_query::<Sqlite, _>(
            &diesel::insert_into(outbox_deliveries::table).values(vec![d.clone(), d]),
        )
        .to_string(),
    ]
}

/// Writes the outbox row of one event and its deliveries (inside the caller's transaction, which
/// holds the case row: on PostgreSQL `insert_event` locked it, on SQLite the write transaction
/// excludes every other writer, so the per-case sequence has no race).
pub(crate) fn append(
    conn: &mut DbConnection,
    case: &CaseSummary,
    at: i64,
    e: &NewEvent,
    routes: &[OutboxRoute],
) -> Result<(), StoreError> {
    let last: Option<i64> = outbox_events::table
        .filter(outbox_events::case_id.eq(&case.id))
        .select(diesel::dsl::max(outbox_events::seq))
        .get_result(conn)?;
    let event = PreparedEvent::new(case, last.unwrap_or(0) + 1, at, e)?;
    insert_prepared(conn, std::slice::from_ref(&event), routes)
}

/// What `outbox_prune` deleted.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize)]
pub struct Pruned {
    pub events: usize,
    pub deliveries: usize,
}

/// One stored outbox event.
#[derive(Debug, Clone, PartialEq, Eq, Queryable, Selectable, Serialize)]
#[diesel(table_name = outbox_events)]
pub struct OutboxEventRow {
    pub id: String,
    pub case_id: String,
    pub seq: i64,
    pub kind: String,
    pub occurred_at: i64,
    pub payload: String,
}

/// A delivery leased to this instance, with what to send.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Claimed {
    pub subscriber: String,
    pub event_id: String,
    pub case_id: String,
    pub seq: i64,
    pub kind: EventKind,
    pub occurred_at: i64,
    /// Attempts before this one.
    pub attempts: i64,
    pub payload: String,
}

/// What came of one claimed delivery.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum AttemptOutcome {
    Delivered,
    /// Failed: tried again at `retry_at`, or dead when `dead`.
    Failed {
        error: String,
        retry_at: i64,
        dead: bool,
    },
    /// Not tried (the subscriber failed earlier in the round): lease given back, no attempt
    /// counted.
    Released,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Attempt {
    pub subscriber: String,
    pub event_id: String,
    pub outcome: AttemptOutcome,
}

/// One delivery as the admin surface lists it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, schemars::JsonSchema)]
pub struct DeliveryView {
    pub subscriber: String,
    pub event_id: String,
    pub case_id: String,
    pub seq: i64,
    pub kind: String,
    pub occurred_at: i64,
    pub state: OutboxState,
    pub attempts: i64,
    pub next_attempt_at: i64,
    pub last_error: Option<String>,
    pub lease_owner: Option<String>,
    pub lease_until: Option<i64>,
    pub delivered_at: Option<i64>,
}

/// Filters of [`Store::outbox_list`]; oldest first.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct OutboxFilter {
    pub state: Option<OutboxState>,
    pub subscriber: Option<String>,
    pub limit: i64,
}

/// Undelivered events of one subscriber (for `/metrics` and supervision).
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, schemars::JsonSchema)]
pub struct Backlog {
    pub subscriber: String,
    /// Pending and dead deliveries.
    pub undelivered: i64,
    pub dead: i64,
    /// `created_at` (the app's clock, unix ms) of the oldest undelivered event.
    pub oldest_at: Option<i64>,
}

/// subscriber, event_id, case_id, seq, kind, occurred_at, attempts, payload.
type ClaimRow = (String, String, String, i64, String, i64, i64, String);

#[derive(QueryableByName)]
struct ClaimKey {
    #[diesel(sql_type = diesel::sql_types::Text)]
    event_id: String,
}

/// Rows the claim may take: pending, due, not leased (or the lease ran out), and no earlier event
/// of the same case to the same subscriber undelivered.
const CLAIM_PG: &str = "SELECT d.event_id FROM outbox_deliveries d \
     WHERE d.subscriber = $1 AND d.state = $2 AND d.next_attempt_at <= $3 \
       AND (d.lease_until IS NULL OR d.lease_until < $3) \
       AND NOT EXISTS (SELECT 1 FROM outbox_deliveries e WHERE e.subscriber = d.subscriber \
             AND e.case_id = d.case_id AND e.seq < d.seq AND e.state <> $4) \
     ORDER BY d.next_attempt_at, d.created_at, d.case_id, d.seq LIMIT $5 \
     FOR UPDATE OF d SKIP LOCKED";
const CLAIM_SQLITE: &str = "SELECT d.event_id FROM outbox_deliveries d \
     WHERE d.subscriber = ?1 AND d.state = ?2 AND d.next_attempt_at <= ?3 \
       AND (d.lease_until IS NULL OR d.lease_until < ?3) \
       AND NOT EXISTS (SELECT 1 FROM outbox_deliveries e WHERE e.subscriber = d.subscriber \
             AND e.case_id = d.case_id AND e.seq < d.seq AND e.state <> ?4) \
     ORDER BY d.next_attempt_at, d.created_at, d.case_id, d.seq LIMIT ?5";

fn claim(
    conn: &mut DbConnection,
    subscriber: &str,
    now: i64,
    owner: &str,
    lease_ms: i64,
    limit: i64,
) -> Result<Vec<Claimed>, StoreError> {
    use diesel::sql_types::{BigInt, Text};
    use outbox_deliveries::dsl as d;
    let pending = OutboxState::Pending.as_text();
    let delivered = OutboxState::Delivered.as_text();
    let keys: Vec<ClaimKey> = match conn {
        DbConnection::Pg(c) => diesel::sql_query(CLAIM_PG)
            .bind::<Text, _>(subscriber)
            .bind::<Text, _>(pending)
            .bind::<BigInt, _>(now)
            .bind::<Text, _>(delivered)
            .bind::<BigInt, _>(limit)
            .load(c)?,
        DbConnection::Sqlite(c) => diesel::sql_query(CLAIM_SQLITE)
            .bind::<Text, _>(subscriber)
            .bind::<Text, _>(pending)
            .bind::<BigInt, _>(now)
            .bind::<Text, _>(delivered)
            .bind::<BigInt, _>(limit)
            .load(c)?,
    };
    if keys.is_empty() {
        return Ok(Vec::new());
    }
    let ids: Vec<String> = keys.into_iter().map(|k| k.event_id).collect();
    let mine = || {
        d::outbox_deliveries
            .filter(d::subscriber.eq(subscriber))
            .filter(d::event_id.eq_any(&ids))
    };
    diesel::update(mine())
        .set((d::lease_owner.eq(owner), d::lease_until.eq(now + lease_ms)))
        .execute(conn)?;
    let rows: Vec<ClaimRow> = mine()
        .inner_join(outbox_events::table)
        .order((d::next_attempt_at, d::created_at, d::case_id, d::seq))
        .select((
            d::subscriber,
            d::event_id,
            d::case_id,
            d::seq,
            outbox_events::kind,
            outbox_events::occurred_at,
            d::attempts,
            outbox_events::payload,
        ))
        .load(conn)?;
    rows.into_iter()
        .map(
            |(subscriber, event_id, case_id, seq, kind, occurred_at, attempts, payload)| {
                Ok(Claimed {
                    subscriber,
                    event_id,
                    case_id,
                    seq,
                    kind: EventKind::parse(&kind)?,
                    occurred_at,
                    attempts,
                    payload,
                })
            },
        )
        .collect()
}

fn finish(
    conn: &mut DbConnection,
    owner: &str,
    now: i64,
    done: &[Attempt],
) -> Result<usize, StoreError> {
    use outbox_deliveries::dsl as d;
    let pending = OutboxState::Pending.as_text();
    let mut n = 0;
    for a in done {
        // Only while this instance still holds the lease: if it ran out and another instance
        // took the delivery, that instance records the outcome.
        let mine = d::outbox_deliveries
            .filter(d::subscriber.eq(&a.subscriber))
            .filter(d::event_id.eq(&a.event_id))
            .filter(d::state.eq(pending))
            .filter(d::lease_owner.eq(owner));
        n += match &a.outcome {
            AttemptOutcome::Delivered => diesel::update(mine)
                .set((
                    d::state.eq(OutboxState::Delivered.as_text()),
                    d::attempts.eq(d::attempts + 1i64),
                    d::delivered_at.eq(now),
                    d::last_error.eq(None::<String>),
                    d::lease_owner.eq(None::<String>),
                    d::lease_until.eq(None::<i64>),
                ))
                .execute(conn)?,
            AttemptOutcome::Failed {
                error,
                retry_at,
                dead,
            } => diesel::update(mine)
                .set((
                    d::state.eq(if *dead {
                        OutboxState::Dead.as_text()
                    } else {
                        pending
                    }),
                    d::attempts.eq(d::attempts + 1i64),
                    d::next_attempt_at.eq(retry_at),
                    d::last_error.eq(error),
                    d::lease_owner.eq(None::<String>),
                    d::lease_until.eq(None::<i64>),
                ))
                .execute(conn)?,
            AttemptOutcome::Released => diesel::update(mine)
                .set((
                    d::lease_owner.eq(None::<String>),
                    d::lease_until.eq(None::<i64>),
                ))
                .execute(conn)?,
        };
    }
    Ok(n)
}

type ViewRow = (
    String,
    String,
    String,
    i64,
    String,
    i64,
    String,
    i64,
    i64,
    Option<String>,
    Option<String>,
    Option<i64>,
    Option<i64>,
);

fn view_of(r: ViewRow) -> Result<DeliveryView, StoreError> {
    Ok(DeliveryView {
        subscriber: r.0,
        event_id: r.1,
        case_id: r.2,
        seq: r.3,
        kind: r.4,
        occurred_at: r.5,
        state: OutboxState::parse(&r.6)?,
        attempts: r.7,
        next_attempt_at: r.8,
        last_error: r.9,
        lease_owner: r.10,
        lease_until: r.11,
        delivered_at: r.12,
    })
}

impl Store {
    /// The subscribers whose deliveries new events create, from the next commit on.
    pub fn set_outbox_routes(&self, routes: Vec<OutboxRoute>) {
        *self.inner.routes.write().unwrap_or_else(|p| p.into_inner()) = Arc::new(routes);
    }

    /// Leases up to `limit` deliveries of `subscriber` that may be sent now to `owner` for
    /// `lease_ms` (at most one per case: the earliest undelivered).
    pub fn outbox_claim(
        &self,
        subscriber: &str,
        now_ms: i64,
        owner: &str,
        lease_ms: i64,
        limit: i64,
    ) -> Result<Vec<Claimed>, StoreError> {
        let mut c = self.conn()?;
        let claimed = write_tx(&mut c, |c| {
            claim(c, subscriber, now_ms, owner, lease_ms, limit)
        })?;
        claimed
            .into_iter()
            .map(|mut d| {
                d.payload = self.open_outbox_payload(&d.case_id, std::mem::take(&mut d.payload))?;
                Ok(d)
            })
            .collect()
    }

    /// Records what came of claimed deliveries (only those `owner` still holds); returns how
    /// many were recorded.
    pub fn outbox_finish(
        &self,
        owner: &str,
        now_ms: i64,
        done: &[Attempt],
    ) -> Result<usize, StoreError> {
        if done.is_empty() {
            return Ok(0);
        }
        let mut c = self.conn()?;
        write_tx(&mut c, |c| finish(c, owner, now_ms, done))
    }

    /// Deliveries, oldest first.
    pub fn outbox_list(&self, f: &OutboxFilter) -> Result<Vec<DeliveryView>, StoreError> {
        use outbox_deliveries::dsl as d;
        let mut c = self.conn()?;
        let mut q = d::outbox_deliveries
            .inner_join(outbox_events::table)
            .into_boxed();
        if let Some(s) = f.state {
            q = q.filter(d::state.eq(s.as_text()));
        }
        if let Some(s) = &f.subscriber {
            q = q.filter(d::subscriber.eq(s.clone()));
        }
        let rows: Vec<ViewRow> = q
            .order((d::created_at, d::case_id, d::seq, d::subscriber))
            .limit(f.limit.clamp(1, MAX_PAGE))
            .select((
                d::subscriber,
                d::event_id,
                d::case_id,
                d::seq,
                outbox_events::kind,
                outbox_events::occurred_at,
                d::state,
                d::attempts,
                d::next_attempt_at,
                d::last_error,
                d::lease_owner,
                d::lease_until,
                d::delivered_at,
            ))
            .load(&mut *c)?;
        rows.into_iter().map(view_of).collect()
    }

    /// Sends events again: their deliveries (of `subscriber`, or of every subscriber) become
    /// pending with no attempts, due at once. Returns how many deliveries were reset.
    pub fn outbox_resend(
        &self,
        event_ids: &[String],
        subscriber: Option<&str>,
    ) -> Result<usize, StoreError> {
        use outbox_deliveries::dsl as d;
        let mut c = self.conn()?;
        write_tx(&mut c, |c| {
            let mut q = diesel::update(d::outbox_deliveries)
                .filter(d::event_id.eq_any(event_ids))
                .into_boxed();
            if let Some(s) = subscriber {
                q = q.filter(d::subscriber.eq(s));
            }
            Ok(q.set(reset()).execute(c)?)
        })
    }

    /// Sends every dead delivery (of `subscriber`, or of all) again.
    pub fn outbox_resend_dead(&self, subscriber: Option<&str>) -> Result<usize, StoreError> {
        use outbox_deliveries::dsl as d;
        let mut c = self.conn()?;
        write_tx(&mut c, |c| {
            let mut q = diesel::update(d::outbox_deliveries)
                .filter(d::state.eq(OutboxState::Dead.as_text()))
                .into_boxed();
            if let Some(s) = subscriber {
                q = q.filter(d::subscriber.eq(s));
            }
            Ok(q.set(reset()).execute(c)?)
        })
    }

    /// Undelivered (pending or dead) deliveries per subscriber, and the oldest one's time.
    pub fn outbox_backlog(&self) -> Result<Vec<Backlog>, StoreError> {
        use outbox_deliveries::dsl as d;
        let mut c = self.conn()?;
        let rows: Vec<(String, String, i64, Option<i64>)> = d::outbox_deliveries
            .filter(d::state.ne(OutboxState::Delivered.as_text()))
            .group_by((d::subscriber, d::state))
            .select((
                d::subscriber,
                d::state,
                diesel::dsl::count_star(),
                diesel::dsl::min(d::created_at),
            ))
            .load(&mut *c)?;
        let mut out: Vec<Backlog> = Vec::new();
        for (subscriber, state, n, oldest) in rows {
            let i = match out.iter().position(|b| b.subscriber == subscriber) {
                Some(i) => i,
                None => {
                    out.push(Backlog {
                        subscriber,
                        ..Backlog::default()
                    });
                    out.len() - 1
                }
            };
            let b = &mut out[i];
            b.undelivered += n;
            if OutboxState::parse(&state)? == OutboxState::Dead {
                b.dead += n;
            }
            b.oldest_at = match (b.oldest_at, oldest) {
                (Some(a), Some(o)) => Some(a.min(o)),
                (a, o) => a.or(o),
            };
        }
        out.sort_by(|a, b| a.subscriber.cmp(&b.subscriber));
        Ok(out)
    }

    /// Deletes the outbox events that occurred before `before` (app clock, unix ms) and reached
    /// every subscriber that wanted them (or that none wanted), with their deliveries: their
    /// payloads carry the applicant's name and ID number, and the table would otherwise grow with
    /// every event for good. The latest event of each case is kept, so that the case's next event
    /// still takes the next number (`<case>:<seq>` is what receivers deduplicate on); `archive`
    /// removes it with the case. Works through the events oldest first, `page` at a time, each
    /// page its own short transaction.
    pub fn outbox_prune(&self, before: i64, page: i64) -> Result<Pruned, StoreError> {
        use outbox_deliveries::dsl as d;
        use outbox_events::dsl as e;
        let page = page.clamp(1, MAX_PAGE);
        let mut pruned = Pruned::default();
        let mut after: Option<(i64, String)> = None;
        loop {
            let mut c = self.conn()?;
            let done = write_tx(&mut c, |c| {
                let mut q = e::outbox_events
                    .filter(e::occurred_at.lt(before))
                    .order((e::occurred_at, e::id))
                    .select((e::occurred_at, e::id, e::case_id, e::seq))
                    .limit(page)
                    .into_boxed();
                if let Some((at, id)) = &after {
                    q = q.filter(
                        e::occurred_at
                            .gt(at)
                            .or(e::occurred_at.eq(at).and(e::id.gt(id))),
                    );
                }
                let candidates: Vec<(i64, String, String, i64)> = q.load(c)?;
                let Some((at, id, _, _)) = candidates.last() else {
                    return Ok(true);
                };
                after = Some((*at, id.clone()));
                let mut cases: Vec<&str> = candidates.iter().map(|x| x.2.as_str()).collect();
                cases.sort_unstable();
                cases.dedup();
                let latest: std::collections::HashMap<String, Option<i64>> = e::outbox_events
                    .filter(e::case_id.eq_any(&cases))
                    .group_by(e::case_id)
                    .select((e::case_id, diesel::dsl::max(e::seq)))
                    .load::<(String, Option<i64>)>(c)?
                    .into_iter()
                    .collect();
                let ids: Vec<&str> = candidates.iter().map(|x| x.1.as_str()).collect();
                let waiting: std::collections::HashSet<String> = d::outbox_deliveries
                    .filter(d::event_id.eq_any(&ids))
                    .filter(d::state.ne(OutboxState::Delivered.as_text()))
                    .select(d::event_id)
                    .load::<String>(c)?
                    .into_iter()
                    .collect();
                let gone: Vec<&str> = candidates
                    .iter()
                    .filter(|(_, id, case, seq)| {
                        !waiting.contains(id) && latest.get(case).copied().flatten() != Some(*seq)
                    })
                    .map(|x| x.1.as_str())
                    .collect();
                pruned.deliveries +=
                    diesel::delete(d::outbox_deliveries.filter(d::event_id.eq_any(&gone)))
                        .execute(c)?;
                pruned.events +=
                    diesel::delete(e::outbox_events.filter(e::id.eq_any(&gone))).execute(c)?;
                Ok(candidates.len() < page as usize)
            })?;
            if done {
                return Ok(pruned);
            }
        }
    }

    /// The outbox events of a case, in order.
    pub fn outbox_events_of_case(&self, case_id: &str) -> Result<Vec<OutboxEventRow>, StoreError> {
        let mut c = self.conn()?;
        Ok(outbox_events::table
            .filter(outbox_events::case_id.eq(case_id))
            .order(outbox_events::seq)
            .select(OutboxEventRow::as_select())
            .load(&mut *c)?)
    }

    /// One outbox event.
    pub fn outbox_event(&self, id: &str) -> Result<Option<OutboxEventRow>, StoreError> {
        let mut c = self.conn()?;
        Ok(outbox_events::table
            .find(id)
            .select(OutboxEventRow::as_select())
            .first(&mut *c)
            .optional()?)
    }
}

#[allow(clippy::type_complexity)]
fn reset() -> (
    diesel::dsl::Eq<outbox_deliveries::state, &'static str>,
    diesel::dsl::Eq<outbox_deliveries::attempts, i64>,
    diesel::dsl::Eq<outbox_deliveries::next_attempt_at, i64>,
    diesel::dsl::Eq<outbox_deliveries::last_error, Option<String>>,
    diesel::dsl::Eq<outbox_deliveries::lease_owner, Option<String>>,
    diesel::dsl::Eq<outbox_deliveries::lease_until, Option<i64>>,
    diesel::dsl::Eq<outbox_deliveries::delivered_at, Option<i64>>,
) {
    use outbox_deliveries::dsl as d;
    (
        d::state.eq(OutboxState::Pending.as_text()),
        d::attempts.eq(0i64),
        d::next_attempt_at.eq(0i64),
        d::last_error.eq(None::<String>),
        d::lease_owner.eq(None::<String>),
        d::lease_until.eq(None::<i64>),
        d::delivered_at.eq(None::<i64>),
    )
}
