//! The one place where the text columns of the database meet the domain's types: every state,
//! kind and decision is written and read through the tables below, and rows of the case's
//! lifecycle (parts, steps, ratings, due items) convert to and from the domain's values here.
//! A value the table does not know is an error naming the column ([`StoreError::Corrupt`]),
//! never a silent default.

use chrono::NaiveDate;

use super::handling::{DueItemRow, PartRow, RatingRow, StepRow};
use super::{CaseRow, StoreError};
use crate::domain::application::{Application, Channel};
use crate::domain::assessment::Outcome;
use crate::domain::case::{
    ApplicantRecord, Case, CaseAssessment, CaseId, CasePlace, CaseStatus, CaseSubject,
};
use crate::domain::deadline::Deadline;
use crate::domain::handling::{
    DecisionRecord, DeliveryRecord, DueItem, DueKind, EventKind, Followup, Part, PartStatus, Pause,
    Rating, RatingSubject, DELIVERY_DAYS,
};
use crate::domain::matter::{Level, StepRole, SubjectKind, TimeoutPolicy};
use crate::domain::notice::NoticeKind;
use crate::domain::route::{Decision, Step, StepAct, StepState};
use crate::domain::unit::UnitId;

/// A type stored as one text column.
pub trait AsText: Sized + Copy {
    /// The column's name, for errors.
    const WHAT: &'static str;
    fn as_text(self) -> &'static str;
    fn from_text(s: &str) -> Option<Self>;
    fn parse(s: &str) -> Result<Self, StoreError> {
        Self::from_text(s)
            .ok_or_else(|| StoreError::Corrupt(format!("unknown {} {s:?}", Self::WHAT)))
    }
}

/// `text_enum!(Type, "what", { Variant => "text", … } legacy { "old" => Variant, … })`: the
/// stored names of an enum; legacy names are read (rows written before a rename) but never
/// written.
macro_rules! text_enum {
    ($t:ty, $what:literal, { $($v:ident => $s:literal),* $(,)? } $(legacy { $($old:literal => $lv:ident),* $(,)? })?) => {
        impl AsText for $t {
            const WHAT: &'static str = $what;
            fn as_text(self) -> &'static str {
                match self {
                    $(<$t>::$v => $s,)*
                }
            }
            fn from_text(s: &str) -> Option<Self> {
                match s {
                    $($s => Some(<$t>::$v),)*
                    $($($old => Some(<$t>::$lv),)*)?
                    _ => None,
                }
            }
        }
    };
}

text_enum!(CaseStatus, "case status", {
    AwaitingSupplement => "awaiting_supplement",
    Refused => "refused",
    Accepted => "accepted",
    Paused => "paused",
    Completed => "completed",
    Decided => "decided",
    Delivered => "delivered",
    Terminated => "terminated",
    Withdrawn => "withdrawn",
    Lapsed => "lapsed",
} legacy { "in_progress" => Accepted });

text_enum!(PartStatus, "part status", {
    AwaitingSupplement => "awaiting_supplement",
    Refused => "refused",
    InProgress => "in_progress",
    Paused => "paused",
    Decided => "decided",
    Terminated => "terminated",
    Withdrawn => "withdrawn",
    Lapsed => "lapsed",
});

text_enum!(Outcome, "outcome", {
    Refused => "refused",
    SupplementNeeded => "supplement_needed",
    AcceptedImmediate => "accepted_immediate",
    AcceptedPromised => "accepted_promised",
    AcceptedDeferred => "accepted_deferred",
});

text_enum!(Channel, "channel", { Window => "window", Online => "online", Agent => "agent" });

text_enum!(SubjectKind, "applicant kind", {
    NaturalPerson => "natural_person",
    EnterpriseLegalPerson => "enterprise_legal_person",
    PublicInstitution => "public_institution",
    SocialOrganization => "social_organization",
    UnincorporatedEnterprise => "unincorporated_enterprise",
    AdministrativeOrgan => "administrative_organ",
    OtherOrganization => "other_organization",
});

