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
        /// Hash of the case's latest audit entry (NULL only for cases from before the chain).
        audit_head -> Nullable<Text>,
        /// HMAC-SHA256 of the applicant's ID number under the search key (NULL: no key, or none).
        applicant_id_hash -> Nullable<Text>,
    }
}

diesel::table! {
    /// Who read a case's personal data, when, through which endpoint (append-only).
    personal_data_reads (id) {
        id -> BigInt,
        at -> BigInt,
        user_id -> Text,
        role -> Text,
        case_id -> Text,
        endpoint -> Text,
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
        /// NULL only for entries from before the chain (see `audit_chain`).
        prev_hash -> Nullable<Text>,
        hash -> Nullable<Text>,
    }
}

diesel::table! {
    /// One row: entries with ids up to `legacy_through_id` may predate the hash chain.
    audit_chain (id) {
        id -> Integer,
        legacy_through_id -> BigInt,
    }
}

diesel::table! {
    /// Cases archived by `yichuang archive`: where each went and its chain head (append-only).
    archived_cases (case_id) {
        case_id -> Text,
        status -> Text,
        received_on -> Text,
        audit_head -> Nullable<Text>,
        entries -> BigInt,
        archive_sha256 -> Text,
        archived_at -> BigInt,
    }
}

diesel::table! {
    idempotency_keys (user_id, key) {
        user_id -> Text,
        key -> Text,
        case_id -> Text,
        request_hash -> Text,
        created_at -> BigInt,
        notice_ids -> Nullable<Text>,
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

diesel::table! {
    case_parts (case_id, track) {
        case_id -> Text,
        track -> Text,
        center_id -> Text,
        township -> Nullable<Text>,
        window_id -> Nullable<Text>,
        status -> Text,
        supplement_notices -> BigInt,
        decider_unit -> Text,
        decider_level -> Text,
        immediate -> BigInt,
        accepted_on -> Nullable<Text>,
        due_days -> Nullable<BigInt>,
        due_date -> Nullable<Text>,
        statutory_days -> Nullable<BigInt>,
        statutory_due -> Nullable<Text>,
        warn_days -> Nullable<BigInt>,
        warn_on -> Nullable<Text>,
        pause -> Nullable<Text>,
        paused_days -> BigInt,
        extensions -> BigInt,
        escalated -> BigInt,
        decision -> Nullable<Text>,
        decided_on -> Nullable<Text>,
        on_time -> Nullable<BigInt>,
        days_used -> Nullable<BigInt>,
        delivery_due -> Nullable<Text>,
        delivered_on -> Nullable<Text>,
        delivery -> Nullable<Text>,
        rating -> Nullable<BigInt>,
        updated_at -> BigInt,
        supplement_due -> Nullable<Text>,
    }
}

diesel::table! {
    ratings (case_id, subject) {
        case_id -> Text,
        subject -> Text,
        level -> BigInt,
        comment -> Nullable<Text>,
        rated_on -> Text,
        rated_by -> Text,
        followup_due -> Nullable<Text>,
        followup_closed_on -> Nullable<Text>,
        followup_closed_by -> Nullable<Text>,
        followup_note -> Nullable<Text>,
        followup_callback -> Nullable<Text>,
        created_at -> BigInt,
    }
}

diesel::table! {
    case_steps (id) {
        id -> Text,
        case_id -> Text,
        track -> Text,
        seq -> BigInt,
        group_no -> BigInt,
        step_key -> Text,
        name -> Text,
        role -> Text,
        unit_id -> Text,
        unit_name -> Text,
        level -> Text,
        state -> Text,
        days -> BigInt,
        started_on -> Nullable<Text>,
        due_date -> Nullable<Text>,
        warn_on -> Nullable<Text>,
        allow_countersign -> BigInt,
        refusal_decides -> BigInt,
        timeout_policy -> Text,
        acted_by -> Nullable<Text>,
        acted_on -> Nullable<Text>,
        comment -> Nullable<Text>,
        basis -> Nullable<Text>,
        created_at -> BigInt,
        updated_at -> BigInt,
        due_days -> Nullable<BigInt>,
        warn_days -> Nullable<BigInt>,
        escalated -> BigInt,
    }
}

diesel::table! {
    due_items (id) {
        id -> BigInt,
        case_id -> Text,
        step_id -> Nullable<Text>,
        kind -> Text,
        due_on -> Text,
        fire_at -> BigInt,
        state -> Text,
        lease_owner -> Nullable<Text>,
        lease_until -> Nullable<BigInt>,
        done_at -> Nullable<BigInt>,
        done_by -> Nullable<Text>,
        track -> Nullable<Text>,
    }
}

diesel::table! {
    /// One row per case event, written with the change (see `store::outbox`).
    outbox_events (id) {
        id -> Text,
        case_id -> Text,
        seq -> BigInt,
        kind -> Text,
        occurred_at -> BigInt,
        payload -> Text,
    }
}

diesel::table! {
    /// The delivery of one outbox event to one subscriber.
    outbox_deliveries (subscriber, event_id) {
        subscriber -> Text,
        event_id -> Text,
        case_id -> Text,
        seq -> BigInt,
        state -> Text,
        attempts -> BigInt,
        next_attempt_at -> BigInt,
        last_error -> Nullable<Text>,
        lease_owner -> Nullable<Text>,
        lease_until -> Nullable<BigInt>,
        delivered_at -> Nullable<BigInt>,
        created_at -> BigInt,
    }
}

diesel::joinable!(outbox_deliveries -> outbox_events (event_id));
diesel::table! {
    calendar_dating (id) {
        id -> BigInt,
        fingerprint -> Text,
        dated_at -> BigInt,
    }
}

diesel::joinable!(catalog_activations -> catalog_versions (hash));
diesel::joinable!(notices -> cases (case_id));
diesel::joinable!(case_events -> cases (case_id));
diesel::joinable!(idempotency_keys -> cases (case_id));
diesel::joinable!(case_parts -> cases (case_id));
diesel::joinable!(ratings -> cases (case_id));
diesel::joinable!(case_steps -> cases (case_id));
diesel::joinable!(due_items -> cases (case_id));

diesel::allow_tables_to_appear_in_same_query!(
    archived_cases,
    audit_chain,
    calendar_dating,
    catalog_activations,
    catalog_versions,
    cases,
    notices,
    personal_data_reads,
    document_counters,
    case_events,
    idempotency_keys,
    case_parts,
    ratings,
    case_steps,
    due_items,
    outbox_events,
    outbox_deliveries,
);
