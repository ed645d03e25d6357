//! The OpenAPI 3.0 document, generated from the types the handlers send and receive (their JSON
//! Schemas come from `schemars`); the browsable API reference (`api_docs.html`, embedded, with
//! its Content-Security-Policy) and the renderer of the printable service guide. Nothing is
//! downloaded at build or run time.

use schemars::gen::{SchemaGenerator, SchemaSettings};
use schemars::JsonSchema;
use serde_json::{json, Map, Value};

use super::dto::*;
use super::error::ErrorBody;
use crate::domain::matter::Matter;
use crate::http::intake::{IntakeRequest, SupplementRequest};

fn schema_ref<T: JsonSchema>(gen: &mut SchemaGenerator) -> Value {
    serde_json::to_value(gen.subschema_for::<T>()).unwrap_or(Value::Null)
}

struct Op {
    method: &'static str,
    path: &'static str,
    summary: &'static str,
    tag: &'static str,
    auth: bool,
    params: Vec<Value>,
    body: Option<Value>,
    ok_status: &'static str,
    ok: Value,
    errors: &'static [&'static str],
}

fn path_param(name: &str, desc: &str) -> Value {
    json!({"name": name, "in": "path", "required": true, "description": desc, "schema": {"type": "string"}})
}

fn query_param(name: &str, desc: &str, schema: Value) -> Value {
    json!({"name": name, "in": "query", "required": false, "description": desc, "schema": schema})
}

fn html() -> Value {
    json!({"text/html": {"schema": {"type": "string"}}})
}

fn json_of(schema: Value) -> Value {
    json!({"application/json": {"schema": schema}})
}

/// `get_api_v1_cases_id_notices` for `GET /api/v1/cases/{id}/notices`.
fn operation_id(method: &str, path: &str) -> String {
    let mut id = method.to_string();
    for part in path.split('/').filter(|p| !p.is_empty()) {
        id.push('_');
        id.extend(part.chars().filter(|c| !matches!(c, '{' | '}')).map(|c| {
            if c.is_ascii_alphanumeric() {
                c
            } else {
                '_'
            }
        }));
    }
    id
}

/// Links from an answer to the operations its ids lead to (a client, or a test generator,
/// follows them: a new case to its detail, notices, history and supplements, and to a notice).
fn links_from(method: &str, path: &str) -> Option<Value> {
    let case_ops = [
        ("get", "/api/v1/cases/{id}"),
        ("get", "/api/v1/cases/{id}/notices"),
        ("get", "/api/v1/cases/{id}/history"),
        ("post", "/api/v1/cases/{id}/supplements"),
    ];
    let notice_ops = [
        ("get", "/api/v1/notices/{id}"),
        ("get", "/api/v1/notices/{id}/print"),
    ];
    if method != "post" || !(path == "/api/v1/cases" || path == "/api/v1/cases/{id}/supplements") {
        return None;
    }
    let mut links = Map::new();
    for (m, p) in case_ops {
        let id = operation_id(m, p);
        links.insert(
            id.clone(),
            json!({"operationId": id, "parameters": {"id": "$response.body#/case/id"}}),
        );
    }
    for (m, p) in notice_ops {
        let id = operation_id(m, p);
        links.insert(
            id.clone(),
            json!({"operationId": id, "parameters": {"id": "$response.body#/notices/0/id"}}),
        );
    }
    Some(Value::Object(links))
}

