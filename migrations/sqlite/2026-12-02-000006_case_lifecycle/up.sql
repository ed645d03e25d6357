-- The case after intake, per matter (issue 10/11): one row per matter of a case (a bundle has
-- one per matter, a single matter one), from the intake's answer to the delivery of its result.
-- Replaces case_handling (one row per accepted case). The case's version is cases.row_version
-- alone: every change to a case, its parts, steps or ratings moves it.
CREATE TABLE case_parts (
    case_id         TEXT NOT NULL REFERENCES cases (id),
    -- The matter's code.
    track           TEXT NOT NULL,
    center_id       TEXT NOT NULL,
    township        TEXT,
    window_id       TEXT,
    -- awaiting_supplement | refused | in_progress | paused | decided | terminated | withdrawn
    -- | lapsed (store/mapping.rs)
    status          TEXT NOT NULL,
    supplement_notices BIGINT NOT NULL,
    decider_unit    TEXT NOT NULL,
    decider_level   TEXT NOT NULL,
    immediate       BIGINT NOT NULL,
    accepted_on     TEXT,
    -- Promised (承诺), statutory (法定) and yellow (预警) deadlines from accepted_on: working
    -- days (moved by pauses and extensions) and the date, NULL while past the calendar.
    due_days        BIGINT,
    due_date        TEXT,
    statutory_days  BIGINT,
    statutory_due   TEXT,
    warn_days       BIGINT,
    warn_on         TEXT,
    -- JSON of the running 特别程序 (kind, reason, started_on, expected_end, by), if any.
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
    -- JSON: method and its details, by, on, within_limit.
    delivery        TEXT,
    -- The case's own rating (一事一评), repeated for the figures.
    rating          BIGINT,
    updated_at      BIGINT NOT NULL,
    PRIMARY KEY (case_id, track)
);
CREATE INDEX case_parts_status_due ON case_parts (status, due_date);
-- Supervision figures (see 2026-11-23-000005_handling_indexes and src/store/figures.rs): the
-- accepted day, the grouping columns, then every column the counts read.
CREATE INDEX case_parts_figures ON case_parts (
    accepted_on, track, decider_unit, township, center_id, window_id, decider_level,
    decision, on_time, decided_on, immediate, status, due_date, days_used, rating
);

-- 好差评: the case as a whole (一事一评) and each service received (一次一评).
CREATE TABLE ratings (
    case_id         TEXT NOT NULL REFERENCES cases (id),
    -- case | notice:<id> | delivery:<matter code>
    subject         TEXT NOT NULL,
    level           BIGINT NOT NULL,
    comment         TEXT,
    rated_on        TEXT NOT NULL,
    rated_by        TEXT NOT NULL,
    followup_due    TEXT,
    followup_closed_on TEXT,
    followup_closed_by TEXT,
    followup_note   TEXT,
    followup_callback TEXT,
    created_at      BIGINT NOT NULL,
    PRIMARY KEY (case_id, subject)
);
CREATE INDEX ratings_followup ON ratings (followup_due, followup_closed_on);

-- Steps: the working days their deadlines count (moved by pauses and extensions) and whether
-- their overrun was escalated.
ALTER TABLE case_steps ADD COLUMN due_days BIGINT;
ALTER TABLE case_steps ADD COLUMN warn_days BIGINT;
ALTER TABLE case_steps ADD COLUMN escalated BIGINT NOT NULL DEFAULT 0;
-- Due items: the matter a part timeout or a 容缺 lapse is about.
ALTER TABLE due_items ADD COLUMN track TEXT;

-- Existing handling becomes parts: one per matter that has steps, or the case's matter.
INSERT INTO case_parts
SELECT h.case_id, t.track, h.center_id, h.township, h.window_id,
       CASE h.state WHEN 'in_progress' THEN 'in_progress' ELSE h.state END,
       0, h.decider_unit, h.decider_level, h.immediate, h.accepted_on,
       NULL, h.due_date, NULL, h.statutory_due, NULL, h.warn_on,
       h.pause, h.paused_days, h.extensions, h.escalated,
       h.decision, h.decided_on, h.on_time, h.days_used,
       h.delivery_due, h.delivered_on,
       CASE WHEN h.delivery IS NULL THEN NULL
            ELSE json_set(h.delivery, '$.on', h.delivered_on, '$.within_limit',
                          json(CASE WHEN h.delivery_due IS NULL OR h.delivered_on <= h.delivery_due
                                    THEN 'true' ELSE 'false' END)) END,
       h.rating, h.updated_at
FROM case_handling h
JOIN (SELECT DISTINCT case_id, track FROM case_steps
      UNION SELECT case_id, matter_code FROM case_handling
            WHERE case_id NOT IN (SELECT case_id FROM case_steps)) t
  ON t.case_id = h.case_id;
INSERT INTO ratings
SELECT case_id, 'case', rating, rating_comment, rated_on, 'applicant',
       followup_due, followup_closed_on, NULL, followup_note, NULL, updated_at
FROM case_handling WHERE rating IS NOT NULL AND rated_on IS NOT NULL;
UPDATE due_items SET kind = 'part_timeout' WHERE kind = 'case_timeout';
UPDATE cases SET status = 'accepted' WHERE status = 'in_progress';
DROP TABLE case_handling;