text_enum!(StepState, "step state", {
    Pending => "pending",
    Active => "active",
    Approved => "approved",
    Refused => "refused",
    DeemedApproved => "deemed_approved",
    Returned => "returned",
    Transferred => "transferred",
    Superseded => "superseded",
    Cancelled => "cancelled",
});

text_enum!(StepRole, "step role", {
    Review => "review",
    Decide => "decide",
    Countersign => "countersign",
});

text_enum!(Level, "level", { Village => "village", Township => "township", County => "county" });

text_enum!(Decision, "decision", {
    Approved => "approved",
    Disapproved => "disapproved",
    DeemedApproved => "deemed_approved",
    Terminated => "terminated",
});

text_enum!(TimeoutPolicy, "timeout policy", {
    Remind => "remind",
    Escalate => "escalate",
    DeemApproved => "deem_approved",
});

text_enum!(DueKind, "due item kind", {
    StepTimeout => "step_timeout",
    PartTimeout => "part_timeout",
    DeferredLapse => "deferred_lapse",
    SupplementLapse => "supplement_lapse",
} legacy { "case_timeout" => PartTimeout });

/// The state of a due item.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum DueState {
    Pending,
    Done,
    Cancelled,
}

text_enum!(DueState, "due item state", {
    Pending => "pending",
    Done => "done",
    Cancelled => "cancelled",
});

text_enum!(super::outbox::OutboxState, "outbox delivery state", {
    Pending => "pending",
    Delivered => "delivered",
    Dead => "dead",
});

text_enum!(NoticeKind, "notice kind", {
    Supplement => "supplement",
    Acceptance => "acceptance",
    Refusal => "refusal",
    DeferralCommitment => "deferral_commitment",
    ImmediateDecision => "immediate_decision",
    Approval => "approval",
    Disapproval => "disapproval",
    DeemedApproval => "deemed_approval",
    SpecialProcedure => "special_procedure",
    Extension => "extension",
    Termination => "termination",
    Withdrawal => "withdrawal",
    Lapse => "lapse",
    Dates => "dates",
});

text_enum!(EventKind, "event kind", {
    Intake => "intake",
    Supplement => "supplement",
    StepApproved => "step_approved",
    StepRefused => "step_refused",
    StepReturned => "step_returned",
    StepTransferred => "step_transferred",
    StepCountersignAdded => "step_countersign_added",
    StepOverdueReminded => "step_overdue_reminded",
    StepOverdueEscalated => "step_overdue_escalated",
    StepDeemedApproved => "step_deemed_approved",
    CaseOverdueReminded => "case_overdue_reminded",
    CaseOverdueEscalated => "case_overdue_escalated",
    CaseDeemedApproved => "case_deemed_approved",
    Decided => "decided",
    Paused => "paused",
    Resumed => "resumed",
    Extended => "extended",
    DeferredSupplied => "deferred_supplied",
    DeferredLapsed => "deferred_lapsed",
    Delivered => "delivered",
    Rated => "rated",
    FollowupClosed => "followup_closed",
    CatalogChanged => "catalog_changed",
    Withdrawn => "withdrawn",
    Lapsed => "lapsed",
    DatesSet => "dates_set",
});

// ---------------------------------------------------------------- values

pub(crate) fn day(d: NaiveDate) -> String {
    d.format("%Y-%m-%d").to_string()
}

pub(crate) fn parse_day(what: &str, s: &str) -> Result<NaiveDate, StoreError> {
    s.parse()
        .map_err(|_| StoreError::Corrupt(format!("{what}: not a date: {s:?}")))
}

fn opt_day(what: &str, s: Option<&str>) -> Result<Option<NaiveDate>, StoreError> {
    s.map(|s| parse_day(what, s)).transpose()
}

fn flag(b: bool) -> i64 {
    i64::from(b)
}

fn count(what: &str, n: i64) -> Result<u32, StoreError> {
    u32::try_from(n).map_err(|_| StoreError::Corrupt(format!("{what}: out of range: {n}")))
}

fn unit(what: &str, s: &str) -> Result<UnitId, StoreError> {
    s.parse()
        .map_err(|_| StoreError::Corrupt(format!("{what}: not a unit id: {s:?}")))
}

