//! The REST API (actix-web): routes, authentication, JSON errors and request logging. The same
//! `build_app` serves `yichuang serve` and the tests, which bind port 0.

pub mod dto;
pub mod error;
pub mod extract;
pub mod handling;
pub mod intake;
pub mod limits;
pub mod openapi;

use crate::error_code::ErrorCode;
use extract::{Body, Checked, RetryKey};
use std::future::{ready, Ready};
use std::net::TcpListener;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::Instant;

use actix_web::body::{EitherBody, MessageBody};
use actix_web::dev::{Server, ServiceRequest, ServiceResponse};
use actix_web::http::header;
use actix_web::middleware::{from_fn, Next};
use actix_web::{web, FromRequest, HttpMessage, HttpRequest, HttpResponse};
use serde::Deserialize;
use tracing::Instrument;

use crate::app::intake::{self as app_intake, Intake};
use crate::app::personal;
use crate::app::App;
use crate::auth::User;
use crate::authoring::{guide_html, guide_markdown};
use crate::domain::matter::{HandlingKind, Level, MatterType};
use crate::domain::notice::NoticeContent;
use crate::store::CaseFilter;
use intake::{IntakeRequest, SupplementRequest};

/// The most cases one page of `GET /cases` returns.
const MAX_PER_PAGE: i64 = 200;
use dto::*;
use error::ApiError;

type Data = web::Data<App>;
type ApiResult<T> = Result<T, ApiError>;

/// The authenticated user of a request.
pub struct Auth(pub User);

impl FromRequest for Auth {
    type Error = ApiError;
    type Future = Ready<Result<Self, Self::Error>>;

    fn from_request(req: &HttpRequest, _: &mut actix_web::dev::Payload) -> Self::Future {
        let Some(app) = req.app_data::<Data>() else {
            return ready(Err(ApiError::new(ErrorCode::Internal, "服务未就绪")));
        };
        let token = req
            .headers()
            .get(header::AUTHORIZATION)
            .and_then(|v| v.to_str().ok())
            // The scheme is case-insensitive (RFC 9110 §11.1): Bearer, bearer, BEARER.
            .and_then(|v| {
                let (scheme, rest) = v.split_once(' ')?;
                scheme.eq_ignore_ascii_case("bearer").then_some(rest)
            })
            .map(str::trim);
        let Some(token) = token else {
            return ready(Err(ApiError::unauthorized(
                "缺少身份凭证：请在 Authorization 头中提供 Bearer 令牌",
            )));
        };
        let now_secs = app.clock.now_ms().div_euclid(1000);
        let user = match app
            .users()
            .resolve(token, now_secs, &app.registry.current().org)
        {
            Ok(u) => u,
            Err(e) => {
                // A failed sign-in spends a token of the client address's bucket; once it is
                // empty, failures answer 429 (a valid token from the address still passes).
                if let Some(failures) = req.app_data::<web::Data<limits::AuthFailures>>() {
                    let address = req
                        .peer_addr()
                        .map_or_else(|| "unknown".to_string(), |a| a.ip().to_string());
                    if let Err(secs) = failures.0.check(&address) {
                        return ready(Err(limits::rate_limited(secs)));
                    }
                }
                return ready(Err(e.into()));
            }
        };
        if let Some(limiter) = req.app_data::<web::Data<limits::RateLimiter>>() {
            if let Err(secs) = limiter.check(&user.id) {
                return ready(Err(limits::rate_limited(secs)));
            }
        }
        req.extensions_mut().insert(user.id.clone());
        ready(Ok(Auth(user)))
    }
}

/// Run blocking work (diesel, rhai) off the async executor.
async fn blocking<T, F>(f: F) -> ApiResult<T>
where
    F: FnOnce() -> Result<T, crate::app::AppError> + Send + 'static,
    T: Send + 'static,
{
    web::block(f).await?.map_err(ApiError::from)
}

async fn healthz() -> HttpResponse {
    HttpResponse::Ok().json(HealthStatus {
        status: "ok".into(),
        catalog: None,
        database: None,
        calendar_until: None,
        calendar_warning: None,
    })
}

/// `GET /metrics`: the Prometheus text format (see docs/metrics.md).
async fn metrics(app: Data) -> ApiResult<HttpResponse> {
    let a = app.clone();
    let snapshot = web::block(move || {
        let catalog = a.registry.current();
        let (_, last) = catalog.calendar.coverage();
        crate::metrics::Snapshot {
            catalog_hash: catalog.hash.clone(),
            catalog_version: catalog.manifest.version.clone(),
            activated_at_ms: a.registry.activation().at_ms,
            calendar_days_left: (last - a.clock.today()).num_days(),
            pool: a.store.pool_state(),
            due: a
                .store
                .due_counts(a.clock.now_ms())
                .map_err(|e| tracing::warn!(error = %e, "due item counts unavailable for /metrics"))
                .ok(),
            outbox: crate::app::outbox::gauges(&a),
        }
    })
    .await?;
    match crate::metrics::render(snapshot) {
        Some(text) => Ok(HttpResponse::Ok()
            .content_type("text/plain; version=0.0.4; charset=utf-8")
            .body(text)),
        None => Err(ApiError::new(
            ErrorCode::NotReady,
            "指标记录器未安装，/metrics 暂不可用",
        )),
    }
}

