//! One JSON error shape everywhere: `{"error": "<stable_code>", "message": "...", "details": ...}`,
//! with messages a clerk can act on.

use actix_web::http::StatusCode;
use actix_web::{HttpResponse, ResponseError};
use serde::Serialize;
use serde_json::{json, Value};

use crate::app::AppError;
use crate::auth::AuthError;
use crate::decide::DecideError;
use crate::error_code::ErrorCode;
use crate::store::StoreError;

/// The body of every error response.
#[derive(Debug, Clone, Serialize, schemars::JsonSchema)]
pub struct ErrorBody {
    /// Stable machine-readable code, e.g. `unknown_matter`.
    pub error: String,
    /// What happened and what to do, in Chinese for the clerk.
    pub message: String,
    /// Per-field or per-item details, or null.
    pub details: Value,
}

/// An error answered over HTTP.
#[derive(Debug, Clone, thiserror::Error)]
#[error("{status} {code}: {message}")]
pub struct ApiError {
    pub status: StatusCode,
    pub code: ErrorCode,
    pub message: String,
    pub details: Value,
    /// Seconds for the `Retry-After` header (503 answers default to 5).
    pub retry_after: Option<u64>,
}

impl ApiError {
    /// An error with its code; the status is the code's.
    pub fn new(code: ErrorCode, message: impl Into<String>) -> Self {
        Self {
            status: StatusCode::from_u16(code.status())
                .unwrap_or(StatusCode::INTERNAL_SERVER_ERROR),
            code,
            message: message.into(),
            details: Value::Null,
            retry_after: None,
        }
    }
    pub fn with_details(mut self, details: Value) -> Self {
        self.details = details;
        self
    }
    pub fn with_retry_after(mut self, seconds: u64) -> Self {
        self.retry_after = Some(seconds);
        self
    }
    pub fn unauthorized(message: impl Into<String>) -> Self {
        Self::new(ErrorCode::Unauthorized, message)
    }
    pub fn not_found(message: impl Into<String>) -> Self {
        Self::new(ErrorCode::NotFound, message)
    }
}

impl ResponseError for ApiError {
    fn status_code(&self) -> StatusCode {
        self.status
    }
    fn error_response(&self) -> HttpResponse {
        let mut resp = HttpResponse::build(self.status);
        if self.status == StatusCode::UNAUTHORIZED {
            resp.insert_header(("WWW-Authenticate", "Bearer"));
        }
        match self.retry_after {
            Some(s) => {
                resp.insert_header(("Retry-After", s.to_string()));
            }
            None if self.status == StatusCode::SERVICE_UNAVAILABLE => {
                resp.insert_header(("Retry-After", "5"));
            }
            None => {}
        }
        resp.json(ErrorBody {
            error: self.code.as_str().to_string(),
            message: self.message.clone(),
            details: self.details.clone(),
        })
    }
}

impl From<AuthError> for ApiError {
    fn from(e: AuthError) -> Self {
        Self::unauthorized(e.to_string()).with_details(json!({ "reason": e.reason() }))
    }
}

