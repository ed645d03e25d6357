//! Who may do what with a case: one policy, asked by every endpoint that reads or changes a case.
//!
//! A user who may not even read a case is told it does not exist (404, the same answer as for
//! an unknown id), so case ids cannot be probed; a user who may read it but not do this is
//! refused with the reason (403). The domain then checks what the policy cannot see (that the
//! step is the actor's, that the case is in a state that allows it).

use crate::auth::{Role, User};

/// What a user wants to do with a case.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Action {
    /// Read the case, its notices, progress and history.
    Read,
    /// 补正: corrections and materials for a one-time notice.
    Supplement,
    /// Approve, refuse, return, transfer or countersign one of its steps.
    ActOnStep,
    /// 特别程序 start or end, Art. 42 extension.
    HoldClock,
    /// Hand in 容缺 materials.
    SupplyDeferred,
    /// Hand over a result (统一窗口出件).
    Deliver,
    /// Record the applicant's 好差评.
    Rate,
    /// Close the follow-up of a 差评.
    CloseFollowup,
    /// 撤回 at the applicant's request.
    Withdraw,
}

/// What the policy needs to know about a case.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct CaseFacts {
    /// The center that took it (a township id or the county id).
    pub center_id: String,
    /// The village agent who submitted it.
    pub agent_id: Option<String>,
    /// Units that hold or held a started step (`<place>/<department>` or `<place>/center`;
    /// after transfers and countersigns too).
    pub step_units: Vec<String>,
}

/// Why not.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Denied {
    /// The user may not see the case at all: answered as if it did not exist.
    NotInScope,
    /// The user sees the case but may not do this; the reason is for the user.
    Forbidden(&'static str),
}

/// The units a user acts for on a route: an approver's department, or a clerk's center.
pub fn units_of(user: &User) -> Vec<String> {
    match user.role {
        Role::Approver => vec![user.unit.clone()],
        Role::Clerk => vec![format!("{}/center", user.unit)],
        _ => Vec::new(),
    }
}

fn acts_for_any(user: &User, units: &[String]) -> bool {
    units_of(user).iter().any(|u| units.contains(u))
}

/// Whether the user serves the case at the window: a clerk of its center, or the village agent
/// who submitted it.
fn serves(user: &User, case: &CaseFacts) -> bool {
    match user.role {
        Role::Clerk => user.unit == case.center_id,
        Role::Agent => case.agent_id.as_deref() == Some(user.id.as_str()),
        _ => false,
    }
}

/// Whether the user may read the case: its center's clerks and supervisors, the county's
/// supervisors and admins, the agent who submitted it, and the units that hold or held one of
/// its steps (an approver sees a case once it reached the approver's department).
pub fn may_read(user: &User, county: &str, case: &CaseFacts) -> bool {
    match user.role {
        Role::Admin => true,
        Role::Supervisor => user.unit == county || user.unit == case.center_id,
        Role::Clerk => user.unit == case.center_id || acts_for_any(user, &case.step_units),
        Role::Agent => case.agent_id.as_deref() == Some(user.id.as_str()),
        Role::Approver => acts_for_any(user, &case.step_units),
    }
}

/// The policy: may `user` do `action` with the case described by `case`? `county` is the
/// county's id (its supervisors oversee every center).
pub fn authorize(
    user: &User,
    county: &str,
    action: Action,
    case: &CaseFacts,
) -> Result<(), Denied> {
    if !may_read(user, county, case) {
        return Err(Denied::NotInScope);
    }
    let (allowed, reason) = match action {
        Action::Read => (true, ""),
        Action::Supplement => (
            serves(user, case),
            "补正材料由受理本办件的窗口或提交申请的代办员接收",
        ),
        // A unit that holds or held a step: the domain then tells it whether this step (or a
        // matter it holds) still allows the change.
        Action::ActOnStep => (
            acts_for_any(user, &case.step_units),
            "只有办理本办件环节的单位可以办理",
        ),
        Action::HoldClock => (
            acts_for_any(user, &case.step_units),
            "只有正在办理本办件环节的单位可以启动特别程序或延长期限",
        ),
        Action::SupplyDeferred => (serves(user, case), "容缺材料由受理本办件的窗口或代办员接收"),
        Action::Deliver => (
            serves(user, case),
            "结果由受理本办件的中心统一出件窗口（或代办员）送达",
        ),
        Action::Rate => (
            serves(user, case),
            "评价由受理本办件的窗口（或代办员）为申请人登记",
        ),
        Action::CloseFollowup => (
            user.role == Role::Supervisor,
            "差评整改由本中心或县级督查人员办结",
        ),
        Action::Withdraw => (
            serves(user, case),
            "撤回申请由受理本办件的窗口（或提交申请的代办员）按申请人的要求登记",
        ),
    };
    if allowed {
        Ok(())
    } else {
        Err(Denied::Forbidden(reason))
    }
}