/// The whole document.
pub fn document() -> Value {
    let mut gen = SchemaSettings::openapi3().into_generator();
    let error = schema_ref::<ErrorBody>(&mut gen);
    let level = json!({"type": "string", "enum": ["village", "township", "county"]});
    let ops = vec![
        Op { method: "get", path: "/healthz", summary: "Liveness", tag: "ops", auth: false, params: vec![], body: None, ok_status: "200", ok: json_of(schema_ref::<HealthStatus>(&mut gen)), errors: &[] },
        Op { method: "get", path: "/readyz", summary: "Readiness: database reachable and a catalog loaded", tag: "ops", auth: false, params: vec![], body: None, ok_status: "200", ok: json_of(schema_ref::<HealthStatus>(&mut gen)), errors: &["503"] },
        Op { method: "get", path: "/metrics", summary: "Metrics in the Prometheus text format (see docs/metrics.md)", tag: "ops", auth: false, params: vec![], body: None, ok_status: "200", ok: json!({"text/plain": {"schema": {"type": "string"}}}), errors: &[] },
        Op { method: "get", path: "/api/docs", summary: "The browsable API reference (this document, with a form to try each call)", tag: "ops", auth: false, params: vec![], body: None, ok_status: "200", ok: html(), errors: &[] },
        Op { method: "get", path: "/api/v1/openapi.json", summary: "This OpenAPI document", tag: "ops", auth: false, params: vec![], body: None, ok_status: "200", ok: json_of(json!({"type": "object"})), errors: &[] },
        Op { method: "get", path: "/api/v1/matters", summary: "List matters (事项目录)", tag: "matters", auth: false,
            params: vec![
                query_param("level", "Accepted at this level", level.clone()),
                query_param("type", "事项类型", json!({"type": "string", "enum": ["administrative_license", "administrative_payment", "administrative_confirmation", "administrative_ruling", "administrative_reward", "other_power", "public_service"]})),
                query_param("q", "Part of the name or code", json!({"type": "string"})),
            ], body: None, ok_status: "200", ok: json_of(json!({"type": "array", "items": schema_ref::<MatterSummary>(&mut gen)})), errors: &["400"] },
        Op { method: "get", path: "/api/v1/matters/{code}", summary: "One matter with all its rules", tag: "matters", auth: false, params: vec![path_param("code", "Matter code")], body: None, ok_status: "200", ok: json_of(schema_ref::<Matter>(&mut gen)), errors: &["404"] },
        Op { method: "get", path: "/api/v1/matters/{code}/guide", summary: "Service guide (办事指南) as Markdown", tag: "matters", auth: false, params: vec![path_param("code", "Matter code")], body: None, ok_status: "200", ok: json_of(schema_ref::<GuideView>(&mut gen)), errors: &["404"] },
        Op { method: "get", path: "/api/v1/matters/{code}/guide.html", summary: "Printable service guide", tag: "matters", auth: false, params: vec![path_param("code", "Matter code")], body: None, ok_status: "200", ok: html(), errors: &["404"] },
        Op { method: "get", path: "/api/v1/bundles", summary: "List bundles (一件事)", tag: "matters", auth: false, params: vec![], body: None, ok_status: "200", ok: json_of(json!({"type": "array", "items": schema_ref::<BundleView>(&mut gen)})), errors: &[] },
        Op { method: "get", path: "/api/v1/catalog", summary: "The active catalog version", tag: "catalog", auth: true, params: vec![], body: None, ok_status: "200", ok: json_of(schema_ref::<CatalogStatus>(&mut gen)), errors: &["401"] },
        Op { method: "post", path: "/api/v1/catalog/reload", summary: "Reload the rules directory now (admin): activated only if it loads and every golden example passes", tag: "catalog", auth: true, params: vec![], body: None, ok_status: "200", ok: json_of(schema_ref::<crate::app::ReloadAttempt>(&mut gen)), errors: &["401", "403", "422"] },
        Op { method: "post", path: "/api/v1/catalog/impact", summary: "Impact preview (admin): re-assess the stored intakes of the last `days` under the rules directory as it is now", tag: "catalog", auth: true, params: vec![], body: Some(schema_ref::<super::PeriodRequest>(&mut gen)), ok_status: "200", ok: json_of(schema_ref::<crate::app::replay::ImpactReport>(&mut gen)), errors: &["400", "401", "403", "413", "415", "422", "503"] },
        Op { method: "post", path: "/api/v1/catalog/replay-check", summary: "Replay the stored intakes of the last `days` under their own catalog versions (admin): each must reproduce its stored assessment exactly", tag: "catalog", auth: true, params: vec![], body: Some(schema_ref::<super::PeriodRequest>(&mut gen)), ok_status: "200", ok: json_of(schema_ref::<crate::app::replay::ReplayCheck>(&mut gen)), errors: &["400", "401", "403", "413", "415", "422", "503"] },
        Op { method: "post", path: "/api/v1/assessments", summary: "Pre-check: assess an application without storing anything", tag: "intake", auth: true, params: vec![], body: Some(schema_ref::<IntakeRequest>(&mut gen)), ok_status: "200", ok: json_of(schema_ref::<crate::domain::case::CaseAssessment>(&mut gen)), errors: &["400", "401", "403", "404", "413", "415", "422"] },
        Op { method: "post", path: "/api/v1/cases", summary: "Intake: assess, store the case and its notices, answer with what to print", tag: "intake", auth: true,
            params: vec![],
            body: Some(schema_ref::<IntakeRequest>(&mut gen)), ok_status: "201", ok: json_of(schema_ref::<IntakeResponse>(&mut gen)), errors: &["400", "401", "403", "404", "413", "415", "422", "503"] },
        Op { method: "get", path: "/api/v1/cases", summary: "Search cases within the caller's scope", tag: "cases", auth: true,
            params: vec![
                query_param("status", "Case status", json!({"type": "string"})),
                query_param("matter", "Matter or bundle code", json!({"type": "string"})),
                query_param("window", "Window id", json!({"type": "string"})),
                query_param("applicant_id", "Applicant ID number", json!({"type": "string"})),
                query_param("from", "Received on or after (YYYY-MM-DD)", json!({"type": "string", "format": "date"})),
                query_param("to", "Received on or before (YYYY-MM-DD)", json!({"type": "string", "format": "date"})),
                query_param("page", "Page from 1", json!({"type": "integer", "minimum": 1, "maximum": 1_000_000})),
                query_param("per_page", "1 to 200", json!({"type": "integer", "minimum": 1, "maximum": 200})),
            ], body: None, ok_status: "200", ok: json_of(schema_ref::<CasePageView>(&mut gen)), errors: &["400", "401", "403", "503"] },
        Op { method: "get", path: "/api/v1/cases/{id}", summary: "One case with its assessment", tag: "cases", auth: true, params: vec![path_param("id", "Case id")], body: None, ok_status: "200", ok: json_of(schema_ref::<CaseDetail>(&mut gen)), errors: &["401", "403", "404", "503"] },
        Op { method: "post", path: "/api/v1/cases/{id}/supplements", summary: "Supplement (补正): add materials or corrected fields; re-assessed under the case's catalog version", tag: "cases", auth: true, params: vec![path_param("id", "Case id")], body: Some(schema_ref::<SupplementRequest>(&mut gen)), ok_status: "200", ok: json_of(schema_ref::<IntakeResponse>(&mut gen)), errors: &["400", "401", "403", "404", "409", "413", "415", "422", "503"] },
        Op { method: "get", path: "/api/v1/cases/{id}/notices", summary: "The notices of a case", tag: "cases", auth: true, params: vec![path_param("id", "Case id")], body: None, ok_status: "200", ok: json_of(json!({"type": "array", "items": schema_ref::<NoticeView>(&mut gen)})), errors: &["401", "403", "404", "503"] },
        Op { method: "get", path: "/api/v1/cases/{id}/history", summary: "The append-only history of a case", tag: "cases", auth: true, params: vec![path_param("id", "Case id")], body: None, ok_status: "200", ok: json_of(json!({"type": "array", "items": schema_ref::<EventView>(&mut gen)})), errors: &["401", "403", "404", "503"] },
        Op { method: "get", path: "/api/v1/notices/{id}", summary: "One notice", tag: "notices", auth: true, params: vec![path_param("id", "Notice id")], body: None, ok_status: "200", ok: json_of(schema_ref::<NoticeView>(&mut gen)), errors: &["401", "403", "404", "503"] },
        Op { method: "get", path: "/api/v1/notices/{id}/print", summary: "Printable A4 page of a notice, with the seal name, number and date", tag: "notices", auth: true, params: vec![path_param("id", "Notice id")], body: None, ok_status: "200", ok: html(), errors: &["401", "403", "404", "503"] },
    ];
    let mut ops = ops;
    ops.extend(handling_ops(&mut gen));

    // The paths come from the route table that serves requests: a route without an operation
    // here is still listed (marked undocumented, and a test fails), and an operation without a
    // route is left out.
    let mut described: std::collections::HashMap<(String, &str), Op> = ops
        .into_iter()
        .map(|op| ((op.method.to_string(), op.path), op))
        .collect();
    let mut paths = Map::new();
    for route in super::routes() {
        let method = route.method.as_str().to_ascii_lowercase();
        let op = described
            .remove(&(method.clone(), route.path))
            .unwrap_or_else(|| Op {
                method: if method == "post" { "post" } else { "get" },
                path: route.path,
                summary: UNDOCUMENTED,
                tag: "undocumented",
                auth: true,
                params: Vec::new(),
                body: None,
                ok_status: "200",
                ok: json_of(json!({"type": "object"})),
                errors: &[],
            });
        paths_insert(&mut paths, op, &error);
    }
    let schemas = serde_json::to_value(gen.definitions()).unwrap_or(Value::Null);
    json!({
        "openapi": "3.0.3",
        "info": {
            "title": "yichuang 一窗",
            "version": env!("CARGO_PKG_VERSION"),
            "description": "One-window intake and approval routing for county, township and village government service centers. Errors: {\"error\": code, \"message\": text, \"details\": ...}."
        },
        "tags": tags(),
        "x-error-codes": crate::error_code::ErrorCode::ALL
            .iter()
            .map(|c| json!({"code": c.as_str(), "status": c.status(), "description": c.meaning()}))
            .collect::<Vec<_>>(),
        "paths": paths,
        "components": {
            "schemas": schemas,
            "securitySchemes": {"bearer": {"type": "http", "scheme": "bearer", "description": "A token of the tokens file, or a JWT of the county's identity system (when configured)"}}
        }
    })
}