async fn readyz(app: Data) -> ApiResult<HttpResponse> {
    let catalog = app.registry.current();
    let a = app.clone();
    let db = web::block(move || a.store.ping()).await?;
    match db {
        Ok(()) => Ok(HttpResponse::Ok().json(HealthStatus {
            status: "ready".into(),
            catalog: Some(catalog.hash.clone()),
            database: Some("ok".into()),
            calendar_until: Some(catalog.calendar.coverage().1.to_string()),
            calendar_warning: catalog.calendar.next_year_missing(app.clock.today()),
        })),
        Err(e) => Err(
            ApiError::new(ErrorCode::NotReady, "数据库不可用，服务暂不能受理")
                .with_details(serde_json::json!({ "database": e.to_string() })),
        ),
    }
}

#[derive(Debug, Deserialize, schemars::JsonSchema)]
#[serde(deny_unknown_fields)]
struct MatterQuery {
    /// Accepted at this level: `village`, `township` or `county`.
    level: Option<Level>,
    /// 事项类型, e.g. `administrative_payment`.
    #[serde(rename = "type")]
    matter_type: Option<MatterType>,
    /// Part of the name or code.
    q: Option<String>,
}

async fn list_matters(app: Data, q: web::Query<MatterQuery>) -> HttpResponse {
    let catalog = app.registry.current();
    let q = q.into_inner();
    let out: Vec<MatterSummary> = catalog
        .matters
        .values()
        .map(|m| &m.spec)
        .filter(|m| q.level.is_none_or(|l| m.jurisdiction.accept.contains(&l)))
        .filter(|m| q.matter_type.is_none_or(|t| m.matter_type == t))
        .filter(|m| {
            q.q.as_deref()
                .is_none_or(|s| m.name.contains(s) || m.code.contains(s))
        })
        .map(|m| MatterSummary {
            code: m.code.clone(),
            name: m.name.clone(),
            matter_type: serde_json::to_value(m.matter_type)
                .ok()
                .and_then(|v| v.as_str().map(str::to_string))
                .unwrap_or_default(),
            type_label: m.matter_type.label().into(),
            accept: m
                .jurisdiction
                .accept
                .iter()
                .map(|l| l.as_str().into())
                .collect(),
            decide_level: m.jurisdiction.decide.level.as_str().into(),
            handling: match m.handling.kind {
                HandlingKind::Immediate => "immediate".into(),
                HandlingKind::Promised => "promised".into(),
            },
            promised_days: m.handling.promised_days,
            statutory_days: m.handling.statutory_days,
        })
        .collect();
    HttpResponse::Ok().json(out)
}

fn unknown_matter(code: &str) -> ApiError {
    ApiError::new(
        ErrorCode::UnknownMatter,
        format!("没有编码为 {code} 的事项，请核对事项编码"),
    )
}

async fn get_matter(app: Data, code: web::Path<String>) -> ApiResult<HttpResponse> {
    let catalog = app.registry.current();
    let m = catalog.matter(&code).ok_or_else(|| unknown_matter(&code))?;
    Ok(HttpResponse::Ok().json(&m.spec))
}

async fn get_guide(app: Data, code: web::Path<String>) -> ApiResult<HttpResponse> {
    let catalog = app.registry.current();
    let m = catalog.matter(&code).ok_or_else(|| unknown_matter(&code))?;
    Ok(HttpResponse::Ok().json(GuideView {
        code: m.spec.code.clone(),
        name: m.spec.name.clone(),
        markdown: guide_markdown(&catalog, m),
        html_url: format!("/api/v1/matters/{}/guide.html", m.spec.code),
    }))
}

async fn get_guide_html(app: Data, code: web::Path<String>) -> ApiResult<HttpResponse> {
    let catalog = app.registry.current();
    let m = catalog.matter(&code).ok_or_else(|| unknown_matter(&code))?;
    let html = guide_html(&catalog, m).map_err(crate::app::AppError::from)?;
    Ok(HttpResponse::Ok()
        .content_type("text/html; charset=utf-8")
        .body(html))
}

async fn list_bundles(app: Data) -> HttpResponse {
    let catalog = app.registry.current();
    let out: Vec<BundleView> = catalog
        .bundles
        .values()
        .map(|b| BundleView {
            code: b.code.clone(),
            name: b.name.clone(),
            description: b.description.clone(),
            matters: b.matters.clone(),
        })
        .collect();
    HttpResponse::Ok().json(out)
}