fn json<T: serde::de::DeserializeOwned>(what: &str, s: &str) -> Result<T, StoreError> {
    serde_json::from_str(s).map_err(|e| StoreError::Corrupt(format!("{what}: {e}")))
}

fn to_json<T: serde::Serialize>(v: &T) -> String {
    serde_json::to_string(v).unwrap_or_default()
}

/// A deadline stored as (working days, date) counted from `start`.
fn deadline(
    start: Option<NaiveDate>,
    days: Option<i64>,
    date: Option<&str>,
    what: &str,
) -> Result<Option<Deadline>, StoreError> {
    let date = opt_day(what, date)?;
    Ok(match (start, days) {
        (Some(start), Some(n)) => Some(Deadline {
            start,
            working_days: count(what, n)?,
            date,
        }),
        // Rows from before the count was stored: the date is known, the count is not needed
        // until the date is refreshed, which only pending dates are.
        (Some(start), None) => date.map(|d| Deadline {
            start,
            working_days: 0,
            date: Some(d),
        }),
        (None, _) => None,
    })
}

// ---------------------------------------------------------------- the case

/// The stored case decoded: its application and assessment as typed values.
pub fn case_of(row: &CaseRow) -> Result<Case, StoreError> {
    let what = |c: &str| format!("case {} {c}", row.id);
    Ok(Case {
        id: CaseId(row.id.clone()),
        subject: match &row.bundle_code {
            Some(b) => CaseSubject::Bundle(b.clone()),
            None => CaseSubject::Matter(row.matter_code.clone()),
        },
        status: CaseStatus::parse(&row.status)?,
        outcome: Outcome::parse(&row.outcome)?,
        place: CasePlace {
            center_id: row.center_id.clone(),
            township: row.township.clone(),
            village: row.village.clone(),
            window_id: row.window_id.clone(),
            channel: Channel::parse(&row.channel)?,
            clerk_id: row.clerk_id.clone(),
            agent_id: row.agent_id.clone(),
        },
        applicant: ApplicantRecord {
            kind: SubjectKind::parse(&row.applicant_kind)?,
            name: row.applicant_name.clone(),
            id_number: row.applicant_id_number.clone(),
        },
        catalog_hash: row.catalog_hash.clone(),
        application: json::<Application>(&what("application"), &row.application)?,
        assessment: json::<CaseAssessment>(&what("assessment"), &row.assessment)?,
        due_date: opt_day(&what("due_date"), row.due_date.as_deref())?,
        received_on: parse_day(&what("received_on"), &row.received_on)?,
        created_at_ms: row.created_at,
        updated_at_ms: row.updated_at,
        version: row.row_version,
    })
}

// ---------------------------------------------------------------- parts

pub(crate) fn part_row(case: &Case, p: &Part, now_ms: i64, rating: Option<u8>) -> PartRow {
    let days = |d: &Option<Deadline>| d.map(|d| i64::from(d.working_days));
    let date = |d: &Option<Deadline>| d.and_then(|d| d.date).map(day);
    PartRow {
        case_id: case.id.0.clone(),
        track: p.track.clone(),
        center_id: case.place.center_id.clone(),
        township: case.place.township.clone(),
        window_id: case.place.window_id.clone(),
        status: p.status.as_text().to_string(),
        supplement_notices: i64::from(p.supplement_notices),
        decider_unit: p.decider.to_string(),
        decider_level: p.decider_level.as_text().to_string(),
        immediate: flag(p.immediate),
        accepted_on: p.accepted_on.map(day),
        due_days: days(&p.due),
        due_date: date(&p.due),
        statutory_days: days(&p.statutory),
        statutory_due: date(&p.statutory),
        warn_days: days(&p.warn),
        warn_on: date(&p.warn),
        pause: p.pause.as_ref().map(to_json),
        paused_days: i64::from(p.paused_days),
        extensions: i64::from(p.extensions),
        escalated: flag(p.escalated),
        decision: p.decision.map(|d| d.decision.as_text().to_string()),
        decided_on: p.decision.map(|d| day(d.on)),
        on_time: p.decision.map(|d| flag(d.on_time)),
        days_used: p.decision.map(|d| i64::from(d.working_days_used)),
        delivery_due: date(&p.delivery_due),
        delivered_on: p.delivery.as_ref().map(|d| day(d.on)),
        delivery: p.delivery.as_ref().map(to_json),
        rating: rating.map(i64::from),
        updated_at: now_ms,
        supplement_due: p.supplement_due.as_ref().map(to_json),
    }
}

