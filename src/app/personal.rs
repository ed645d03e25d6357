//! Reads of personal data: who sees full values, the append-only read log and its query.
//!
//! | role       | case detail, notices, history, print | list and search answers      |
//! |------------|--------------------------------------|------------------------------|
//! | clerk      | full (logged)                        | full (logged, one per case)  |
//! | agent      | full, own cases (logged)             | full, own cases (logged)     |
//! | approver   | full, cases on their route (logged)  | — (no case search)           |
//! | supervisor | full (logged)                        | name and ID number masked    |
//! | admin      | full (logged)                        | name and ID number masked    |

use super::{App, AppError};
use crate::auth::{Role, User};
use crate::store::{NewRead, ReadFilter, ReadRow};

/// Whether `role` sees names and ID numbers unmasked in list and search answers: those who take
/// applications at the window or in the village and must match the person in front of them.
pub fn sees_full_lists(role: Role) -> bool {
    matches!(role, Role::Clerk | Role::Agent)
}

/// Records that `user` read the personal data of `case_ids` through `endpoint` (the route
/// pattern). Committed before the answer is sent: a read that cannot be logged is not answered.
pub fn log_reads<'a>(
    app: &App,
    user: &User,
    case_ids: impl IntoIterator<Item = &'a str>,
    endpoint: &str,
) -> Result<(), AppError> {
    let at = app.clock.now_ms();
    let reads: Vec<NewRead> = case_ids
        .into_iter()
        .map(|c| NewRead {
            at,
            user_id: user.id.clone(),
            role: user.role.as_str().to_string(),
            case_id: c.to_string(),
            endpoint: endpoint.to_string(),
        })
        .collect();
    Ok(app.store.log_reads(reads)?)
}

/// The read log, for admins and supervisors.
pub fn reads(app: &App, user: &User, filter: &ReadFilter) -> Result<(Vec<ReadRow>, i64), AppError> {
    if !matches!(user.role, Role::Admin | Role::Supervisor) {
        return Err(AppError::Forbidden(
            "个人信息查阅记录仅向管理员和督查人员开放".into(),
        ));
    }
    // A township's supervisor sees the reads of that center's cases; the county's, all.
    let scope = super::supervise::supervision_scope(app, user)?;
    let filter = ReadFilter {
        center_id: scope.or_else(|| filter.center_id.clone()),
        ..filter.clone()
    };
    Ok(app.store.personal_data_reads(&filter)?)
}
