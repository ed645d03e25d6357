-- yichuang store, PostgreSQL flavour. Keep in step with migrations/sqlite (same names, same columns).
-- Portable types only: INTEGER/BIGINT for ids, counters and unix-millisecond timestamps,
-- TEXT for dates (YYYY-MM-DD), JSON and everything else.

CREATE TABLE catalog_versions (
    hash         TEXT PRIMARY KEY NOT NULL,
    version      TEXT NOT NULL,
    name         TEXT NOT NULL,
    files        TEXT NOT NULL,
    created_at   BIGINT NOT NULL,
    activated_at BIGINT,
    activated_by TEXT
);

CREATE TABLE cases (
    id                  TEXT PRIMARY KEY NOT NULL,
    matter_code         TEXT NOT NULL,
    bundle_code         TEXT,
    status              TEXT NOT NULL,
    outcome             TEXT NOT NULL,
    center_id           TEXT NOT NULL,
    township            TEXT,
    village             TEXT,
    window_id           TEXT,
    channel             TEXT NOT NULL,
    clerk_id            TEXT NOT NULL,
    agent_id            TEXT,
    applicant_kind      TEXT NOT NULL,
    applicant_name      TEXT NOT NULL,
    applicant_id_number TEXT,
    catalog_hash        TEXT NOT NULL,
    application         TEXT NOT NULL,
    assessment          TEXT NOT NULL,
    due_date            TEXT,
    received_on         TEXT NOT NULL,
    created_at          BIGINT NOT NULL,
    updated_at          BIGINT NOT NULL,
    row_version         BIGINT NOT NULL
);
CREATE INDEX cases_center_created ON cases (center_id, created_at);
CREATE INDEX cases_status ON cases (status);
CREATE INDEX cases_matter_code ON cases (matter_code);
CREATE INDEX cases_applicant_id_number ON cases (applicant_id_number);
CREATE INDEX cases_agent ON cases (agent_id);
CREATE INDEX cases_created ON cases (created_at);

CREATE TABLE notices (
    id         TEXT PRIMARY KEY NOT NULL,
    case_id    TEXT NOT NULL REFERENCES cases (id),
    kind       TEXT NOT NULL,
    center_id  TEXT NOT NULL,
    year       INTEGER NOT NULL,
    seq        BIGINT NOT NULL,
    number     TEXT NOT NULL UNIQUE,
    issued_on  TEXT NOT NULL,
    content    TEXT NOT NULL,
    created_at BIGINT NOT NULL,
    UNIQUE (center_id, kind, year, seq)
);
CREATE INDEX notices_case ON notices (case_id);

CREATE TABLE document_counters (
    center_id TEXT NOT NULL,
    kind      TEXT NOT NULL,
    year      BIGINT NOT NULL,
    last_seq  BIGINT NOT NULL,
    PRIMARY KEY (center_id, kind, year)
);

-- Append-only audit trail (identity ids are never reused).
CREATE TABLE case_events (
    id           BIGINT GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    case_id      TEXT NOT NULL REFERENCES cases (id),
    at           BIGINT NOT NULL,
    actor        TEXT NOT NULL,
    action       TEXT NOT NULL,
    catalog_hash TEXT NOT NULL,
    detail       TEXT NOT NULL
);
CREATE INDEX case_events_case ON case_events (case_id, id);

CREATE FUNCTION case_events_append_only() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    RAISE EXCEPTION 'case_events is append-only';
END;
$$;
CREATE TRIGGER case_events_no_update_delete BEFORE UPDATE OR DELETE ON case_events
    FOR EACH ROW EXECUTE FUNCTION case_events_append_only();

CREATE TABLE idempotency_keys (
    user_id      TEXT NOT NULL,
    key          TEXT NOT NULL,
    case_id      TEXT NOT NULL REFERENCES cases (id),
    request_hash TEXT NOT NULL,
    created_at   BIGINT NOT NULL,
    PRIMARY KEY (user_id, key)
);