pub(crate) fn part_of(r: &PartRow) -> Result<Part, StoreError> {
    let what = |c: &str| format!("case {} part {} {c}", r.case_id, r.track);
    let accepted_on = opt_day(&what("accepted_on"), r.accepted_on.as_deref())?;
    let decided_on = opt_day(&what("decided_on"), r.decided_on.as_deref())?;
    let decision = match (&r.decision, decided_on) {
        (Some(d), Some(on)) => Some(DecisionRecord {
            decision: Decision::parse(d)?,
            on,
            on_time: r.on_time.unwrap_or(0) == 1,
            working_days_used: count(&what("days_used"), r.days_used.unwrap_or(0))?,
        }),
        _ => None,
    };
    Ok(Part {
        track: r.track.clone(),
        status: PartStatus::parse(&r.status)?,
        decider: unit(&what("decider_unit"), &r.decider_unit)?,
        decider_level: Level::parse(&r.decider_level)?,
        immediate: r.immediate == 1,
        supplement_notices: count(&what("supplement_notices"), r.supplement_notices)?,
        accepted_on,
        due: deadline(accepted_on, r.due_days, r.due_date.as_deref(), &what("due"))?,
        statutory: deadline(
            accepted_on,
            r.statutory_days,
            r.statutory_due.as_deref(),
            &what("statutory"),
        )?,
        warn: deadline(
            accepted_on,
            r.warn_days,
            r.warn_on.as_deref(),
            &what("warn"),
        )?,
        pause: r
            .pause
            .as_deref()
            .map(|p| json::<Pause>(&what("pause"), p))
            .transpose()?,
        paused_days: count(&what("paused_days"), r.paused_days)?,
        extensions: count(&what("extensions"), r.extensions)?,
        escalated: r.escalated == 1,
        decision,
        delivery_due: deadline(
            decided_on,
            decided_on.map(|_| i64::from(DELIVERY_DAYS)),
            r.delivery_due.as_deref(),
            &what("delivery_due"),
        )?,
        delivery: r
            .delivery
            .as_deref()
            .map(|d| json::<DeliveryRecord>(&what("delivery"), d))
            .transpose()?,
        supplement_due: r
            .supplement_due
            .as_deref()
            .map(|d| json::<Deadline>(&what("supplement_due"), d))
            .transpose()?,
    })
}

// ---------------------------------------------------------------- steps

pub(crate) fn step_row(case_id: &str, s: &Step, created_at: i64, now_ms: i64) -> StepRow {
    StepRow {
        id: s.id.clone(),
        case_id: case_id.to_string(),
        track: s.track.clone(),
        seq: i64::from(s.seq),
        group_no: i64::from(s.group),
        step_key: s.key.clone(),
        name: s.name.clone(),
        role: s.role.as_text().to_string(),
        unit_id: s.unit.to_string(),
        unit_name: s.unit_name.clone(),
        level: s.level.as_text().to_string(),
        state: s.state.as_text().to_string(),
        days: i64::from(s.days),
        started_on: s.started_on.map(day),
        due_date: s.due.and_then(|d| d.date).map(day),
        warn_on: s.warn.and_then(|d| d.date).map(day),
        allow_countersign: flag(s.allow_countersign),
        refusal_decides: flag(s.refusal_decides),
        timeout_policy: s.timeout.as_text().to_string(),
        acted_by: s.acted.as_ref().map(|a| a.by.clone()),
        acted_on: s.acted.as_ref().map(|a| day(a.on)),
        comment: s.acted.as_ref().and_then(|a| a.comment.clone()),
        basis: s.acted.as_ref().and_then(|a| a.basis.clone()),
        created_at,
        updated_at: now_ms,
        due_days: s.due.map(|d| i64::from(d.working_days)),
        warn_days: s.warn.map(|d| i64::from(d.working_days)),
        escalated: flag(s.escalated),
    }
}

