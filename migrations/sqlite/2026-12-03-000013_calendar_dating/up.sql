-- The calendar every open case was last dated on (see `app::handling::date_open_cases`), so
-- that a start with the same calendar does not visit every open case again. One row.
CREATE TABLE calendar_dating (
    id BIGINT PRIMARY KEY CHECK (id = 1),
    fingerprint TEXT NOT NULL,
    dated_at BIGINT NOT NULL
);
