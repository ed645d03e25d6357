//! The steps of a case's route after acceptance (后台审批): one track per matter, groups of
//! steps that run in parallel (联办), and the pure rules that start the next group and decide a
//! track.

use chrono::NaiveDate;
use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

use super::deadline::{Colour, Deadline, WorkingDays};
use super::matter::{Level, StepRole, TimeoutPolicy};
use super::unit::UnitId;

/// Where a step stands.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "snake_case")]
pub enum StepState {
    /// Waiting for an earlier group.
    Pending,
    /// With its unit now.
    Active,
    Approved,
    Refused,
    /// 超时默认: the time ran out and the matter's policy deems it approved.
    DeemedApproved,
    /// Sent back (退回) to an earlier step; a fresh copy runs again.
    Returned,
    /// Passed to another unit (转办); a copy at that unit takes over.
    Transferred,
    /// Replaced by a fresh copy after a return.
    Superseded,
    /// Ended without action (the case was decided, withdrawn or ended otherwise).
    Cancelled,
}

impl StepState {
    /// Pending or active: the route still needs it.
    pub fn is_live(self) -> bool {
        matches!(self, Self::Pending | Self::Active)
    }

    /// Whether the step counts for the route (it was not replaced by a copy).
    pub fn counts(self) -> bool {
        !matches!(
            self,
            Self::Returned | Self::Transferred | Self::Superseded | Self::Cancelled
        )
    }
}

/// What a unit did with a step.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
pub struct StepAct {
    pub by: String,
    pub on: NaiveDate,
    /// The opinion or reason (a review's opinion is forwarded with the case, Art. 35).
    pub comment: Option<String>,
    pub basis: Option<String>,
}

/// One step of a case's route.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
pub struct Step {
    /// `<case id>-S<nn>`.
    pub id: String,
    /// The matter this step belongs to.
    pub track: String,
    /// Position in the case (steps added later come after).
    pub seq: u32,
    /// Steps of one group run in parallel; groups run in order.
    pub group: u32,
    /// The step's id in the route (a countersign gets `<key>+countersign`).
    pub key: String,
    pub name: String,
    pub role: StepRole,
    pub unit: UnitId,
    pub unit_name: String,
    pub level: Level,
    pub state: StepState,
    /// Working days the route gives the step.
    pub days: u32,
    pub started_on: Option<NaiveDate>,
    pub due: Option<Deadline>,
    /// Yellow from this deadline.
    pub warn: Option<Deadline>,
    pub allow_countersign: bool,
    /// Whether a refusal here decides the matter.
    pub refusal_decides: bool,
    pub timeout: TimeoutPolicy,
    /// Escalated to the supervisor after its time ran out.
    pub escalated: bool,
    pub acted: Option<StepAct>,
}

impl Step {
    /// Start the step today: its deadlines run from today.
    pub fn start(&mut self, today: NaiveDate, days: &WorkingDays) {
        self.state = StepState::Active;
        self.started_on = Some(today);
        self.due = Some(days.deadline(today, self.days));
        self.warn = Some(days.warning(today, self.days));
    }

    /// The colour of an active step today (`None` for other states).
    pub fn colour(&self, today: NaiveDate) -> Option<Colour> {
        (self.state == StepState::Active)
            .then(|| Colour::of(today, self.warn.as_ref(), self.due.as_ref()))
    }

    /// A countersigning copy added by 加签.
    pub fn is_countersign(&self) -> bool {
        self.role == StepRole::Countersign && self.key.ends_with("+countersign")
    }
}

/// The decision of a matter after its route.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "snake_case")]
pub enum Decision {
    /// 准予
    Approved,
    /// 不予
    Disapproved,
    /// 超时默认: deemed approved.
    DeemedApproved,
    /// 终止办理 (容缺 materials not supplied in time).
    Terminated,
}