pub(crate) fn step_of(r: &StepRow) -> Result<Step, StoreError> {
    let what = |c: &str| format!("step {} {c}", r.id);
    let started_on = opt_day(&what("started_on"), r.started_on.as_deref())?;
    let acted = match (
        &r.acted_by,
        opt_day(&what("acted_on"), r.acted_on.as_deref())?,
    ) {
        (Some(by), Some(on)) => Some(StepAct {
            by: by.clone(),
            on,
            comment: r.comment.clone(),
            basis: r.basis.clone(),
        }),
        _ => None,
    };
    Ok(Step {
        id: r.id.clone(),
        track: r.track.clone(),
        seq: count(&what("seq"), r.seq)?,
        group: count(&what("group_no"), r.group_no)?,
        key: r.step_key.clone(),
        name: r.name.clone(),
        role: StepRole::parse(&r.role)?,
        unit: unit(&what("unit_id"), &r.unit_id)?,
        unit_name: r.unit_name.clone(),
        level: Level::parse(&r.level)?,
        state: StepState::parse(&r.state)?,
        days: count(&what("days"), r.days)?,
        started_on,
        due: deadline(
            started_on,
            Some(r.due_days.unwrap_or(r.days)),
            r.due_date.as_deref(),
            &what("due"),
        )?,
        warn: deadline(started_on, r.warn_days, r.warn_on.as_deref(), &what("warn"))?,
        allow_countersign: r.allow_countersign == 1,
        refusal_decides: r.refusal_decides == 1,
        timeout: TimeoutPolicy::parse(&r.timeout_policy)?,
        escalated: r.escalated == 1,
        acted,
    })
}

// ---------------------------------------------------------------- ratings

fn subject_text(s: &RatingSubject) -> String {
    match s {
        RatingSubject::Case => "case".into(),
        RatingSubject::Notice(id) => format!("notice:{id}"),
        RatingSubject::Delivery(track) => format!("delivery:{track}"),
    }
}

fn subject_of(s: &str) -> Result<RatingSubject, StoreError> {
    if s == "case" {
        return Ok(RatingSubject::Case);
    }
    if let Some(id) = s.strip_prefix("notice:") {
        return Ok(RatingSubject::Notice(id.to_string()));
    }
    if let Some(t) = s.strip_prefix("delivery:") {
        return Ok(RatingSubject::Delivery(t.to_string()));
    }
    Err(StoreError::Corrupt(format!("unknown rating subject {s:?}")))
}

pub(crate) fn rating_row(case_id: &str, r: &Rating, now_ms: i64) -> RatingRow {
    let f = r.followup.as_ref();
    RatingRow {
        case_id: case_id.to_string(),
        subject: subject_text(&r.subject),
        level: i64::from(r.level),
        comment: r.comment.clone(),
        rated_on: day(r.on),
        rated_by: r.by.clone(),
        followup_due: f.and_then(|f| f.due).map(day),
        followup_closed_on: f.and_then(|f| f.closed_on).map(day),
        followup_closed_by: f.and_then(|f| f.closed_by.clone()),
        followup_note: f.and_then(|f| f.note.clone()),
        followup_callback: f.and_then(|f| f.callback.clone()),
        created_at: now_ms,
    }
}

pub(crate) fn rating_of(r: &RatingRow) -> Result<Rating, StoreError> {
    let what = |c: &str| format!("case {} rating {c}", r.case_id);
    let due = opt_day(&what("followup_due"), r.followup_due.as_deref())?;
    let closed_on = opt_day(&what("followup_closed_on"), r.followup_closed_on.as_deref())?;
    let followup = (due.is_some() || closed_on.is_some()).then(|| Followup {
        due,
        closed_on,
        closed_by: r.followup_closed_by.clone(),
        note: r.followup_note.clone(),
        callback: r.followup_callback.clone(),
    });
    Ok(Rating {
        subject: subject_of(&r.subject)?,
        level: u8::try_from(r.level)
            .map_err(|_| StoreError::Corrupt(format!("rating level {}", r.level)))?,
        comment: r.comment.clone(),
        on: parse_day(&what("rated_on"), &r.rated_on)?,
        by: r.rated_by.clone(),
        followup,
    })
}

