//! The stable, machine-readable codes of every error the service answers with (the `error` field
//! of `{"error", "message", "details"}`). One enum for every layer: the domain's refusals, the
//! application's errors and the HTTP edge name their code here, and the HTTP layer maps each to
//! its status. Clients may switch on these names; they never change meaning.

use schemars::JsonSchema;
use serde::Serialize;

macro_rules! error_codes {
    ($($variant:ident => $name:literal, $status:literal, $doc:literal;)*) => {
        /// A stable error code.
        #[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, JsonSchema)]
        pub enum ErrorCode {
            $(#[doc = $doc] #[serde(rename = $name)] $variant,)*
        }

        impl ErrorCode {
            /// Every code, in declaration order.
            pub const ALL: &'static [ErrorCode] = &[$(ErrorCode::$variant,)*];

            /// The code as sent.
            pub fn as_str(self) -> &'static str {
                match self {
                    $(ErrorCode::$variant => $name,)*
                }
            }

            /// The HTTP status it is answered with.
            pub fn status(self) -> u16 {
                match self {
                    $(ErrorCode::$variant => $status,)*
                }
            }

            /// What it means (listed in the OpenAPI document and on the API page).
            pub fn meaning(self) -> &'static str {
                match self {
                    $(ErrorCode::$variant => $doc,)*
                }
            }
        }
    };
}

error_codes! {
    // 400: the request cannot be read.
    UnreadableBody => "unreadable_body", 400, "The body cannot be read (broken stream, bad encoding).";
    InvalidQuery => "invalid_query", 400, "A query parameter is malformed or out of range.";
    InvalidPath => "invalid_path", 400, "A path parameter is malformed (or not UTF-8).";
    InvalidCharacters => "invalid_characters", 400, "The request contains a NUL character.";
    InvalidIdempotencyKey => "invalid_idempotency_key", 400, "The Idempotency-Key header is malformed.";
    // 401, 403, 404, 409
    Unauthorized => "unauthorized", 401, "No valid credentials.";
    Forbidden => "forbidden", 403, "The user may not do this.";
    NotFound => "not_found", 404, "No such resource, or not within the user's scope.";
    UnknownMatter => "unknown_matter", 404, "No matter with this code.";
    UnknownBundle => "unknown_bundle", 404, "No bundle with this code.";
    MethodNotAllowed => "method_not_allowed", 405, "The path exists but not with this method (the Allow header lists those it has).";
    Conflict => "conflict", 409, "The case is not in a state that allows this, or changed meanwhile.";
    CaseLapsed => "case_lapsed", 409, "The one-time notice lapsed (逾期未补正): a new application is needed.";
    // 413, 415
    BodyTooLarge => "body_too_large", 413, "The body is larger than the service accepts.";
    UnsupportedMediaType => "unsupported_media_type", 415, "The body is not JSON.";
    // 422: readable but not acceptable.
    InvalidBody => "invalid_body", 422, "The body is not JSON of the expected shape (line and column in details).";
    InvalidRequest => "invalid_request", 422, "A value breaks a rule of the request (details per field).";
    MatterOrBundle => "matter_or_bundle", 422, "Exactly one of matter and bundle must be given.";
    UnknownTownship => "unknown_township", 422, "The township is not in the organisation.";
    UnknownVillage => "unknown_village", 422, "The village is not in the organisation.";
    VillageNotInTownship => "village_not_in_township", 422, "The village belongs to another township.";
    UnknownFields => "unknown_fields", 422, "The form has no such fields.";
    UnknownMaterials => "unknown_materials", 422, "The matter has no such materials.";
    InvalidWindow => "invalid_window", 422, "The window does not belong to the center.";
    InvalidChannel => "invalid_channel", 422, "The channel is not open to this user.";
    CatalogCannotDecide => "catalog_cannot_decide", 422, "The catalog cannot decide this application.";
    RuleScriptFailed => "rule_script_failed", 422, "A rule script failed on this application.";
    IdempotencyKeyReused => "idempotency_key_reused", 422, "The Idempotency-Key was used for another request.";
    TextRequired => "text_required", 422, "A required text is empty or too long.";
    TextTooLong => "text_too_long", 422, "A text is too long.";
    ReasonRequired => "reason_required", 422, "The action needs a reason (and a refusal its legal basis).";
    UnknownStep => "unknown_step", 422, "A return names a step that is not earlier in the route.";
    UnknownUnit => "unknown_unit", 422, "The unit is not a department of the county or the case's township.";
    SameUnit => "same_unit", 422, "A transfer to the unit that has the step.";
    SpecialProcedureNotAllowed => "special_procedure_not_allowed", 422, "The matter has no such special procedure.";
    ExpectedEndPast => "expected_end_past", 422, "The expected end of a special procedure lies in the past.";
    Materials => "materials", 422, "The list of materials is empty or too long.";
    NotDeferred => "not_deferred", 422, "A material that was not deferred (容缺).";
    MaterialDefective => "material_defective", 422, "A supplied material does not meet its standard.";
    OriginalsNotChecked => "originals_not_checked", 422, "A window pickup without checking the originals.";
    NotAgentCase => "not_agent_case", 422, "Delivery through an agent of a case no agent submitted.";
    DeliveryMethodNotAllowed => "delivery_method_not_allowed", 422, "The matter does not allow this delivery method.";
    RatingLevel => "rating_level", 422, "A rating level outside 1 to 5.";
    InvalidPeriod => "invalid_period", 422, "A period whose end is before its start, or too long.";
    CatalogRejected => "catalog_rejected", 422, "The catalog does not pass the gate.";
    // 429, 500, 503
    RateLimited => "rate_limited", 429, "Too many requests; retry after the given seconds.";
    Internal => "internal", 500, "A fault of the service.";
    DatabaseUnavailable => "database_unavailable", 503, "The database is unavailable; retry later.";
    CatalogVersionUnavailable => "catalog_version_unavailable", 503, "The case's catalog version cannot be loaded.";
    Overloaded => "overloaded", 503, "The service is too busy.";
    RequestTimeout => "request_timeout", 503, "The request took longer than the service allows.";
    NotReady => "not_ready", 503, "The service is not ready (database unavailable).";
}