/// The tags of the operations, in the order of the API page.
fn tags() -> Value {
    json!([
        {"name": "matters", "description": "事项目录与办事指南 / Matters, bundles and service guides"},
        {"name": "intake", "description": "受理 / Pre-check and intake"},
        {"name": "cases", "description": "办件 / Cases, their notices, history and supplements"},
        {"name": "notices", "description": "文书 / Notices"},
        {"name": "handling", "description": "办理 / Steps, clock, delivery and rating after acceptance"},
        {"name": "supervision", "description": "电子监察 / Supervision figures, alerts and follow-ups"},
        {"name": "catalog", "description": "事项规则库 / The rule catalog: version, reload, impact and replay"},
        {"name": "ops", "description": "运维 / Health, metrics, this reference and the scheduler"},
        {"name": "undocumented", "description": "Routes without an operation in http/openapi.rs"},
    ])
}

/// The summary of a served route that has no operation in this file.
pub const UNDOCUMENTED: &str = "UNDOCUMENTED: this route has no operation in http/openapi.rs";

fn paths_insert(paths: &mut Map<String, Value>, op: Op, error: &Value) {
    let mut responses = Map::new();
    let mut ok = json!({"description": "OK", "content": op.ok});
    if let Some(links) = links_from(op.method, op.path) {
        ok["links"] = links;
    }
    if op.method == "post" && op.path == "/api/v1/cases" {
        // A retry with the same Idempotency-Key answers 200 with the case taken the first time.
        let mut replay = ok.clone();
        replay["description"] = json!("A retry with the same Idempotency-Key: the case taken the first time (header Idempotent-Replayed: true)");
        responses.insert("200".into(), replay);
    }
    responses.insert(op.ok_status.into(), ok);
    // Any request may meet the time limit (503); an authenticated one, the rate limit (429).
    let limits: &[&str] = if op.auth { &["429", "503"] } else { &["503"] };
    for e in op.errors.iter().chain(limits) {
        responses.insert(
            (*e).into(),
            json!({"description": "Error (the project's error shape)", "content": json_of(error.clone())}),
        );
    }
    let mut params = op.params;
    if op.method == "post" && op.path.starts_with("/api/v1/cases") {
        // Every write of a case takes a key, so that a retry never does the work twice.
        params.push(json!({"name": "Idempotency-Key", "in": "header", "required": false, "description": "A retry with the same key (same user, path and body) answers with what the first request committed, with header Idempotent-Replayed: true; the same key for another request is refused (422 idempotency_key_reused)", "schema": {"type": "string", "minLength": 1, "maxLength": 128}}));
    }
    let mut o = json!({
        "operationId": operation_id(op.method, op.path),
        "summary": op.summary,
        "tags": [op.tag],
        "parameters": params,
        "responses": responses,
    });
    if op.auth {
        o["security"] = json!([{"bearer": []}]);
    }
    if let Some(b) = op.body {
        o["requestBody"] = json!({"required": true, "content": json_of(b)});
    }
    let entry = paths
        .entry(op.path.to_string())
        .or_insert_with(|| Value::Object(Map::new()));
    entry[op.method] = o;
}