async fn catalog_status(app: Data, auth: Auth) -> HttpResponse {
    let c = app.registry.current();
    let (from, until) = c.calendar.coverage();
    // The findings quote rule files (file:line and the offending text): county IT's business,
    // not every role's. Others see that a reload was tried, when and how it ended.
    let admin = auth.0.role == crate::auth::Role::Admin;
    let mut last_attempt = app.registry.last_attempt();
    if !admin {
        if let Some(a) = last_attempt.as_mut() {
            a.errors.clear();
        }
    }
    HttpResponse::Ok().json(CatalogStatus {
        name: c.manifest.name.clone(),
        version: c.manifest.version.clone(),
        hash: c.hash.clone(),
        matters: c.matters.len(),
        bundles: c.bundles.len(),
        examples: c.example_count(),
        calendar_from: from.to_string(),
        calendar_until: until.to_string(),
        calendar_warning: c.calendar.next_year_missing(app.clock.today()),
        warnings: if admin {
            c.warnings.iter().map(ToString::to_string).collect()
        } else {
            Vec::new()
        },
        activated: app.registry.activation(),
        last_attempt,
    })
}

impl Checked for PeriodRequest {}

#[derive(Debug, Deserialize, serde::Serialize, schemars::JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct PeriodRequest {
    /// How many days back from today (default 90, at most 3660).
    #[serde(default)]
    pub days: Option<u32>,
}

fn require_admin(auth: &Auth, what: &str) -> ApiResult<()> {
    if auth.0.role == crate::auth::Role::Admin {
        Ok(())
    } else {
        Err(ApiError::new(
            ErrorCode::Forbidden,
            format!("只有县信息中心管理员可以{what}"),
        ))
    }
}

fn period_start(app: &App, body: &PeriodRequest) -> ApiResult<chrono::NaiveDate> {
    let days = body.days.unwrap_or(90);
    if days > 3660 {
        return Err(ApiError::new(ErrorCode::InvalidRequest, "days 最多为3660"));
    }
    Ok(app.clock.today() - chrono::Duration::days(i64::from(days)))
}

/// Impact preview: re-assess the stored intakes of a period under the rules directory as it is
/// now (not yet active) and count what would change.
async fn catalog_impact(
    app: Data,
    auth: Auth,
    body: Body<PeriodRequest>,
) -> ApiResult<HttpResponse> {
    require_admin(&auth, "预览目录变更的影响")?;
    let from = period_start(&app, &body.0)?;
    let a = app.clone().into_inner();
    let report = blocking(move || {
        let sources = crate::catalog::CatalogSources::read_dir(&a.config.rules_dir).map_err(|e| {
            crate::app::AppError::invalid(ErrorCode::CatalogRejected, e.to_string())
        })?;
        let candidate = crate::catalog::Catalog::load(sources).map_err(|f| crate::app::AppError::Invalid {
            code: ErrorCode::CatalogRejected,
            message: format!("候选目录无法加载：{}", f.errors().next().map(ToString::to_string).unwrap_or_default()),
            details: serde_json::json!({ "errors": f.errors().map(ToString::to_string).collect::<Vec<_>>() }),
        })?;
        let cases = crate::app::replay::cases_since(&a.store, from)?;
        Ok(crate::app::replay::impact(&candidate, &cases, |_| {}))
    })
    .await?;
    Ok(HttpResponse::Ok().json(report))
}

/// Replay the stored intakes of a period under their own catalog versions: each must reproduce
/// its stored assessment exactly.
async fn replay_check(app: Data, auth: Auth, body: Body<PeriodRequest>) -> ApiResult<HttpResponse> {
    require_admin(&auth, "核对办件重放")?;
    let from = period_start(&app, &body.0)?;
    let a = app.clone().into_inner();
    let report = blocking(move || {
        let cases = crate::app::replay::cases_since(&a.store, from)?;
        Ok(crate::app::replay::check_replay(
            &a.registry,
            &a.store,
            &cases,
            |_| {},
        ))
    })
    .await?;
    Ok(HttpResponse::Ok().json(report))
}

/// Reload the catalog now (county IT): the same gate as the watcher.
async fn reload_catalog(app: Data, auth: Auth) -> ApiResult<HttpResponse> {
    if auth.0.role != crate::auth::Role::Admin {
        return Err(ApiError::new(
            ErrorCode::Forbidden,
            "只有县信息中心管理员可以重新加载事项目录",
        ));
    }
    let a = app.clone().into_inner();
    let attempt = web::block(move || a.reload("admin")).await?;
    if attempt.outcome == crate::app::ReloadOutcome::Rejected {
        return Err(ApiError::new(
            ErrorCode::CatalogRejected,
            format!(
                "新的事项目录未通过检查，仍使用原版本。第一个问题：{}",
                attempt.errors.first().map_or("", String::as_str)
            ),
        )
        .with_details(serde_json::to_value(&attempt).unwrap_or(serde_json::Value::Null)));
    }
    Ok(HttpResponse::Ok().json(attempt))
}

async fn precheck(app: Data, auth: Auth, body: Body<IntakeRequest>) -> ApiResult<HttpResponse> {
    let a = app.clone().into_inner();
    let req = Intake::try_from(body.0)?;
    let assessment = blocking(move || app_intake::precheck(&a, &auth.0, &req)).await?;
    Ok(HttpResponse::Ok().json(assessment))
}

