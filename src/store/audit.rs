//! The tamper-evident audit trail (电子监察): hash chaining of `case_events` and its verification.
//!
//! Each entry stores `prev_hash` and `hash = SHA-256(canonical(prev_hash, case_id, at, actor,
//! action, catalog_hash, detail))`. Chains are per case: `prev_hash` is the hash of the case's
//! previous entry, or [`GENESIS`] for its first one, so intakes of different cases never wait
//! for each other. The case row keeps the hash of its latest entry (`cases.audit_head`), which
//! makes deleting the last entries of a trail, or all of them, detectable as well.
//!
//! Entries are written only by `ops::insert_event`; [`verify`] reads everything back in one
//! snapshot and reports the first broken entry.

use std::collections::HashMap;

use diesel::prelude::*;

use super::conn::DbConnection;
use super::schema::{audit_chain, case_events, cases};
use super::{EventRow, StoreError};

/// What the first entry of every case chains to.
pub const GENESIS: &str = "0000000000000000000000000000000000000000000000000000000000000000";

/// Version tag of the canonical encoding; part of every hashed message.
const ENCODING: &[u8] = b"yichuang-audit-v1\n";

/// The hash of one entry: SHA-256 (lowercase hex) of the encoding tag followed by each field as
/// `<length in bytes>:<bytes>\n` in the order prev_hash, case_id, at (decimal), actor, action,
/// catalog_hash, detail. Length prefixes make the encoding unambiguous whatever the fields contain.
pub fn entry_hash(
    prev_hash: &str,
    case_id: &str,
    at: i64,
    actor: &str,
    action: &str,
    catalog_hash: &str,
    detail: &str,
) -> String {
    let at = at.to_string();
    let fields = [prev_hash, case_id, &at, actor, action, catalog_hash, detail];
    let mut msg =
        Vec::with_capacity(ENCODING.len() + fields.iter().map(|f| f.len() + 8).sum::<usize>());
    msg.extend_from_slice(ENCODING);
    for f in fields {
        msg.extend_from_slice(f.len().to_string().as_bytes());
        msg.push(b':');
        msg.extend_from_slice(f.as_bytes());
        msg.push(b'\n');
    }
    crate::digest::sha256_hex(&msg)
}

fn hash_of(e: &EventRow, prev_hash: &str) -> String {
    entry_hash(
        prev_hash,
        &e.case_id,
        e.at,
        &e.actor,
        &e.action,
        &e.catalog_hash,
        &e.detail,
    )
}

/// How an entry (or a case's trail) fails verification.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum BreakKind {
    /// The entry's content no longer gives its stored hash: it was altered.
    Altered,
    /// The entry's `prev_hash` is not the hash of the entry before it (or genesis): an entry
    /// before it was deleted or replaced.
    Unlinked,
    /// An entry without a hash that is not one of the entries from before the chain.
    Unchained,
    /// The case row's chain head is not the hash of its last entry: entries at the end of the
    /// trail were deleted, or the head was changed.
    HeadMismatch,
    /// A case without any entry (every intake writes one): the whole trail was deleted.
    NoTrail,
    /// An entry whose case does not exist.
    Orphan,
}

impl BreakKind {
    fn describe(self) -> &'static str {
        match self {
            BreakKind::Altered => "the entry was altered (its content does not give its stored hash)",
            BreakKind::Unlinked => {
                "the entry does not link to the entry before it (an entry before it was deleted or replaced)"
            }
            BreakKind::Unchained => "the entry has no hash (written around the store)",
            BreakKind::HeadMismatch => {
                "the case's chain head is not the hash of its last entry (entries at the end were deleted)"
            }
            BreakKind::NoTrail => "the case has no audit entries (its trail was deleted)",
            BreakKind::Orphan => "the entry belongs to no case (the case row was deleted)",
        }
    }
}

/// One broken place in the trail.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AuditBreak {
    pub case_id: String,
    /// The entry concerned (for `HeadMismatch` the case's last entry; none for `NoTrail`).
    pub event_id: Option<i64>,
    pub kind: BreakKind,
    /// What verification computed or expected (a hash, or a description).
    pub expected: String,
    /// What the database holds.
    pub stored: String,
}

