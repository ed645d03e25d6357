DROP TABLE idempotency_keys;
DROP TRIGGER case_events_no_delete;
DROP TRIGGER case_events_no_update;
DROP TABLE case_events;
DROP TABLE document_counters;
DROP TABLE notices;
DROP TABLE cases;
DROP TABLE catalog_versions;
