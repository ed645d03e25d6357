DROP TABLE audit_chain;
DROP FUNCTION audit_chain_fixed();
ALTER TABLE cases DROP COLUMN audit_head;
ALTER TABLE case_events DROP COLUMN hash, DROP COLUMN prev_hash;