impl std::fmt::Display for AuditBreak {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "case {}", self.case_id)?;
        if let Some(id) = self.event_id {
            write!(f, ", entry {id}")?;
        }
        write!(
            f,
            ": {}; expected {}, stored {}",
            self.kind.describe(),
            self.expected,
            self.stored
        )
    }
}

/// The outcome of [`verify`].
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct AuditReport {
    pub cases: u64,
    /// Entries read, including those from before the chain.
    pub entries: u64,
    /// Entries written before the chain existed (no hash; not covered).
    pub pre_chain_entries: u64,
    /// Cases (and orphan entries) with at least one break.
    pub broken: u64,
    /// The earliest breaks (by entry id, then case), at most [`MAX_LISTED`]; the first is
    /// the first broken entry.
    pub breaks: Vec<AuditBreak>,
}

impl AuditReport {
    pub fn intact(&self) -> bool {
        self.broken == 0
    }

    pub fn first_break(&self) -> Option<&AuditBreak> {
        self.breaks.first()
    }
}

/// Most breaks a report lists.
pub const MAX_LISTED: usize = 20;

/// Cases read per round.
const PAGE: i64 = 500;

/// Checks every case's chain in one read snapshot (a concurrent writer does not make a trail
/// look broken). Needs the audit-chain migration; does not write.
pub(crate) fn verify(
    conn: &mut DbConnection,
    progress: &mut dyn FnMut(u64, u64),
) -> Result<AuditReport, StoreError> {
    conn.transaction(|c| {
        if let DbConnection::Pg(pg) = c {
            // One snapshot for the whole check (SQLite's read transaction is one already).
            diesel::connection::SimpleConnection::batch_execute(
                pg,
                "SET TRANSACTION ISOLATION LEVEL REPEATABLE READ, READ ONLY",
            )?;
        }
        verify_in(c, progress)
    })
}

fn verify_in(
    conn: &mut DbConnection,
    progress: &mut dyn FnMut(u64, u64),
) -> Result<AuditReport, StoreError> {
    let legacy_through: i64 = audit_chain::table
        .select(audit_chain::legacy_through_id)
        .get_result(conn)
        .map_err(|e| match StoreError::from(e) {
            StoreError::Query(m) | StoreError::NotFound(m) => StoreError::Migration(format!(
                "the database has no audit chain ({m}); run `yichuang migrate` first"
            )),
            other => other,
        })?;
    let mut report = AuditReport::default();
    let total: i64 = cases::table.count().get_result(conn)?;
    let total = u64::try_from(total).unwrap_or(0);
    let mut after: Option<String> = None;
    loop {
        let mut q = cases::table
            .select((cases::id, cases::audit_head))
            .order(cases::id.asc())
            .limit(PAGE)
            .into_boxed();
        if let Some(a) = &after {
            q = q.filter(cases::id.gt(a.clone()));
        }
        let page: Vec<(String, Option<String>)> = q.load(conn)?;
        let Some((last, _)) = page.last() else { break };
        after = Some(last.clone());
        let ids: Vec<&String> = page.iter().map(|(id, _)| id).collect();
        let events: Vec<EventRow> = case_events::table
            .filter(case_events::case_id.eq_any(ids))
            .order((case_events::case_id.asc(), case_events::id.asc()))
            .select(EventRow::as_select())
            .load(conn)?;
        let mut by_case: HashMap<&str, Vec<&EventRow>> = HashMap::new();
        for e in &events {
            by_case.entry(e.case_id.as_str()).or_default().push(e);
        }
        for (id, head) in &page {
            report.cases += 1;
            let trail = by_case.remove(id.as_str()).unwrap_or_default();
            report.entries += trail.len() as u64;
            if let Some(b) = check_case(id, head.as_deref(), &trail, legacy_through, &mut report) {
                report.add(b);
            }
            progress(report.cases, total);
        }
    }
    // Entries whose case row is gone (possible only with foreign keys off or dropped).
    let orphans: Vec<(i64, String)> = case_events::table
        .filter(diesel::dsl::not(diesel::dsl::exists(
            cases::table.filter(cases::id.eq(case_events::case_id)),
        )))
        .order(case_events::id.asc())
        .select((case_events::id, case_events::case_id))
        .limit(MAX_LISTED as i64)
        .load(conn)?;
    for (event_id, case_id) in orphans {
        report.entries += 1;
        report.add(AuditBreak {
            case_id,
            event_id: Some(event_id),
            kind: BreakKind::Orphan,
            expected: "an existing case".into(),
            stored: "no case row".into(),
        });
    }
    Ok(report)
}