// ---------------------------------------------------------------- due items

/// A stored due item: its id (for the done-once guard) and what it says.
pub(crate) fn due_item_of(r: &DueItemRow) -> Result<(i64, String, DueItem), StoreError> {
    Ok((
        r.id,
        r.case_id.clone(),
        DueItem {
            kind: DueKind::parse(&r.kind)?,
            track: r.track.clone(),
            step_id: r.step_id.clone(),
            due_on: parse_day(&format!("due item {} due_on", r.id), &r.due_on)?,
        },
    ))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn round_trip<T: AsText + PartialEq + std::fmt::Debug>(all: &[T]) {
        let mut seen = std::collections::BTreeSet::new();
        for &v in all {
            assert!(seen.insert(v.as_text()), "{v:?} shares its text");
            assert_eq!(T::from_text(v.as_text()), Some(v));
        }
        assert!(T::parse("no such value").is_err());
    }

    #[test]
    fn every_state_and_kind_round_trips_through_its_text() {
        use CaseStatus as C;
        round_trip(&[
            C::AwaitingSupplement,
            C::Refused,
            C::Accepted,
            C::Paused,
            C::Completed,
            C::Decided,
            C::Delivered,
            C::Terminated,
            C::Withdrawn,
            C::Lapsed,
        ]);
        use PartStatus as P;
        round_trip(&[
            P::AwaitingSupplement,
            P::Refused,
            P::InProgress,
            P::Paused,
            P::Decided,
            P::Terminated,
            P::Withdrawn,
            P::Lapsed,
        ]);
        round_trip(&[
            Decision::Approved,
            Decision::Disapproved,
            Decision::DeemedApproved,
            Decision::Terminated,
        ]);
        round_trip(&[
            DueKind::StepTimeout,
            DueKind::PartTimeout,
            DueKind::DeferredLapse,
            DueKind::SupplementLapse,
        ]);
        round_trip(&NoticeKind::ALL);
        use StepState as S;
        round_trip(&[
            S::Pending,
            S::Active,
            S::Approved,
            S::Refused,
            S::DeemedApproved,
            S::Returned,
            S::Transferred,
            S::Superseded,
            S::Cancelled,
        ]);
    }

    #[test]
    fn legacy_names_are_read_and_never_written() {
        assert_eq!(
            CaseStatus::parse("in_progress").ok(),
            Some(CaseStatus::Accepted)
        );
        assert_eq!(CaseStatus::Accepted.as_text(), "accepted");
        assert_eq!(
            DueKind::parse("case_timeout").ok(),
            Some(DueKind::PartTimeout)
        );
        assert_eq!(DueKind::PartTimeout.as_text(), "part_timeout");
    }

    /// The stored names are those serde gives the types in the API, so a client sees the same
    /// words in a case's JSON as the database holds.
    #[test]
    fn stored_names_agree_with_the_api_names() {
        fn same<T: AsText + serde::Serialize>(v: T) {
            assert_eq!(serde_json::to_value(v).unwrap(), v.as_text());
        }
        same(CaseStatus::AwaitingSupplement);
        same(PartStatus::InProgress);
        same(Outcome::AcceptedDeferred);
        same(Channel::Agent);
        same(SubjectKind::EnterpriseLegalPerson);
        same(StepState::DeemedApproved);
        same(StepRole::Countersign);
        same(Level::Township);
        same(Decision::DeemedApproved);
        same(TimeoutPolicy::DeemApproved);
        same(DueKind::DeferredLapse);
        same(EventKind::StepCountersignAdded);
        for k in NoticeKind::ALL {
            same(k);
        }
    }

    #[test]
    fn rating_subjects_round_trip() {
        for s in [
            RatingSubject::Case,
            RatingSubject::Notice("N1".into()),
            RatingSubject::Delivery("QS-MZ-001".into()),
        ] {
            assert_eq!(subject_of(&subject_text(&s)).unwrap(), s);
        }
        assert!(subject_of("other").is_err());
    }
}