impl From<DecideError> for ApiError {
    fn from(e: DecideError) -> Self {
        let msg = e.to_string();
        match e {
            DecideError::UnknownMatter(code) => Self::new(ErrorCode::UnknownMatter, format!("没有编码为 {code} 的事项，请核对事项编码"))
                .with_details(json!({ "matter": code })),
            DecideError::UnknownBundle(code) => Self::new(ErrorCode::UnknownBundle, format!("没有编码为 {code} 的“一件事”，请核对编码"))
                .with_details(json!({ "bundle": code })),
            DecideError::UnknownTownship(t) => Self::new(ErrorCode::UnknownTownship, msg).with_details(json!({ "township": t })),
            DecideError::UnknownVillage(v) => Self::new(ErrorCode::UnknownVillage, msg).with_details(json!({ "village": v })),
            DecideError::VillageNotInTownship { .. } => Self::new(ErrorCode::VillageNotInTownship, msg),
            DecideError::UnknownFields { fields, matter } => Self::new(ErrorCode::UnknownFields,
                format!("事项 {matter} 的申请表没有以下字段：{}，请删除或改正字段名", fields.join("、")),
            )
            .with_details(json!({ "fields": fields })),
            DecideError::UnknownMaterials { materials, matter } => Self::new(ErrorCode::UnknownMaterials,
                format!("事项 {matter} 的材料清单中没有：{}，请核对材料编号", materials.join("、")),
            )
            .with_details(json!({ "materials": materials })),
            DecideError::Unresolvable { .. } | DecideError::NoRoute { .. } => Self::new(ErrorCode::CatalogCannotDecide,
                format!("{msg}。请联系县信息中心检查事项配置"),
            ),
            DecideError::Script(f) => Self::new(ErrorCode::RuleScriptFailed,
                format!("事项规则执行出错，本次申请未能判定。请联系县信息中心。{f}"),
            )
            .with_details(json!({ "matter": f.origin.matter, "file": f.origin.file, "line": f.line, "column": f.col, "script": f.origin.path })),
        }
    }
}

impl From<StoreError> for ApiError {
    fn from(e: StoreError) -> Self {
        match e {
            StoreError::Unavailable(_) | StoreError::Pool(_) | StoreError::Connect(_) => Self::new(
                ErrorCode::DatabaseUnavailable,
                "数据库暂时不可用，请稍后重试；重试时请使用同一 Idempotency-Key，以免重复受理或重复办理",
            ),
            StoreError::NotFound(what) => Self::not_found(format!("{what} 不存在")),
            StoreError::Stale(_)
            | StoreError::Duplicate(_)
            | StoreError::MissingReference(_)
            | StoreError::DueItemTaken(_) => {
                Self::new(ErrorCode::Conflict, "该办件刚被其他人修改，请刷新后重试")
            }
            StoreError::IdempotencyMismatch => Self::new(
                ErrorCode::IdempotencyKeyReused,
                "该 Idempotency-Key 已用于另一个不同的请求（另一份申请或另一项办理操作），请为新的请求使用新的键",
            ),
            StoreError::Query(m)
            | StoreError::Migration(m)
            | StoreError::Corrupt(m)
            | StoreError::Decrypt(m) => {
                tracing::error!(error = %m, "store failure");
                Self::new(ErrorCode::Internal, "服务内部错误，请联系县信息中心")
            }
        }
    }
}

impl From<AppError> for ApiError {
    fn from(e: AppError) -> Self {
        match e {
            AppError::Invalid {
                code,
                message,
                details,
            } => Self::new(code, message).with_details(details),
            AppError::NotFound(m) => Self::not_found(m),
            AppError::Forbidden(m) => Self::new(ErrorCode::Forbidden, m),
            AppError::Conflict(m) => Self::new(ErrorCode::Conflict, m),
            AppError::Decide(d) => d.into(),
            AppError::Store(s) => s.into(),
            AppError::CatalogVersion { hash, message } => {
                tracing::error!(%hash, %message, "pinned catalog version unavailable");
                Self::new(
                    ErrorCode::CatalogVersionUnavailable,
                    "本办件受理时适用的事项目录版本暂时无法加载，请联系县信息中心",
                )
            }
            AppError::Corrupt(m) => {
                tracing::error!(error = %m, "stored data unreadable");
                Self::new(ErrorCode::Internal, "服务内部错误，请联系县信息中心")
            }
            AppError::Template(t) => {
                tracing::error!(error = %t, "template did not render");
                Self::new(
                    ErrorCode::Internal,
                    "文书模板无法套用，请联系县信息中心检查 rules/templates",
                )
            }
        }
    }
}

impl From<actix_web::error::BlockingError> for ApiError {
    fn from(_: actix_web::error::BlockingError) -> Self {
        Self::new(ErrorCode::Overloaded, "服务繁忙，请稍后重试")
    }
}
