//! Routes of the handling after acceptance: approver inbox and step actions, 特别程序 and
//! extensions, 容缺 materials, delivery, rating, supervision figures and the scheduler.

use crate::error_code::ErrorCode;
use actix_web::{web, HttpResponse};
use chrono::NaiveDate;
use serde::{Deserialize, Serialize};

use super::dto::NoticeView;
use super::error::ApiError;
use super::{blocking, reject_nul_in, ApiResult, Auth, Data};
use crate::app::handling::{
    self, ActionResult, DeferredSupply, DeliveryRequest, ExtensionRequest, FollowupClose,
    PauseRequest, Progress, RatingRequest, StepAction,
};
use crate::app::{scheduler, supervise, App, AppError};
use crate::auth::{Role, User};

/// The answer to every change: where the case stands now and the notices just numbered.
#[derive(Debug, Serialize, schemars::JsonSchema)]
pub struct ActionResponse {
    pub progress: Progress,
    /// Notices issued by this change (result notice, 特别程序告知书, 延期告知书 …).
    pub notices: Vec<NoticeView>,
}

fn respond(
    app: &App,
    user: &User,
    done: Result<ActionResult, AppError>,
) -> Result<ActionResponse, AppError> {
    let done = done?;
    // Whoever acted on a case may read it: a unit that held one of its steps, or the case's
    // own readers.
    let progress = handling::progress(app, user, &done.case.id)?;
    Ok(ActionResponse {
        progress,
        notices: done.notices.iter().map(NoticeView::from).collect(),
    })
}

/// Runs a change; when another change to the same case committed in between (two departments
/// of a parallel group approving at once), it is loaded again and retried, at most three times.
async fn run<F>(app: Data, auth: Auth, f: F) -> ApiResult<HttpResponse>
where
    F: Fn(&App, &User) -> Result<ActionResult, AppError> + Send + 'static,
{
    let a = app.into_inner();
    let body = blocking(move || {
        let mut attempt = 0;
        let done = loop {
            match f(&a, &auth.0) {
                Err(AppError::Store(crate::store::StoreError::Conflict(_))) if attempt < 3 => {
                    attempt += 1;
                }
                other => break other,
            }
        };
        respond(&a, &auth.0, done)
    })
    .await?;
    Ok(HttpResponse::Ok().json(body))
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
    path: web::Path<(String, String)>,
    body: web::Json<StepAction>,
) -> ApiResult<HttpResponse> {
    reject_nul_in(&*body)?;
    let (case_id, step_id) = path.into_inner();
    let body = body.into_inner();
    run(app, auth, move |a, u| {
        handling::act_on_step(a, u, &case_id, &step_id, &body)
    })
    .await
}

async fn pause(
    app: Data,
    auth: Auth,
    id: web::Path<String>,
    body: web::Json<PauseRequest>,
) -> ApiResult<HttpResponse> {
    reject_nul_in(&*body)?;
    let (id, body) = (id.into_inner(), body.into_inner());
    run(app, auth, move |a, u| handling::pause(a, u, &id, &body)).await
}

async fn resume(app: Data, auth: Auth, id: web::Path<String>) -> ApiResult<HttpResponse> {
    let id = id.into_inner();
    run(app, auth, move |a, u| handling::resume(a, u, &id)).await
}

async fn extend(
    app: Data,
    auth: Auth,
    id: web::Path<String>,
    body: web::Json<ExtensionRequest>,
) -> ApiResult<HttpResponse> {
    reject_nul_in(&*body)?;
    let (id, body) = (id.into_inner(), body.into_inner());
    run(app, auth, move |a, u| handling::extend(a, u, &id, &body)).await
}

async fn deferred(
    app: Data,
    auth: Auth,
    id: web::Path<String>,
    body: web::Json<DeferredSupply>,
) -> ApiResult<HttpResponse> {
    reject_nul_in(&*body)?;
    let (id, body) = (id.into_inner(), body.into_inner());
    run(app, auth, move |a, u| {
        handling::supply_deferred(a, u, &id, &body)
    })
    .await
}

async fn deliver(
    app: Data,
    auth: Auth,
    id: web::Path<String>,
    body: web::Json<DeliveryRequest>,
) -> ApiResult<HttpResponse> {
    reject_nul_in(&*body)?;
    let (id, body) = (id.into_inner(), body.into_inner());
    run(app, auth, move |a, u| handling::deliver(a, u, &id, &body)).await
}

async fn rate(
    app: Data,
    auth: Auth,
    id: web::Path<String>,
    body: web::Json<RatingRequest>,
) -> ApiResult<HttpResponse> {
    reject_nul_in(&*body)?;
    let (id, body) = (id.into_inner(), body.into_inner());
    run(app, auth, move |a, u| handling::rate(a, u, &id, &body)).await
}

async fn close_followup(
    app: Data,
    auth: Auth,
    id: web::Path<String>,
    body: web::Json<FollowupClose>,
) -> ApiResult<HttpResponse> {
    reject_nul_in(&*body)?;
    let (id, body) = (id.into_inner(), body.into_inner());
    run(app, auth, move |a, u| {
        handling::close_followup(a, u, &id, &body)
    })
    .await
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

/// The routes, inside `/api/v1`.
pub fn routes(cfg: &mut web::ServiceConfig) {
    cfg.route("/inbox", web::get().to(inbox))
        .route("/cases/{id}/progress", web::get().to(progress))
        .route("/cases/{id}/steps/{step}", web::post().to(step_action))
        .route("/cases/{id}/pause", web::post().to(pause))
        .route("/cases/{id}/resume", web::post().to(resume))
        .route("/cases/{id}/extension", web::post().to(extend))
        .route("/cases/{id}/deferred-materials", web::post().to(deferred))
        .route("/cases/{id}/delivery", web::post().to(deliver))
        .route("/cases/{id}/rating", web::post().to(rate))
        .route("/cases/{id}/followup/close", web::post().to(close_followup))
        .route("/supervision/figures", web::get().to(figures))
        .route("/supervision/alerts", web::get().to(alerts))
        .route("/supervision/followups", web::get().to(followups))
        .route("/scheduler/sweep", web::post().to(sweep));
}