async fn take_intake(
    app: Data,
    auth: Auth,
    retry: RetryKey,
    body: Body<IntakeRequest>,
) -> ApiResult<HttpResponse> {
    let a = app.clone().into_inner();
    let req = Intake::try_from(body.0)?;
    let result = blocking(move || app_intake::take(&a, &auth.0, &req, retry.key())).await?;
    tracing::info!(
        case = %result.case.id,
        matter = %result.case.matter_code,
        outcome = %result.case.outcome,
        replayed = result.replayed,
        "intake"
    );
    let body = IntakeResponse::from(&result);
    let location = format!("/api/v1/cases/{}", result.case.id);
    if result.replayed {
        Ok(HttpResponse::Ok()
            .insert_header(("Idempotent-Replayed", "true"))
            .insert_header((header::LOCATION, location))
            .json(body))
    } else {
        Ok(HttpResponse::Created()
            .insert_header((header::LOCATION, location))
            .json(body))
    }
}

async fn supplement(
    app: Data,
    auth: Auth,
    retry: RetryKey,
    id: web::Path<String>,
    body: Body<SupplementRequest>,
) -> ApiResult<HttpResponse> {
    let a = app.clone().into_inner();
    let body = body.0;
    let id = id.into_inner();
    let key = retry.of_change(&auth.0, &body);
    let req = app_intake::Supplement::from(body);
    let result =
        blocking(move || app_intake::supplement(&a, &auth.0, &id, &req, key.as_ref())).await?;
    tracing::info!(
        case = %result.case.id,
        outcome = %result.case.outcome,
        replayed = result.replayed,
        "supplement"
    );
    Ok(replayed_header(HttpResponse::Ok(), result.replayed).json(IntakeResponse::from(&result)))
}

/// Marks the answer to a retry under an Idempotency-Key (`Idempotent-Replayed: true`).
fn replayed_header(
    mut answer: actix_web::HttpResponseBuilder,
    replayed: bool,
) -> actix_web::HttpResponseBuilder {
    if replayed {
        answer.insert_header(("Idempotent-Replayed", "true"));
    }
    answer
}

async fn get_case(app: Data, auth: Auth, id: web::Path<String>) -> ApiResult<HttpResponse> {
    let a = app.clone().into_inner();
    let id = id.into_inner();
    let (case, assessment) = blocking(move || {
        let r = app_intake::get_case(&a, &auth.0, &id)?;
        personal::log_reads(&a, &auth.0, [id.as_str()], "GET /api/v1/cases/{id}")?;
        Ok(r)
    })
    .await?;
    Ok(HttpResponse::Ok().json(CaseDetail::new(&case, &assessment)))
}

#[derive(Debug, Deserialize, schemars::JsonSchema)]
#[serde(deny_unknown_fields)]
struct CaseQuery {
    /// The case's status: `awaiting_supplement`, `refused`, `accepted`, `paused`, `completed`,
    /// `decided`, `delivered`, `terminated`, `withdrawn` or `lapsed`.
    status: Option<crate::domain::case::CaseStatus>,
    /// Matter code (or bundle code).
    matter: Option<String>,
    window: Option<String>,
    /// The applicant's ID number.
    applicant_id: Option<String>,
    /// Received on or after this date (YYYY-MM-DD).
    from: Option<chrono::NaiveDate>,
    /// Received on or before this date (YYYY-MM-DD).
    to: Option<chrono::NaiveDate>,
    /// Page number from 1.
    page: Option<u32>,
    /// Cases per page (1–200, default 50).
    per_page: Option<u32>,
}

async fn list_cases(app: Data, auth: Auth, q: web::Query<CaseQuery>) -> ApiResult<HttpResponse> {
    let q = q.into_inner();
    let per_page = i64::from(q.per_page.unwrap_or(50));
    if !(1..=MAX_PER_PAGE).contains(&per_page) {
        return Err(ApiError::new(
            ErrorCode::InvalidQuery,
            format!("per_page 应在1到{MAX_PER_PAGE}之间"),
        ));
    }
    let page = i64::from(q.page.unwrap_or(1));
    if !(1..=1_000_000).contains(&page) {
        return Err(ApiError::new(
            ErrorCode::InvalidQuery,
            "page 应为从1开始的页码",
        ));
    }
    let filter = CaseFilter {
        center_ids: None,
        agent_id: None,
        status: q.status,
        matter_code: q.matter,
        window_id: q.window,
        applicant_id_number: q.applicant_id,
        received_from: q.from.map(|d| d.to_string()),
        received_to: q.to.map(|d| d.to_string()),
        limit: per_page,
        offset: (page - 1) * per_page,
    };
    let a = app.clone().into_inner();
    let full = personal::sees_full_lists(auth.0.role);
    let result = blocking(move || {
        let page = app_intake::list_cases(&a, &auth.0, filter)?;
        if full {
            personal::log_reads(
                &a,
                &auth.0,
                page.cases.iter().map(|c| c.id.as_str()),
                "GET /api/v1/cases",
            )?;
        }
        Ok(page)
    })
    .await?;
    let view = if full {
        CaseView::from
    } else {
        CaseView::masked
    };
    Ok(HttpResponse::Ok().json(CasePageView {
        cases: result.cases.iter().map(view).collect(),
        total: result.total,
        page,
        per_page,
    }))
}

