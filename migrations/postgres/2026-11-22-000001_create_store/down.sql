DROP TABLE idempotency_keys;
DROP TRIGGER case_events_no_update_delete ON case_events;
DROP FUNCTION case_events_append_only();
DROP TABLE case_events;
DROP TABLE document_counters;
DROP TABLE notices;
DROP TABLE cases;
DROP TABLE catalog_versions;
