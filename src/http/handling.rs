//! Routes of the handling after acceptance: approver inbox and step actions, 特别程序 and
//! extensions, 容缺 materials, delivery, rating, supervision figures and the scheduler. The
//! request bodies are this layer's; each becomes a domain command for `app::handling::change`.

use crate::error_code::ErrorCode;
use actix_web::{web, HttpResponse};
use chrono::NaiveDate;
use serde::{Deserialize, Serialize};

use super::dto::NoticeView;
use super::error::ApiError;
use super::extract::{Body, Checked, RetryKey};
use super::{blocking, ApiResult, Auth, Data};
use crate::app::access::Action;
use crate::app::handling::{self, ActionResult, Progress};
use crate::app::{scheduler, supervise, App, AppError};
use crate::auth::{Role, User};
use crate::domain::application::PresentedMaterial;
use crate::domain::handling::{Command, Delivery, RatingSubject, StepCommand};
use crate::domain::matter::SpecialProcedureKind;
use crate::domain::unit::UnitId;
use crate::store::RequestKey;

/// What an approver does with a step.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, schemars::JsonSchema)]
#[serde(tag = "action", rename_all = "snake_case", deny_unknown_fields)]
pub enum StepAction {
    /// 同意 (for a review step: forward the opinion and all materials to the next step).
    Approve {
        #[serde(default)]
        comment: Option<String>,
    },
    /// 不同意, with the reason and legal basis.
    Refuse {
        reason: String,
        basis: String,
        #[serde(default)]
        comment: Option<String>,
    },
    /// 退回 to an earlier step of the route, by its step key.
    Return { to_step: String, reason: String },
    /// 转办 to another unit (`<place>/<department>`).
    Transfer { unit: String, reason: String },
    /// 加签: add a countersigning department alongside this step.
    Countersign { unit: String, reason: String },
}

fn unit_named(unit: &str) -> Result<UnitId, AppError> {
    unit.parse().map_err(|_| {
        AppError::invalid(
            ErrorCode::UnknownUnit,
            format!("单位 {unit} 不是本县或本办件所在乡镇的部门，不能转办或加签"),
        )
    })
}

impl TryFrom<StepAction> for StepCommand {
    type Error = AppError;
    fn try_from(a: StepAction) -> Result<Self, AppError> {
        Ok(match a {
            StepAction::Approve { comment } => StepCommand::Approve { comment },
            StepAction::Refuse {
                reason,
                basis,
                comment,
            } => StepCommand::Refuse {
                reason,
                basis,
                comment,
            },
            StepAction::Return { to_step, reason } => StepCommand::Return { to_step, reason },
            StepAction::Transfer { unit, reason } => StepCommand::Transfer {
                unit: unit_named(&unit)?,
                reason,
            },
            StepAction::Countersign { unit, reason } => StepCommand::Countersign {
                unit: unit_named(&unit)?,
                reason,
            },
        })
    }
}

/// 特别程序 (Art. 45): the clock of the matters the unit holds stops from today until resumed.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, schemars::JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct PauseRequest {
    pub kind: SpecialProcedureKind,
    pub reason: String,
    /// Expected end (told to the applicant).
    pub expected_end: NaiveDate,
}

/// Art. 42 extension, approved by the head of the agency.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, schemars::JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct ExtensionRequest {
    /// The head who approved it (本机关负责人 / 本级人民政府负责人).
    pub approved_by: String,
    pub reason: String,
}

/// 容缺 materials handed in.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, schemars::JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct DeferredSupply {
    pub materials: Vec<PresentedMaterial>,
}

/// How a result reached the applicant (统一窗口出件).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, schemars::JsonSchema)]
pub struct DeliveryRequest {
    /// Within a bundle, the matter whose result is handed over (each matter's result is its
    /// own); omitted: every result ready for delivery.
    #[serde(default)]
    pub matter: Option<String>,
    #[serde(flatten)]
    pub method: Delivery,
}