async fn case_notices(app: Data, auth: Auth, id: web::Path<String>) -> ApiResult<HttpResponse> {
    let a = app.clone().into_inner();
    let id = id.into_inner();
    let notices = blocking(move || {
        app_intake::get_case(&a, &auth.0, &id)?;
        let notices = a.store.notices_of_case(&id)?;
        personal::log_reads(&a, &auth.0, [id.as_str()], "GET /api/v1/cases/{id}/notices")?;
        Ok(notices)
    })
    .await?;
    Ok(HttpResponse::Ok().json(notices.iter().map(NoticeView::from).collect::<Vec<_>>()))
}

async fn case_history(app: Data, auth: Auth, id: web::Path<String>) -> ApiResult<HttpResponse> {
    let a = app.clone().into_inner();
    let id = id.into_inner();
    let events = blocking(move || {
        app_intake::get_case(&a, &auth.0, &id)?;
        let events = a.store.events_of_case(&id)?;
        personal::log_reads(&a, &auth.0, [id.as_str()], "GET /api/v1/cases/{id}/history")?;
        Ok(events)
    })
    .await?;
    Ok(HttpResponse::Ok().json(events.iter().map(EventView::from).collect::<Vec<_>>()))
}

/// A notice the user may read, with the catalog version of its case.
fn load_notice(
    app: &App,
    user: &User,
    id: &str,
) -> Result<(crate::store::NoticeRow, String), crate::app::AppError> {
    let n = app
        .store
        .notice(id)?
        .ok_or_else(|| crate::app::AppError::NotFound(format!("文书 {id} 不存在")))?;
    let (case, _) = app_intake::get_case(app, user, &n.case_id)?;
    Ok((n, case.catalog_hash))
}

async fn get_notice(app: Data, auth: Auth, id: web::Path<String>) -> ApiResult<HttpResponse> {
    let a = app.clone().into_inner();
    let id = id.into_inner();
    let (n, _) = blocking(move || {
        let r = load_notice(&a, &auth.0, &id)?;
        personal::log_reads(
            &a,
            &auth.0,
            [r.0.case_id.as_str()],
            "GET /api/v1/notices/{id}",
        )?;
        Ok(r)
    })
    .await?;
    Ok(HttpResponse::Ok().json(NoticeView::from(&n)))
}

async fn print_notice(app: Data, auth: Auth, id: web::Path<String>) -> ApiResult<HttpResponse> {
    let a = app.clone().into_inner();
    let id = id.into_inner();
    let html = blocking(move || {
        let (n, hash) = load_notice(&a, &auth.0, &id)?;
        let content: NoticeContent = serde_json::from_str(&n.content)
            .map_err(|e| crate::app::AppError::Corrupt(format!("notice {}: {e}", n.id)))?;
        // The layout of the catalog version the case was taken under (templates are pinned).
        let catalog = a.registry.by_hash(&a.store, &hash)?;
        let html = catalog.templates.notice(&content, &n.number)?;
        personal::log_reads(
            &a,
            &auth.0,
            [n.case_id.as_str()],
            "GET /api/v1/notices/{id}/print",
        )?;
        Ok(html)
    })
    .await?;
    Ok(HttpResponse::Ok()
        .content_type("text/html; charset=utf-8")
        .body(html))
}

#[derive(Debug, Deserialize, schemars::JsonSchema)]
#[serde(deny_unknown_fields)]
struct ReadsQuery {
    /// Case id.
    case: Option<String>,
    /// User id of the reader.
    user: Option<String>,
    /// Reads on or after this day (China time, YYYY-MM-DD).
    from: Option<chrono::NaiveDate>,
    /// Reads on or before this day (China time, YYYY-MM-DD).
    to: Option<chrono::NaiveDate>,
    page: Option<u32>,
    /// 1–1000, default 100.
    per_page: Option<u32>,
}

/// The personal-data read log (admins and supervisors).
async fn personal_data_reads(
    app: Data,
    auth: Auth,
    q: web::Query<ReadsQuery>,
) -> ApiResult<HttpResponse> {
    let q = q.into_inner();
    let per_page = i64::from(q.per_page.unwrap_or(100));
    if !(1..=crate::store::READ_PAGE).contains(&per_page) {
        return Err(ApiError::new(
            ErrorCode::InvalidQuery,
            format!("per_page 应在1到{}之间", crate::store::READ_PAGE),
        ));
    }
    let page = i64::from(q.page.unwrap_or(1));
    if !(1..=1_000_000).contains(&page) {
        return Err(ApiError::new(
            ErrorCode::InvalidQuery,
            "page 应为从1开始的页码",
        ));
    }
    let filter = crate::store::ReadFilter {
        center_id: None,
        case_id: q.case,
        user_id: q.user,
        from_ms: q.from.map(crate::store::archive::start_of_day_ms),
        to_ms: q
            .to
            .and_then(|d| d.succ_opt())
            .map(crate::store::archive::start_of_day_ms),
        limit: per_page,
        offset: (page - 1) * per_page,
    };
    let a = app.into_inner();
    let (rows, total) = blocking(move || personal::reads(&a, &auth.0, &filter)).await?;
    Ok(HttpResponse::Ok().json(PersonalDataReadsPage {
        reads: rows.iter().map(PersonalDataReadView::from).collect(),
        total,
        page,
        per_page,
    }))
}

