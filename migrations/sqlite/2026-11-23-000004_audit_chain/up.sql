-- Tamper-evident audit trail. Every case_events entry is chained to the previous entry of its
-- case: hash = SHA-256 over (prev_hash, case_id, at, actor, action, catalog_hash, detail), computed
-- by the store (src/store/audit.rs); the first entry of a case chains to a fixed genesis value.
-- The case row keeps the hash of its latest entry (audit_head), so deleting entries at the end of
-- a trail, or the whole trail, is detected too. `yichuang audit verify` checks all of it.
ALTER TABLE case_events ADD COLUMN prev_hash TEXT;
ALTER TABLE case_events ADD COLUMN hash TEXT;
ALTER TABLE cases ADD COLUMN audit_head TEXT;

-- Entries written before this migration have no hash. `audit verify` reports them as entries
-- before the chain (ids up to legacy_through_id, at the start of their case's trail) instead of
-- as broken; any other entry without a hash is a break.
CREATE TABLE audit_chain (
    id                INTEGER PRIMARY KEY NOT NULL CHECK (id = 1),
    legacy_through_id BIGINT NOT NULL
);
INSERT INTO audit_chain (id, legacy_through_id) SELECT 1, COALESCE(MAX(id), 0) FROM case_events;
CREATE TRIGGER audit_chain_no_update BEFORE UPDATE ON audit_chain
BEGIN
    SELECT RAISE(ABORT, 'audit_chain is fixed');
END;
CREATE TRIGGER audit_chain_no_delete BEFORE DELETE ON audit_chain
BEGIN
    SELECT RAISE(ABORT, 'audit_chain is fixed');
END;