/// The operations after acceptance: inbox, step actions, clock, delivery, rating, supervision.
fn handling_ops(gen: &mut SchemaGenerator) -> Vec<Op> {
    use super::handling::{
        ActionResponse, DeferredSupply, DeliveryRequest, ExtensionRequest, FollowupClose,
        PauseRequest, RatingRequest, StepAction, WithdrawalRequest,
    };
    use crate::app::handling::{Progress, StepView};
    use crate::app::scheduler::SweepReport;
    use crate::app::supervise::{Alerts, Figures, Followup};
    let case = || path_param("id", "Case id");
    let limit = || {
        query_param(
            "limit",
            "At most this many (1–1000, default 200)",
            json!({"type": "integer", "minimum": 1, "maximum": 1000}),
        )
    };
    let action = |summary: &'static str,
                  path: &'static str,
                  body: Option<Value>,
                  gen: &mut SchemaGenerator| Op {
        method: "post",
        path,
        summary,
        tag: "handling",
        auth: true,
        params: if path.contains("{step}") {
            vec![case(), path_param("step", "Step id")]
        } else {
            vec![case()]
        },
        body,
        ok_status: "200",
        ok: json_of(schema_ref::<ActionResponse>(gen)),
        errors: &[
            "400", "401", "403", "404", "409", "413", "415", "422", "503",
        ],
    };
    let date = json!({"type": "string", "format": "date"});
    vec![
        Op { method: "get", path: "/api/v1/inbox", summary: "Steps waiting for the caller's unit (approvers: their department; clerks: their center)", tag: "handling", auth: true, params: vec![limit()], body: None, ok_status: "200", ok: json_of(json!({"type": "array", "items": schema_ref::<StepView>(gen)})), errors: &["400", "401", "403", "503"] },
        Op { method: "get", path: "/api/v1/cases/{id}/progress", summary: "Where an accepted case stands: steps, deadlines and their colour, pause, extensions, decision, delivery, rating", tag: "handling", auth: true, params: vec![case()], body: None, ok_status: "200", ok: json_of(schema_ref::<Progress>(gen)), errors: &["401", "403", "404", "409", "503"] },
        { let b = Some(schema_ref::<StepAction>(gen)); action("Act on a step assigned to the caller's unit: approve, refuse (reason and basis), return to an earlier step, transfer (转办), countersign (加签)", "/api/v1/cases/{id}/steps/{step}", b, gen) },
        { let b = Some(schema_ref::<PauseRequest>(gen)); action("Start a 特别程序 (Art. 45): the clock stops; the applicant gets a written notice", "/api/v1/cases/{id}/pause", b, gen) },
        action("End the 特别程序: the deadlines move by the working days it took", "/api/v1/cases/{id}/resume", None, gen),
        { let b = Some(schema_ref::<ExtensionRequest>(gen)); action("Extend the time limit (Art. 42) with the approving head and the reason; a notice to the applicant", "/api/v1/cases/{id}/extension", b, gen) },
        { let b = Some(schema_ref::<DeferredSupply>(gen)); action("Supply the materials promised under 容缺受理", "/api/v1/cases/{id}/deferred-materials", b, gen) },
        { let b = Some(schema_ref::<DeliveryRequest>(gen)); action("Record the delivery of the result (window pickup with originals checked, mail, or via the village agent)", "/api/v1/cases/{id}/delivery", b, gen) },
        { let b = Some(schema_ref::<RatingRequest>(gen)); action("好差评: rate a finished case once (1–5); a 差评 opens a follow-up", "/api/v1/cases/{id}/rating", b, gen) },
        { let b = Some(schema_ref::<FollowupClose>(gen)); action("Close the follow-up of a 差评 (supervisors)", "/api/v1/cases/{id}/followup/close", b, gen) },
        { let b = Some(schema_ref::<WithdrawalRequest>(gen)); action("撤回: record the applicant's withdrawal before the decision; open steps and deadlines end, a numbered notice is issued", "/api/v1/cases/{id}/withdrawal", b, gen) },
        Op { method: "get", path: "/api/v1/supervision/figures", summary: "电子监察 figures of cases accepted in a period, grouped; JSON or CSV", tag: "supervision", auth: true,
            params: vec![
                json!({"name": "from", "in": "query", "required": true, "description": "First day of acceptance", "schema": date}),
                json!({"name": "to", "in": "query", "required": true, "description": "Last day of acceptance", "schema": date}),
                query_param("by", "Grouping", json!({"type": "string", "enum": ["all", "township", "matter", "department", "window", "level", "clerk"]})),
                query_param("format", "json (default) or csv", json!({"type": "string", "enum": ["json", "csv"]})),
            ], body: None, ok_status: "200",
            ok: json!({"application/json": {"schema": {"type": "array", "items": schema_ref::<Figures>(gen)}}, "text/csv": {"schema": {"type": "string"}}}),
            errors: &["400", "401", "403", "422", "503"] },
        Op { method: "get", path: "/api/v1/supervision/alerts", summary: "Yellow and red cases and steps, and results past the Art. 44 delivery limit", tag: "supervision", auth: true, params: vec![limit()], body: None, ok_status: "200", ok: json_of(schema_ref::<Alerts>(gen)), errors: &["400", "401", "403", "503"] },
        Op { method: "get", path: "/api/v1/supervision/followups", summary: "差评 follow-ups not yet closed", tag: "supervision", auth: true, params: vec![limit()], body: None, ok_status: "200", ok: json_of(json!({"type": "array", "items": schema_ref::<Followup>(gen)})), errors: &["400", "401", "403", "503"] },
        Op { method: "get", path: "/api/v1/outbox", summary: "Outbox deliveries to subscribers, oldest first (admin): state pending | delivered | dead, per subscriber", tag: "ops", auth: true, params: vec![query_param("state", "pending, delivered or dead", json!({"type": "string", "enum": ["pending", "delivered", "dead"]})), query_param("subscriber", "One subscriber", json!({"type": "string"})), limit()], body: None, ok_status: "200", ok: json_of(json!({"type": "array", "items": schema_ref::<crate::store::outbox::DeliveryView>(gen)})), errors: &["400", "401", "403", "503"] },
        Op { method: "post", path: "/api/v1/outbox/{id}/resend", summary: "Send an outbox event again (admin): its deliveries (of ?subscriber=, or all) become pending", tag: "ops", auth: true, params: vec![path_param("id", "Event id <case id>:<seq>"), query_param("subscriber", "Only this subscriber", json!({"type": "string"}))], body: None, ok_status: "200", ok: json_of(schema_ref::<super::handling::ResendResult>(gen)), errors: &["400", "401", "403", "404", "503"] },
        Op { method: "get", path: "/api/v1/supervision/personal-data-reads", summary: "个人信息查阅记录: who read which case's personal data, when, through which endpoint (admins and supervisors), newest first", tag: "supervision", auth: true,
            params: vec![
                query_param("case", "Case id", json!({"type": "string"})),
                query_param("user", "Reader's user id", json!({"type": "string"})),
                query_param("from", "Reads on or after this day (China time)", date.clone()),
                query_param("to", "Reads on or before this day (China time)", date.clone()),
                query_param("page", "Page from 1", json!({"type": "integer", "minimum": 1, "maximum": 1_000_000})),
                query_param("per_page", "1 to 1000 (default 100)", json!({"type": "integer", "minimum": 1, "maximum": 1000})),
            ], body: None, ok_status: "200", ok: json_of(schema_ref::<PersonalDataReadsPage>(gen)), errors: &["400", "401", "403", "503"] },
        Op { method: "post", path: "/api/v1/scheduler/sweep", summary: "Run the deadline scheduler now (admin); it also runs every scheduler_poll_ms", tag: "ops", auth: true, params: vec![], body: None, ok_status: "200", ok: json_of(schema_ref::<SweepReport>(gen)), errors: &["401", "403", "503"] },
    ]
}