async fn openapi_json() -> HttpResponse {
    HttpResponse::Ok().json(openapi::document())
}

async fn api_docs() -> HttpResponse {
    HttpResponse::Ok()
        .content_type("text/html; charset=utf-8")
        .insert_header((header::CONTENT_SECURITY_POLICY, openapi::api_docs_csp()))
        .insert_header((header::X_CONTENT_TYPE_OPTIONS, "nosniff"))
        .insert_header((header::REFERRER_POLICY, "no-referrer"))
        .body(openapi::API_DOCS_HTML)
}

/// No route answers this request: 405 with `Allow` when the path exists with other methods,
/// else 404.
async fn not_found(req: HttpRequest) -> HttpResponse {
    let allowed = allowed_methods(req.path());
    if allowed.is_empty() {
        return actix_web::ResponseError::error_response(&ApiError::not_found(format!(
            "没有这个接口：{} {}",
            req.method(),
            req.path()
        )));
    }
    let names: Vec<&str> = allowed
        .iter()
        .map(actix_web::http::Method::as_str)
        .collect();
    let list = names.join(", ");
    let mut res = actix_web::ResponseError::error_response(
        &ApiError::new(
            ErrorCode::MethodNotAllowed,
            format!(
                "接口 {} 不支持 {} 方法，请改用 {list}",
                req.path(),
                req.method()
            ),
        )
        .with_details(serde_json::json!({ "allow": names })),
    );
    if let Ok(v) = header::HeaderValue::from_str(&list) {
        res.headers_mut().insert(header::ALLOW, v);
    }
    res
}

/// NUL characters are never valid in an application, and PostgreSQL cannot store them: refuse them
/// on every backend alike, in the URL here and in JSON bodies in `reject_nul_in`.
async fn reject_nul_in_url(
    req: ServiceRequest,
    next: Next<impl MessageBody + 'static>,
) -> Result<ServiceResponse<EitherBody<impl MessageBody>>, actix_web::Error> {
    let raw = req.uri().path_and_query().map_or("", |p| p.as_str());
    if raw.to_ascii_lowercase().contains("%00") {
        let resp = actix_web::ResponseError::error_response(&nul_error());
        return Ok(req.into_response(resp).map_into_right_body());
    }
    next.call(req)
        .await
        .map(ServiceResponse::map_into_left_body)
}

fn nul_error() -> ApiError {
    ApiError::new(
        ErrorCode::InvalidCharacters,
        "请求中含有不可见的空字符（NUL），请删除后重新提交",
    )
}

/// Check a request body with its `validator` rules: 422 with every failing field in `details`.
pub(crate) fn validated<T: validator::Validate>(body: &T) -> ApiResult<()> {
    body.validate().map_err(|errors| {
        let mut messages: Vec<String> = Vec::new();
        collect_messages(&errors, "", &mut messages);
        ApiError::new(
            ErrorCode::InvalidRequest,
            format!("请求内容有误：{}", messages.join("；")),
        )
        .with_details(serde_json::to_value(&errors).unwrap_or(serde_json::Value::Null))
    })
}

fn collect_messages(errors: &validator::ValidationErrors, prefix: &str, out: &mut Vec<String>) {
    for (field, kind) in errors.errors() {
        let path = if prefix.is_empty() {
            field.to_string()
        } else {
            format!("{prefix}.{field}")
        };
        match kind {
            validator::ValidationErrorsKind::Field(list) => {
                for e in list {
                    let m = e.message.as_deref().unwrap_or(e.code.as_ref());
                    out.push(format!("{path}：{m}"));
                }
            }
            validator::ValidationErrorsKind::Struct(inner) => collect_messages(inner, &path, out),
            validator::ValidationErrorsKind::List(items) => {
                for (i, inner) in items {
                    collect_messages(inner, &format!("{path}[{i}]"), out);
                }
            }
        }
    }
}

pub(crate) fn reject_nul_in<T: serde::Serialize>(body: &T) -> ApiResult<()> {
    match serde_json::to_string(body) {
        Ok(s) if s.contains("\\u0000") => Err(nul_error()),
        _ => Ok(()),
    }
}

static REQUEST_IDS: AtomicU64 = AtomicU64::new(1);

/// The id of the request being served (in the request's extensions).
pub struct RequestId(pub String);