/// 好差评: five levels, 5 = 非常满意 … 1 = 非常不满意.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, schemars::JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct RatingRequest {
    pub level: u8,
    #[serde(default)]
    pub comment: Option<String>,
    /// Rate one notice the applicant received (一次一评), by its id. Without `notice` and
    /// `delivery`: the case as a whole (一事一评), once it has ended.
    #[serde(default)]
    pub notice: Option<String>,
    /// Rate the handing over of a matter's result, by the matter's code.
    #[serde(default)]
    pub delivery: Option<String>,
}

/// Closing the follow-up of a 差评.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, schemars::JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct FollowupClose {
    /// What was done (整改情况、回访结果).
    pub note: String,
    /// The applicant's answer when called back (回访).
    #[serde(default)]
    pub callback: Option<String>,
}

impl Checked for StepAction {}
impl Checked for PauseRequest {}
impl Checked for ExtensionRequest {}
impl Checked for DeferredSupply {}
impl Checked for DeliveryRequest {}
impl Checked for RatingRequest {}
impl Checked for FollowupClose {}
impl Checked for WithdrawalRequest {}

/// 撤回: the applicant's request to withdraw, recorded by the window.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, schemars::JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct WithdrawalRequest {
    /// Why the applicant withdraws (as the applicant states it).
    pub reason: String,
}

#[derive(Debug, Serialize, schemars::JsonSchema)]
pub struct ActionResponse {
    pub progress: Progress,
    pub notices: Vec<NoticeView>,
}

/// The answer to a change, and whether it answers a retry of one already committed.
fn respond(
    app: &App,
    user: &User,
    done: Result<ActionResult, AppError>,
) -> Result<(ActionResponse, bool), AppError> {
    let done = done?;
    // Whoever acted on a case may read it: a unit that held one of its steps, or the case's
    // own readers.
    let progress = handling::progress(app, user, &done.case.id)?;
    let body = ActionResponse {
        progress,
        notices: done.notices.iter().map(NoticeView::from).collect(),
    };
    Ok((body, done.replayed))
}

/// Run a change on a blocking thread and answer with the case's progress and the notices it
/// numbered (a retry under the same Idempotency-Key: those the first request numbered, with
/// `Idempotent-Replayed: true`).
async fn answer<F>(app: Data, auth: Auth, f: F) -> ApiResult<HttpResponse>
where
    F: FnOnce(&App, &User) -> Result<ActionResult, AppError> + Send + 'static,
{
    let a = app.into_inner();
    let (body, replayed) = blocking(move || {
        let done = f(&a, &auth.0);
        respond(&a, &auth.0, done)
    })
    .await?;
    Ok(super::replayed_header(HttpResponse::Ok(), replayed).json(body))
}