impl std::fmt::Display for ErrorCode {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

#[cfg(test)]
mod tests {
    use super::ErrorCode;

    #[test]
    fn names_are_unique_snake_case_and_serialise_as_sent() {
        let mut seen = std::collections::BTreeSet::new();
        for c in ErrorCode::ALL {
            assert!(seen.insert(c.as_str()), "{c:?} twice");
            assert!(c
                .as_str()
                .chars()
                .all(|ch| ch.is_ascii_lowercase() || ch == '_'));
            assert_eq!(
                serde_json::to_value(c).unwrap(),
                serde_json::Value::String(c.as_str().into())
            );
            assert!((400..600).contains(&c.status()));
        }
    }

    /// Every code is used somewhere in the service (lemmy keeps its error enum honest the same
    /// way): a code nothing answers with is dead vocabulary in the API documentation.
    #[test]
    fn every_code_is_used_in_the_sources() {
        let root = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("src");
        let mut text = String::new();
        let mut dirs = vec![root];
        while let Some(d) = dirs.pop() {
            for e in std::fs::read_dir(&d).unwrap().flatten() {
                let p = e.path();
                if p.is_dir() {
                    dirs.push(p);
                } else if p.extension().is_some_and(|x| x == "rs") && !p.ends_with("error_code.rs")
                {
                    text.push_str(&std::fs::read_to_string(&p).unwrap());
                }
            }
        }
        let unused: Vec<_> = ErrorCode::ALL
            .iter()
            .filter(|c| !text.contains(&format!("ErrorCode::{c:?}")))
            .collect();
        assert!(unused.is_empty(), "unused error codes: {unused:?}");
    }
}