/// A span per request with its id; the path is logged (segments that could be personal data
/// masked), never the query string or body (they may carry ID numbers and names). A client's
/// `X-Request-Id` is kept unless it could be personal data.
async fn request_log(
    req: ServiceRequest,
    next: Next<impl MessageBody>,
) -> Result<ServiceResponse<impl MessageBody>, actix_web::Error> {
    let id = req
        .headers()
        .get("X-Request-Id")
        .and_then(|v| v.to_str().ok())
        .filter(|v| v.len() <= 64 && v.chars().all(|c| c.is_ascii_alphanumeric() || c == '-'))
        .filter(|v| !crate::telemetry::may_be_personal(v))
        .map_or_else(
            || format!("r{}", REQUEST_IDS.fetch_add(1, Ordering::Relaxed)),
            str::to_string,
        );
    let span = tracing::info_span!("request", request_id = %id, method = %req.method(), path = %crate::telemetry::loggable_path(req.path()));
    let start = Instant::now();
    // The route's pattern, not its path: ids must not become metric labels.
    let route = req
        .match_pattern()
        .unwrap_or_else(|| "unmatched".to_string());
    let method = req.method().clone();
    req.extensions_mut().insert(RequestId(id.clone()));
    let res = next.call(req).instrument(span.clone()).await;
    let status = match &res {
        Ok(r) => r.status(),
        Err(e) => e.as_response_error().status_code(),
    }
    .as_u16();
    crate::metrics::request(method.as_str(), &route, status, start.elapsed());
    span.in_scope(|| {
        tracing::info!(status, ms = start.elapsed().as_millis() as u64, "done");
    });
    let mut res = res?;
    if let Ok(v) = header::HeaderValue::from_str(&id) {
        res.headers_mut()
            .insert(header::HeaderName::from_static("x-request-id"), v);
    }
    Ok(res)
}

fn json_error(err: actix_web::error::JsonPayloadError, _: &HttpRequest) -> actix_web::Error {
    use actix_web::error::JsonPayloadError as E;
    let e = match &err {
        E::OverflowKnownLength { length, limit } => ApiError::new(
            ErrorCode::BodyTooLarge,
            format!("请求体过大（{length} 字节），上限为 {limit} 字节"),
        ),
        E::Overflow { limit } => ApiError::new(
            ErrorCode::BodyTooLarge,
            format!("请求体过大，上限为 {limit} 字节"),
        ),
        E::ContentType => ApiError::new(
            ErrorCode::UnsupportedMediaType,
            "请求体须为 JSON（Content-Type: application/json）",
        ),
        E::Deserialize(d) => ApiError::new(ErrorCode::InvalidBody, format!("请求内容有误：{d}"))
            .with_details(serde_json::json!({ "line": d.line(), "column": d.column() })),
        other => ApiError::new(
            ErrorCode::UnreadableBody,
            format!("请求体无法读取：{other}"),
        ),
    };
    e.into()
}

fn query_error(err: actix_web::error::QueryPayloadError, _: &HttpRequest) -> actix_web::Error {
    ApiError::new(ErrorCode::InvalidQuery, format!("查询参数有误：{err}")).into()
}

fn path_error(err: actix_web::error::PathError, _: &HttpRequest) -> actix_web::Error {
    ApiError::new(ErrorCode::InvalidPath, format!("路径参数有误：{err}")).into()
}

/// One route the service answers: the table that serves requests, that the OpenAPI document
/// is generated over (`openapi::document`) and that the 405 answer reads its `Allow` from.
pub struct RouteDef {
    pub method: actix_web::http::Method,
    /// The full path pattern, as in the OpenAPI document (`/api/v1/cases/{id}`).
    pub path: &'static str,
    /// The handler; `configure` adds the method guard from `method`.
    make: fn() -> actix_web::Route,
}

impl RouteDef {
    fn get(path: &'static str, make: fn() -> actix_web::Route) -> Self {
        Self {
            method: actix_web::http::Method::GET,
            path,
            make,
        }
    }

    fn post(path: &'static str, make: fn() -> actix_web::Route) -> Self {
        Self {
            method: actix_web::http::Method::POST,
            path,
            make,
        }
    }
}

/// Every route, in the order of the API reference.
pub fn routes() -> Vec<RouteDef> {
    use RouteDef as R;
    let mut all = vec![
        R::get("/healthz", || web::route().to(healthz)),
        R::get("/readyz", || web::route().to(readyz)),
        R::get("/metrics", || web::route().to(metrics)),
        R::get("/api/docs", || web::route().to(api_docs)),
        R::get("/api/v1/openapi.json", || web::route().to(openapi_json)),
        R::get("/api/v1/matters", || web::route().to(list_matters)),
        R::get("/api/v1/matters/{code}", || web::route().to(get_matter)),
        R::get("/api/v1/matters/{code}/guide", || {
            web::route().to(get_guide)
        }),
        R::get("/api/v1/matters/{code}/guide.html", || {
            web::route().to(get_guide_html)
        }),
        R::get("/api/v1/bundles", || web::route().to(list_bundles)),
        R::get("/api/v1/catalog", || web::route().to(catalog_status)),
        R::post("/api/v1/catalog/reload", || web::route().to(reload_catalog)),
        R::post("/api/v1/catalog/impact", || web::route().to(catalog_impact)),
        R::post("/api/v1/catalog/replay-check", || {
            web::route().to(replay_check)
        }),
        R::post("/api/v1/assessments", || web::route().to(precheck)),
        R::post("/api/v1/cases", || web::route().to(take_intake)),
        R::get("/api/v1/cases", || web::route().to(list_cases)),
        R::get("/api/v1/cases/{id}", || web::route().to(get_case)),
        R::post("/api/v1/cases/{id}/supplements", || {
            web::route().to(supplement)
        }),
        R::get("/api/v1/cases/{id}/notices", || {
            web::route().to(case_notices)
        }),
        R::get("/api/v1/cases/{id}/history", || {
            web::route().to(case_history)
        }),
        R::get("/api/v1/notices/{id}", || web::route().to(get_notice)),
        R::get("/api/v1/notices/{id}/print", || {
            web::route().to(print_notice)
        }),
    ];
    all.extend(handling::routes());
    all.push(R::get("/api/v1/supervision/personal-data-reads", || {
        web::route().to(personal_data_reads)
    }));
    all
}