/// Carry out a command on a case (the app retries a case changed meanwhile).
async fn run(
    app: Data,
    auth: Auth,
    case_id: String,
    action: Action,
    command: Command,
    key: Option<RequestKey>,
) -> ApiResult<HttpResponse> {
    answer(app, auth, move |a, u| {
        handling::change(a, u, &case_id, action, &command, key.as_ref())
    })
    .await
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct LimitQuery {
    /// At most this many (1–1000, default 200).
    pub limit: Option<u32>,
}

fn limit_of(q: &LimitQuery) -> ApiResult<i64> {
    let l = i64::from(q.limit.unwrap_or(200));
    if !(1..=1000).contains(&l) {
        return Err(ApiError::new(
            ErrorCode::InvalidQuery,
            "limit 应在1到1000之间",
        ));
    }
    Ok(l)
}

async fn inbox(app: Data, auth: Auth, q: web::Query<LimitQuery>) -> ApiResult<HttpResponse> {
    let limit = limit_of(&q)?;
    let a = app.into_inner();
    let steps = blocking(move || handling::inbox(&a, &auth.0, limit)).await?;
    Ok(HttpResponse::Ok().json(steps))
}

async fn progress(app: Data, auth: Auth, id: web::Path<String>) -> ApiResult<HttpResponse> {
    let a = app.into_inner();
    let id = id.into_inner();
    let p = blocking(move || handling::progress(&a, &auth.0, &id)).await?;
    Ok(HttpResponse::Ok().json(p))
}

async fn step_action(
    app: Data,
    auth: Auth,
    retry: RetryKey,
    path: web::Path<(String, String)>,
    body: Body<StepAction>,
) -> ApiResult<HttpResponse> {
    let (case_id, step) = path.into_inner();
    let key = retry.of_change(&auth.0, &body.0);
    let action = StepCommand::try_from(body.0)?;
    run(
        app,
        auth,
        case_id,
        Action::ActOnStep,
        Command::Step { step, action },
        key,
    )
    .await
}

async fn pause(
    app: Data,
    auth: Auth,
    retry: RetryKey,
    id: web::Path<String>,
    body: Body<PauseRequest>,
) -> ApiResult<HttpResponse> {
    let key = retry.of_change(&auth.0, &body.0);
    let b = body.0;
    let command = Command::Pause {
        kind: b.kind,
        reason: b.reason,
        expected_end: b.expected_end,
    };
    run(app, auth, id.into_inner(), Action::HoldClock, command, key).await
}

async fn resume(
    app: Data,
    auth: Auth,
    retry: RetryKey,
    id: web::Path<String>,
) -> ApiResult<HttpResponse> {
    let key = retry.of_change(&auth.0, &());
    run(
        app,
        auth,
        id.into_inner(),
        Action::HoldClock,
        Command::Resume,
        key,
    )
    .await
}

async fn extend(
    app: Data,
    auth: Auth,
    retry: RetryKey,
    id: web::Path<String>,
    body: Body<ExtensionRequest>,
) -> ApiResult<HttpResponse> {
    let key = retry.of_change(&auth.0, &body.0);
    let b = body.0;
    let command = Command::Extend {
        approved_by: b.approved_by,
        reason: b.reason,
    };
    run(app, auth, id.into_inner(), Action::HoldClock, command, key).await
}

async fn deferred(
    app: Data,
    auth: Auth,
    retry: RetryKey,
    id: web::Path<String>,
    body: Body<DeferredSupply>,
) -> ApiResult<HttpResponse> {
    let key = retry.of_change(&auth.0, &body.0);
    let (id, materials) = (id.into_inner(), body.0.materials);
    answer(app, auth, move |a, u| {
        crate::app::intake::supply_deferred(a, u, &id, materials, key.as_ref())
    })
    .await
}

async fn deliver(
    app: Data,
    auth: Auth,
    retry: RetryKey,
    id: web::Path<String>,
    body: Body<DeliveryRequest>,
) -> ApiResult<HttpResponse> {
    let key = retry.of_change(&auth.0, &body.0);
    let (id, b) = (id.into_inner(), body.0);
    answer(app, auth, move |a, u| {
        handling::deliver(a, u, &id, b.matter, b.method, key.as_ref())
    })
    .await
}

async fn rate(
    app: Data,
    auth: Auth,
    retry: RetryKey,
    id: web::Path<String>,
    body: Body<RatingRequest>,
) -> ApiResult<HttpResponse> {
    let key = retry.of_change(&auth.0, &body.0);
    let b = body.0;
    let subject = match (b.notice, b.delivery) {
        (None, None) => RatingSubject::Case,
        (Some(n), None) => RatingSubject::Notice(n),
        (None, Some(track)) => RatingSubject::Delivery(track),
        (Some(_), Some(_)) => {
            return Err(ApiError::new(
                ErrorCode::InvalidRequest,
                "notice 与 delivery 只能填写一个：一次评价一项服务",
            ))
        }
    };
    let command = Command::Rate {
        subject,
        level: b.level,
        comment: b.comment,
    };
    run(app, auth, id.into_inner(), Action::Rate, command, key).await
}

async fn close_followup(
    app: Data,
    auth: Auth,
    retry: RetryKey,
    id: web::Path<String>,
    body: Body<FollowupClose>,
) -> ApiResult<HttpResponse> {
    let key = retry.of_change(&auth.0, &body.0);
    let b = body.0;
    let command = Command::CloseFollowup {
        note: b.note,
        callback: b.callback,
    };
    let id = id.into_inner();
    run(app, auth, id, Action::CloseFollowup, command, key).await
}

async fn withdraw(
    app: Data,
    auth: Auth,
    retry: RetryKey,
    id: web::Path<String>,
    body: Body<WithdrawalRequest>,
) -> ApiResult<HttpResponse> {
    let key = retry.of_change(&auth.0, &body.0);
    let command = Command::Withdraw {
        reason: body.0.reason,
    };
    run(app, auth, id.into_inner(), Action::Withdraw, command, key).await
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct FiguresQuery {
    /// First day of acceptance (YYYY-MM-DD).
    pub from: NaiveDate,
    /// Last day of acceptance (YYYY-MM-DD).
    pub to: NaiveDate,
    /// `all` (default), `township`, `matter`, `department`, `window` or `level`.
    pub by: Option<String>,
    /// `json` (default) or `csv`.
    pub format: Option<String>,
}

async fn figures(app: Data, auth: Auth, q: web::Query<FiguresQuery>) -> ApiResult<HttpResponse> {
    let q = q.into_inner();
    let key = supervise::figure_key(q.by.as_deref()).map_err(ApiError::from)?;
    let csv = match q.format.as_deref().unwrap_or("json") {
        "json" => false,
        "csv" => true,
        other => {
            return Err(ApiError::new(
                ErrorCode::InvalidQuery,
                format!("format 应为 json 或 csv，而不是“{other}”"),
            ))
        }
    };
    let a = app.into_inner();
    let rows = blocking(move || supervise::figures(&a, &auth.0, key, q.from, q.to)).await?;
    if csv {
        return Ok(HttpResponse::Ok()
            .content_type("text/csv; charset=utf-8")
            .body(supervise::figures_csv(&rows)));
    }
    Ok(HttpResponse::Ok().json(rows))
}

async fn alerts(app: Data, auth: Auth, q: web::Query<LimitQuery>) -> ApiResult<HttpResponse> {
    let limit = limit_of(&q)?;
    let a = app.into_inner();
    let r = blocking(move || supervise::alerts(&a, &auth.0, limit)).await?;
    Ok(HttpResponse::Ok().json(r))
}

async fn followups(app: Data, auth: Auth, q: web::Query<LimitQuery>) -> ApiResult<HttpResponse> {
    let limit = limit_of(&q)?;
    let a = app.into_inner();
    let r = blocking(move || supervise::followups(&a, &auth.0, limit)).await?;
    Ok(HttpResponse::Ok().json(r))
}

/// Run the deadline scheduler now (county IT; the service also runs it every
/// `scheduler_poll_ms`).
async fn sweep(app: Data, auth: Auth) -> ApiResult<HttpResponse> {
    if auth.0.role != Role::Admin {
        return Err(ApiError::new(
            ErrorCode::Forbidden,
            "只有县信息中心管理员可以手动运行时限调度",
        ));
    }
    let a = app.into_inner();
    let r = blocking(move || scheduler::sweep(&a)).await?;
    Ok(HttpResponse::Ok().json(r))
}

/// `GET /api/v1/outbox` filters.
#[derive(Debug, Deserialize, schemars::JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct OutboxQuery {
    /// `pending`, `delivered` or `dead` (default: every state).
    pub state: Option<crate::store::outbox::OutboxState>,
    /// One subscriber's deliveries.
    pub subscriber: Option<String>,
    /// At most this many (1–1000, default 200).
    pub limit: Option<u32>,
}

/// `POST /api/v1/outbox/{id}/resend` filter.
#[derive(Debug, Deserialize, schemars::JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct ResendQuery {
    /// Only this subscriber's delivery (default: every subscriber of the event).
    pub subscriber: Option<String>,
}