impl AuditReport {
    fn add(&mut self, b: AuditBreak) {
        self.broken += 1;
        let key = |b: &AuditBreak| (b.event_id.unwrap_or(i64::MAX), b.case_id.clone());
        let at = self.breaks.partition_point(|x| key(x) <= key(&b));
        if at < MAX_LISTED {
            self.breaks.insert(at, b);
            self.breaks.truncate(MAX_LISTED);
        }
    }
}

/// The first break of one case's trail (entries in id order), if any.
pub(crate) fn check_case(
    case_id: &str,
    head: Option<&str>,
    trail: &[&EventRow],
    legacy_through: i64,
    report: &mut AuditReport,
) -> Option<AuditBreak> {
    let brk = |event_id: Option<i64>, kind, expected: &str, stored: &str| AuditBreak {
        case_id: case_id.to_string(),
        event_id,
        kind,
        expected: expected.to_string(),
        stored: stored.to_string(),
    };
    let mut prev: Option<&str> = None;
    for e in trail {
        match (&e.prev_hash, &e.hash) {
            // Entries from before the chain may only open a trail.
            (None, None) if prev.is_none() && e.id <= legacy_through => {
                report.pre_chain_entries += 1;
            }
            (Some(p), Some(h)) => {
                let want = prev.unwrap_or(GENESIS);
                if p != want {
                    return Some(brk(Some(e.id), BreakKind::Unlinked, want, p));
                }
                let computed = hash_of(e, p);
                if &computed != h {
                    return Some(brk(Some(e.id), BreakKind::Altered, &computed, h));
                }
                prev = Some(h);
            }
            (p, h) => {
                let shown = |v: &Option<String>| v.clone().unwrap_or_else(|| "none".into());
                return Some(brk(
                    Some(e.id),
                    BreakKind::Unchained,
                    "prev_hash and hash",
                    &format!("prev_hash {}, hash {}", shown(p), shown(h)),
                ));
            }
        }
    }
    if trail.is_empty() {
        return Some(brk(None, BreakKind::NoTrail, "at least one entry", "none"));
    }
    match (head, prev) {
        (Some(h), Some(l)) if h == l => None,
        // Only entries from before the chain, and no head: nothing chained yet.
        (None, None) => None,
        (h, l) => Some(brk(
            trail.last().map(|e| e.id),
            BreakKind::HeadMismatch,
            &format!("{} (the case row's chain head)", h.unwrap_or("none")),
            &format!("{} (hash of the last entry)", l.unwrap_or("none")),
        )),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_encoding_is_unambiguous_and_stable() {
        let h = entry_hash(GENESIS, "c1", 1, "u", "intake", "h", "{}");
        assert_eq!(h.len(), 64);
        // Moving bytes between fields changes the hash.
        assert_ne!(h, entry_hash(GENESIS, "c1", 1, "ui", "ntake", "h", "{}"));
        assert_ne!(h, entry_hash(GENESIS, "c", 11, "u", "intake", "h", "{}"));
        // Pinned: changing the encoding breaks every stored chain.
        assert_eq!(
            h,
            crate::digest::sha256_hex(
                format!("yichuang-audit-v1\n64:{GENESIS}\n2:c1\n1:1\n1:u\n6:intake\n1:h\n2:{{}}\n")
                    .as_bytes()
            )
        );
    }
}