/// The methods each path pattern of the route table answers, for 405's `Allow`.
fn allowed_methods(path: &str) -> Vec<actix_web::http::Method> {
    static TABLE: std::sync::OnceLock<Vec<(actix_web::dev::ResourceDef, actix_web::http::Method)>> =
        std::sync::OnceLock::new();
    let table = TABLE.get_or_init(|| {
        routes()
            .into_iter()
            .map(|r| (actix_web::dev::ResourceDef::new(r.path), r.method))
            .collect()
    });
    let mut methods: Vec<_> = table
        .iter()
        .filter(|(def, _)| def.is_match(path))
        .map(|(_, m)| m.clone())
        .collect();
    if methods.contains(&actix_web::http::Method::GET) {
        methods.push(actix_web::http::Method::HEAD);
    }
    methods.sort_by(|a, b| a.as_str().cmp(b.as_str()));
    methods.dedup();
    methods
}

/// Register every route on a service config (shared by the server and the tests).
pub fn configure(cfg: &mut web::ServiceConfig, max_body: usize) {
    cfg.app_data(
        web::JsonConfig::default()
            .limit(max_body)
            .error_handler(json_error),
    )
    .app_data(web::QueryConfig::default().error_handler(query_error))
    .app_data(web::PathConfig::default().error_handler(path_error))
    .app_data(web::PayloadConfig::default().limit(max_body));
    for r in routes() {
        if r.method == actix_web::http::Method::GET {
            // HEAD is answered as GET without the body (actix-http writes no body for HEAD).
            cfg.route(r.path, (r.make)().method(actix_web::http::Method::HEAD));
        }
        cfg.route(r.path, (r.make)().method(r.method));
    }
    cfg.default_service(web::to(not_found));
}

/// CORS for the configured origins: the API's methods and the headers a front-end sends and
/// reads. Only applied when origins are configured.
fn cors(origins: &[String]) -> actix_cors::Cors {
    let mut c = actix_cors::Cors::default()
        .allowed_methods(["GET", "POST"])
        .allowed_headers([
            header::AUTHORIZATION,
            header::CONTENT_TYPE,
            header::HeaderName::from_static("idempotency-key"),
            header::HeaderName::from_static("x-request-id"),
        ])
        .expose_headers([
            header::HeaderName::from_static("x-request-id"),
            header::HeaderName::from_static("idempotent-replayed"),
            header::RETRY_AFTER,
        ])
        .max_age(3600);
    for o in origins {
        c = if o == "*" {
            c.allow_any_origin()
        } else {
            c.allowed_origin(o)
        };
    }
    c
}

/// Start the HTTP server on a bound listener.
pub fn serve(
    app: Arc<App>,
    listener: TcpListener,
    workers: Option<usize>,
) -> std::io::Result<Server> {
    let data = web::Data::from(app);
    let max_body = data.config.max_body_bytes;
    let limiter = web::Data::new(limits::RateLimiter::from_config(&data.config));
    let failures = web::Data::new(limits::AuthFailures::from_config(&data.config));
    let ms = std::time::Duration::from_millis;
    let (head_timeout, disconnect_timeout) = (
        ms(data.config.client_request_timeout_ms),
        ms(data.config.client_disconnect_timeout_ms),
    );
    let origins = data.config.cors_origins.clone();
    let mut server = actix_web::HttpServer::new(move || {
        actix_web::App::new()
            .app_data(data.clone())
            .app_data(limiter.clone())
            .app_data(failures.clone())
            .wrap(actix_web::middleware::Condition::new(
                !origins.is_empty(),
                cors(&origins),
            ))
            .wrap(from_fn(reject_nul_in_url))
            .wrap(from_fn(limits::time_limit))
            .wrap(from_fn(request_log))
            .configure(|cfg| configure(cfg, max_body))
    })
    .client_request_timeout(head_timeout)
    .client_disconnect_timeout(disconnect_timeout)
    .shutdown_timeout(10);
    if let Some(w) = workers {
        server = server.workers(w.max(1));
    }
    Ok(server.listen(listener)?.run())
}