/// Who, towards a case, in the policy's table.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Relation {
    /// A clerk of the center that took the case.
    CenterClerk,
    /// A clerk of another center.
    OtherClerk,
    /// The agent who submitted it.
    OwnAgent,
    /// Another village's agent.
    OtherAgent,
    /// An approver of the department with the active step.
    ActiveApprover,
    /// An approver of a department that had a step earlier.
    FormerApprover,
    /// An approver of a department the case has not reached.
    OtherApprover,
    /// A supervisor of the case's township.
    CenterSupervisor,
    /// A county supervisor.
    CountySupervisor,
    /// A supervisor of another township.
    OtherSupervisor,
    Admin,
}

/// The expected answer of the policy.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Expect {
    Allowed,
    /// 403
    Forbidden,
    /// 404
    NotFound,
}

/// The policy as a table: for every relation and action, the answer. The unit tests check
/// [`authorize`] against it; the HTTP access matrix (tests/api/access_matrix.rs) calls the
/// endpoints with it.
pub const TABLE: &[(Relation, [Expect; 9])] = {
    use Expect::{Allowed as A, Forbidden as F, NotFound as N};
    // Read, Supplement, ActOnStep, HoldClock, SupplyDeferred, Deliver, Rate, CloseFollowup,
    // Withdraw
    &[
        (Relation::CenterClerk, [A, A, F, F, A, A, A, F, A]),
        (Relation::OtherClerk, [N, N, N, N, N, N, N, N, N]),
        (Relation::OwnAgent, [A, A, F, F, A, A, A, F, A]),
        (Relation::OtherAgent, [N, N, N, N, N, N, N, N, N]),
        (Relation::ActiveApprover, [A, F, A, A, F, F, F, F, F]),
        // Reaches the domain, which answers 409 for a step no longer active.
        (Relation::FormerApprover, [A, F, A, A, F, F, F, F, F]),
        (Relation::OtherApprover, [N, N, N, N, N, N, N, N, N]),
        (Relation::CenterSupervisor, [A, F, F, F, F, F, F, A, F]),
        (Relation::CountySupervisor, [A, F, F, F, F, F, F, A, F]),
        (Relation::OtherSupervisor, [N, N, N, N, N, N, N, N, N]),
        (Relation::Admin, [A, F, F, F, F, F, F, F, F]),
    ]
};

/// The actions in the order of the table's columns.
pub const ACTIONS: [Action; 9] = [
    Action::Read,
    Action::Supplement,
    Action::ActOnStep,
    Action::HoldClock,
    Action::SupplyDeferred,
    Action::Deliver,
    Action::Rate,
    Action::CloseFollowup,
    Action::Withdraw,
];

#[cfg(test)]
mod tests {
    use super::*;

    const COUNTY: &str = "qingshi";

    fn user(role: Role, unit: &str, id: &str) -> User {
        User {
            id: id.into(),
            name: id.into(),
            role,
            unit: unit.into(),
            window: None,
        }
    }

    fn user_for(r: Relation) -> User {
        match r {
            Relation::CenterClerk => user(Role::Clerk, "baishui", "c1"),
            Relation::OtherClerk => user(Role::Clerk, "dongguan", "c2"),
            Relation::OwnAgent => user(Role::Agent, "baishui-v1", "a1"),
            Relation::OtherAgent => user(Role::Agent, "baishui-v2", "a2"),
            Relation::ActiveApprover => user(Role::Approver, "qingshi/health", "p1"),
            Relation::FormerApprover => user(Role::Approver, "baishui/social-affairs", "p2"),
            Relation::OtherApprover => user(Role::Approver, "qingshi/market", "p3"),
            Relation::CenterSupervisor => user(Role::Supervisor, "baishui", "s1"),
            Relation::CountySupervisor => user(Role::Supervisor, COUNTY, "s2"),
            Relation::OtherSupervisor => user(Role::Supervisor, "dongguan", "s3"),
            Relation::Admin => user(Role::Admin, COUNTY, "admin"),
        }
    }

    fn case() -> CaseFacts {
        CaseFacts {
            center_id: "baishui".into(),
            agent_id: Some("a1".into()),
            step_units: vec!["baishui/social-affairs".into(), "qingshi/health".into()],
        }
    }

    #[test]
    fn the_policy_answers_as_its_table_says() {
        let case = case();
        for (relation, row) in TABLE {
            let u = user_for(*relation);
            for (action, expect) in ACTIONS.iter().zip(row) {
                let got = match authorize(&u, COUNTY, *action, &case) {
                    Ok(()) => Expect::Allowed,
                    Err(Denied::Forbidden(reason)) => {
                        assert!(!reason.is_empty());
                        Expect::Forbidden
                    }
                    Err(Denied::NotInScope) => Expect::NotFound,
                };
                assert_eq!(got, *expect, "{relation:?} {action:?}");
            }
        }
    }

    #[test]
    fn a_clerk_holding_a_step_acts_on_it_like_an_approver() {
        let mut case = case();
        case.center_id = "dongguan".into();
        case.step_units = vec!["baishui/center".into()];
        let clerk = user_for(Relation::CenterClerk);
        assert_eq!(authorize(&clerk, COUNTY, Action::Read, &case), Ok(()));
        assert_eq!(authorize(&clerk, COUNTY, Action::ActOnStep, &case), Ok(()));
        assert!(matches!(
            authorize(&clerk, COUNTY, Action::Deliver, &case),
            Err(Denied::Forbidden(_))
        ));
    }
}