impl Decision {
    /// Whether there is a result to hand over (a licence, a certificate, a payment decision).
    pub fn has_result(self) -> bool {
        matches!(self, Self::Approved | Self::DeemedApproved)
    }

    pub fn label(self) -> &'static str {
        match self {
            Self::Approved => "准予",
            Self::Disapproved => "不予",
            Self::DeemedApproved => "超时默认准予",
            Self::Terminated => "终止办理",
        }
    }
}

/// The decision of one track, once it has one: a deciding refusal, or every step done.
pub fn track_decision(steps: &[Step], track: &str) -> Option<Decision> {
    let mine: Vec<&Step> = steps
        .iter()
        .filter(|s| s.track == track && s.state.counts())
        .collect();
    if mine
        .iter()
        .any(|s| s.state == StepState::Refused && s.refusal_decides)
    {
        return Some(Decision::Disapproved);
    }
    if mine.is_empty() || mine.iter().any(|s| s.state.is_live()) {
        return None;
    }
    if mine.iter().any(|s| s.state == StepState::DeemedApproved) {
        Some(Decision::DeemedApproved)
    } else {
        Some(Decision::Approved)
    }
}

/// Starts, in `track`, the next group once every step of the current one has finished. Returns
/// the indices of the steps started.
pub fn activate_next(
    steps: &mut [Step],
    track: &str,
    today: NaiveDate,
    days: &WorkingDays,
) -> Vec<usize> {
    if track_decision(steps, track).is_some() {
        return Vec::new();
    }
    let Some(group) = steps
        .iter()
        .filter(|s| s.track == track && s.state.is_live())
        .map(|s| s.group)
        .min()
    else {
        return Vec::new();
    };
    let mut started = Vec::new();
    for (i, s) in steps.iter_mut().enumerate() {
        if s.track == track && s.group == group && s.state == StepState::Pending {
            s.start(today, days);
            started.push(i);
        }
    }
    started
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;

    pub fn step(id: &str, track: &str, group: u32, state: StepState) -> Step {
        Step {
            id: id.into(),
            track: track.into(),
            seq: 0,
            group,
            key: id.into(),
            name: id.into(),
            role: StepRole::Decide,
            unit: UnitId::department("qingshan", "health"),
            unit_name: "县卫生健康局".into(),
            level: Level::County,
            state,
            days: 5,
            started_on: None,
            due: None,
            warn: None,
            allow_countersign: false,
            refusal_decides: true,
            timeout: TimeoutPolicy::Remind,
            escalated: false,
            acted: None,
        }
    }

    #[test]
    fn a_parallel_group_needs_every_department() {
        use StepState::*;
        let mut steps = vec![step("a", "m", 0, Approved), step("b", "m", 0, Active)];
        assert_eq!(track_decision(&steps, "m"), None);
        steps[1].state = Approved;
        assert_eq!(track_decision(&steps, "m"), Some(Decision::Approved));
    }

    #[test]
    fn one_refusal_decides_unless_the_rule_says_otherwise() {
        use StepState::*;
        let mut steps = vec![step("a", "m", 0, Refused), step("b", "m", 0, Active)];
        assert_eq!(track_decision(&steps, "m"), Some(Decision::Disapproved));
        steps[0].refusal_decides = false;
        assert_eq!(track_decision(&steps, "m"), None);
        steps[1].state = Approved;
        assert_eq!(track_decision(&steps, "m"), Some(Decision::Approved));
    }

    #[test]
    fn replaced_steps_do_not_count_and_a_deemed_step_marks_the_decision() {
        use StepState::*;
        let steps = vec![
            step("a", "m", 0, Returned),
            step("b", "m", 0, DeemedApproved),
            step("c", "n", 0, Approved),
            step("d", "n", 1, Superseded),
        ];
        assert_eq!(track_decision(&steps, "m"), Some(Decision::DeemedApproved));
        assert_eq!(track_decision(&steps, "n"), Some(Decision::Approved));
        assert_eq!(track_decision(&steps, "other"), None);
    }
}
