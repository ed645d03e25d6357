-- Routing, deadlines, delivery and rating (后台审批、时限、出件、好差评).
-- case_handling: one row per accepted case (即办件 included), from acceptance to rating. It
-- repeats the case's place and matter so the supervision figures read one table.
CREATE TABLE case_handling (
    case_id         TEXT PRIMARY KEY NOT NULL REFERENCES cases (id),
    center_id       TEXT NOT NULL,
    township        TEXT,
    window_id       TEXT,
    matter_code     TEXT NOT NULL,
    decider_unit    TEXT NOT NULL,
    decider_level   TEXT NOT NULL,
    immediate       BIGINT NOT NULL,
    accepted_on     TEXT NOT NULL,
    -- Promised (承诺) and statutory (法定) due dates, moved by pauses and extensions.
    due_date        TEXT,
    statutory_due   TEXT,
    -- Yellow (预警) from this date.
    warn_on         TEXT,
    -- in_progress | paused | decided | terminated
    state           TEXT NOT NULL,
    -- JSON of the running 特别程序 (kind, reason, started_on, expected_end), if any.
    pause           TEXT,
    paused_days     BIGINT NOT NULL,
    extensions      BIGINT NOT NULL,
    escalated       BIGINT NOT NULL,
    -- approved | disapproved | deemed_approved | terminated
    decision        TEXT,
    decided_on      TEXT,
    on_time         BIGINT,
    days_used       BIGINT,
    delivery_due    TEXT,
    delivered_on    TEXT,
    -- JSON: method, window, originals_checked, carrier, tracking_number, by.
    delivery        TEXT,
    rating          BIGINT,
    rating_comment  TEXT,
    rated_on        TEXT,
    followup_due    TEXT,
    followup_closed_on TEXT,
    followup_note   TEXT,
    version         BIGINT NOT NULL,
    updated_at      BIGINT NOT NULL
);
CREATE INDEX case_handling_accepted ON case_handling (accepted_on);
CREATE INDEX case_handling_state_due ON case_handling (state, due_date);
CREATE INDEX case_handling_followup ON case_handling (followup_due, followup_closed_on);

-- The steps of a case's route. Rows are never deleted: a returned, transferred or superseded
-- step keeps its row and a new row takes its place.
CREATE TABLE case_steps (
    id               TEXT PRIMARY KEY NOT NULL,
    case_id          TEXT NOT NULL REFERENCES cases (id),
    -- The matter this step belongs to (a bundle has one track per matter).
    track            TEXT NOT NULL,
    seq              BIGINT NOT NULL,
    group_no         BIGINT NOT NULL,
    step_key         TEXT NOT NULL,
    name             TEXT NOT NULL,
    role             TEXT NOT NULL,
    unit_id          TEXT NOT NULL,
    unit_name        TEXT NOT NULL,
    level            TEXT NOT NULL,
    -- pending | active | approved | refused | deemed_approved | returned | transferred |
    -- superseded | cancelled
    state            TEXT NOT NULL,
    days             BIGINT NOT NULL,
    started_on       TEXT,
    due_date         TEXT,
    warn_on          TEXT,
    allow_countersign BIGINT NOT NULL,
    refusal_decides  BIGINT NOT NULL,
    timeout_policy   TEXT NOT NULL,
    acted_by         TEXT,
    acted_on         TEXT,
    comment          TEXT,
    basis            TEXT,
    created_at       BIGINT NOT NULL,
    updated_at       BIGINT NOT NULL
);
CREATE INDEX case_steps_case ON case_steps (case_id, seq);
CREATE INDEX case_steps_inbox ON case_steps (unit_id, state);

-- What the scheduler must do and when: step and case timeouts, 容缺 lapses. A row is done
-- exactly once: the transition and "state = done" commit together, guarded by state = pending.
CREATE TABLE due_items (
    id          BIGINT GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    case_id     TEXT NOT NULL REFERENCES cases (id),
    step_id     TEXT,
    -- step_timeout | case_timeout | deferred_lapse
    kind        TEXT NOT NULL,
    due_on      TEXT NOT NULL,
    fire_at     BIGINT NOT NULL,
    -- pending | done | cancelled
    state       TEXT NOT NULL,
    lease_owner TEXT,
    lease_until BIGINT,
    done_at     BIGINT,
    done_by     TEXT
);
CREATE INDEX due_items_pending ON due_items (state, fire_at);
CREATE INDEX due_items_case ON due_items (case_id);
