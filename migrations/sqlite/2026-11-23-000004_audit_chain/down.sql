DROP TRIGGER audit_chain_no_delete;
DROP TRIGGER audit_chain_no_update;
DROP TABLE audit_chain;
ALTER TABLE cases DROP COLUMN audit_head;
ALTER TABLE case_events DROP COLUMN hash;
ALTER TABLE case_events DROP COLUMN prev_hash;