/// The browsable API reference: one HTML file with its CSS and vanilla JavaScript inline, which
/// fetches `/api/v1/openapi.json` and renders every operation with its parameters, schemas and a
/// form to try it. Embedded in the binary; it loads nothing from elsewhere.
pub const API_DOCS_HTML: &str = include_str!("api_docs.html");

/// The text of the page's one inline `<script>` element.
fn inline_script(page: &str) -> Option<&str> {
    let start = page.find("<script>")? + "<script>".len();
    let end = start + page[start..].find("</script>")?;
    Some(&page[start..end])
}

/// The Content-Security-Policy of the API page: its own inline script by hash and nothing else
/// (no other origin, no `eval`); inline styles, because the printable pages a try-it call opens
/// in a new tab (from a `blob:` URL, so under this policy) carry their own `<style>`; `fetch`
/// to this origin only.
pub fn api_docs_csp() -> &'static str {
    static CSP: std::sync::OnceLock<String> = std::sync::OnceLock::new();
    CSP.get_or_init(|| {
        use base64::Engine as _;
        use sha2::Digest as _;
        let script = match inline_script(API_DOCS_HTML) {
            Some(s) => format!(
                "'sha256-{}'",
                base64::engine::general_purpose::STANDARD.encode(sha2::Sha256::digest(s))
            ),
            None => "'none'".to_string(),
        };
        format!(
            "default-src 'none'; script-src {script}; style-src 'unsafe-inline'; \
             connect-src 'self'; img-src 'self' data: blob:; base-uri 'none'; form-action 'none'; \
             frame-ancestors 'none'"
        )
    })
}
#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_api_page_has_one_inline_script_named_by_its_policy() {
        let script = inline_script(API_DOCS_HTML).unwrap();
        assert!(script.contains("fetch('/api/v1/openapi.json'"));
        assert_eq!(API_DOCS_HTML.matches("<script").count(), 1);
        // Data goes into the DOM as text only.
        assert!(!script.contains("innerHTML") && !script.contains("insertAdjacentHTML"));
        let csp = api_docs_csp();
        assert!(
            csp.starts_with("default-src 'none'; script-src 'sha256-"),
            "{csp}"
        );
        assert!(!csp.contains("  "), "{csp}");
    }
}
