DROP TRIGGER case_events_no_delete;
CREATE TRIGGER case_events_no_delete BEFORE DELETE ON case_events
BEGIN
    SELECT RAISE(ABORT, 'case_events is append-only');
END;
DROP TRIGGER archived_cases_no_delete;
DROP TRIGGER archived_cases_no_update;
DROP TABLE archived_cases;