/// What a resend did.
#[derive(Debug, Serialize, schemars::JsonSchema)]
pub struct ResendResult {
    pub event_id: String,
    /// Deliveries put back to pending.
    pub resent: usize,
}

fn admin_only(auth: &Auth, what: &str) -> ApiResult<()> {
    if auth.0.role != Role::Admin {
        return Err(ApiError::new(
            ErrorCode::Forbidden,
            format!("只有县信息中心管理员可以{what}"),
        ));
    }
    Ok(())
}

/// Outbox deliveries, oldest first (county IT): failures to look at and resend.
async fn outbox_list(app: Data, auth: Auth, q: web::Query<OutboxQuery>) -> ApiResult<HttpResponse> {
    admin_only(&auth, "查看数据交换队列")?;
    let limit = limit_of(&LimitQuery { limit: q.limit })?;
    let q = q.into_inner();
    let a = app.into_inner();
    let r = blocking(move || {
        Ok::<_, AppError>(a.store.outbox_list(&crate::store::outbox::OutboxFilter {
            state: q.state,
            subscriber: q.subscriber,
            limit,
        })?)
    })
    .await?;
    Ok(HttpResponse::Ok().json(r))
}

/// Send an event again (its deliveries become pending with no attempts).
async fn outbox_resend(
    app: Data,
    auth: Auth,
    id: web::Path<String>,
    q: web::Query<ResendQuery>,
) -> ApiResult<HttpResponse> {
    admin_only(&auth, "重发数据交换事件")?;
    let id = id.into_inner();
    let subscriber = q.into_inner().subscriber;
    let a = app.into_inner();
    let event_id = id.clone();
    let resent = blocking(move || {
        if a.store.outbox_event(&id)?.is_none() {
            return Err(AppError::NotFound(format!("没有事件 {id}")));
        }
        Ok(a.store
            .outbox_resend(std::slice::from_ref(&id), subscriber.as_deref())?)
    })
    .await?;
    Ok(HttpResponse::Ok().json(ResendResult { event_id, resent }))
}

