//! The one `diesel::table!` schema used for both SQLite and PostgreSQL.
//!
//! Column types are deliberately portable: `BigInt` for ids, counters and unix-millisecond
//! timestamps, `Integer` only for the notice year, `Text` for dates (`YYYY-MM-DD`), JSON and
//! everything else. Keep it in step with `migrations/sqlite` and `migrations/postgres`.

diesel::table! {
    catalog_versions (hash) {
        hash -> Text,
        version -> Text,
        name -> Text,
        files -> Text,
        created_at -> BigInt,
        activated_at -> Nullable<BigInt>,
        activated_by -> Nullable<Text>,
    }
}

diesel::table! {
    cases (id) {
        id -> Text,
        matter_code -> Text,
        bundle_code -> Nullable<Text>,
        status -> Text,
        outcome -> Text,
        center_id -> Text,
        township -> Nullable<Text>,
        village -> Nullable<Text>,
        window_id -> Nullable<Text>,
        channel -> Text,
        clerk_id -> Text,
        agent_id -> Nullable<Text>,
        applicant_kind -> Text,
        applicant_name -> Text,
        applicant_id_number -> Nullable<Text>,
        catalog_hash -> Text,
        application -> Text,
        assessment -> Text,
        due_date -> Nullable<Text>,
        received_on -> Text,
        created_at -> BigInt,
        updated_at -> BigInt,
        row_version -> BigInt,
    }
}

diesel::table! {
    notices (id) {
        id -> Text,
        case_id -> Text,
        kind -> Text,
        center_id -> Text,
        year -> Integer,
        seq -> BigInt,
        number -> Text,
        issued_on -> Text,
        content -> Text,
        created_at -> BigInt,
    }
}

diesel::table! {
    document_counters (center_id, kind, year) {
        center_id -> Text,
        kind -> Text,
        year -> BigInt,
        last_seq -> BigInt,
    }
}

diesel::table! {
    case_events (id) {
        id -> BigInt,
        case_id -> Text,
        at -> BigInt,
        actor -> Text,
        action -> Text,
        catalog_hash -> Text,
        detail -> Text,
    }
}

diesel::table! {
    idempotency_keys (user_id, key) {
        user_id -> Text,
        key -> Text,
        case_id -> Text,
        request_hash -> Text,
        created_at -> BigInt,
    }
}

diesel::table! {
    catalog_activations (id) {
        id -> BigInt,
        hash -> Text,
        activated_at -> BigInt,
        activated_by -> Text,
    }
}

diesel::joinable!(catalog_activations -> catalog_versions (hash));
diesel::joinable!(notices -> cases (case_id));
diesel::joinable!(case_events -> cases (case_id));
diesel::joinable!(idempotency_keys -> cases (case_id));

diesel::allow_tables_to_appear_in_same_query!(
    catalog_activations,
    catalog_versions,
    cases,
    notices,
    document_counters,
    case_events,
    idempotency_keys,
);