/// The routes of the case after intake (full paths), for the route table in `super::routes`.
pub fn routes() -> Vec<super::RouteDef> {
    use super::RouteDef as R;
    vec![
        R::get("/api/v1/inbox", || web::route().to(inbox)),
        R::get("/api/v1/cases/{id}/progress", || web::route().to(progress)),
        R::post("/api/v1/cases/{id}/steps/{step}", || {
            web::route().to(step_action)
        }),
        R::post("/api/v1/cases/{id}/pause", || web::route().to(pause)),
        R::post("/api/v1/cases/{id}/resume", || web::route().to(resume)),
        R::post("/api/v1/cases/{id}/extension", || web::route().to(extend)),
        R::post("/api/v1/cases/{id}/deferred-materials", || {
            web::route().to(deferred)
        }),
        R::post("/api/v1/cases/{id}/delivery", || web::route().to(deliver)),
        R::post("/api/v1/cases/{id}/rating", || web::route().to(rate)),
        R::post("/api/v1/cases/{id}/followup/close", || {
            web::route().to(close_followup)
        }),
        R::post("/api/v1/cases/{id}/withdrawal", || {
            web::route().to(withdraw)
        }),
        R::get("/api/v1/supervision/figures", || web::route().to(figures)),
        R::get("/api/v1/supervision/alerts", || web::route().to(alerts)),
        R::get("/api/v1/supervision/followups", || {
            web::route().to(followups)
        }),
        R::post("/api/v1/scheduler/sweep", || web::route().to(sweep)),
        R::get("/api/v1/outbox", || web::route().to(outbox_list)),
        R::post("/api/v1/outbox/{id}/resend", || {
            web::route().to(outbox_resend)
        }),
    ]
}
