-- Archiving finished cases (`yichuang archive`, issue 14). A case leaves the database only
-- together with its whole history, after the archive file holding it was written and verified;
-- this ledger keeps, per archived case, where it went and the anchor of its audit chain: the
-- case's chain head when it was archived and the SHA-256 of the archive file's body. Chains are
-- per case, so the remaining cases still verify; the ledger is what ties the file to the
-- database (the file's chain for a case must end at the head recorded here) and explains the
-- gaps the case leaves in the document numbers. Append-only, like case_events.
CREATE TABLE archived_cases (
    case_id        TEXT PRIMARY KEY NOT NULL,
    status         TEXT NOT NULL,
    received_on    TEXT NOT NULL,
    audit_head     TEXT,
    entries        BIGINT NOT NULL,
    archive_sha256 TEXT NOT NULL,
    archived_at    BIGINT NOT NULL
);
CREATE FUNCTION archived_cases_append_only() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    RAISE EXCEPTION 'archived_cases is append-only';
END;
$$;
CREATE TRIGGER archived_cases_no_update_delete BEFORE UPDATE OR DELETE ON archived_cases
    FOR EACH ROW EXECUTE FUNCTION archived_cases_append_only();

-- case_events stays append-only, except for the entries of a case recorded in the ledger above
-- (in the same transaction that deletes it).
CREATE OR REPLACE FUNCTION case_events_append_only() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    IF TG_OP = 'DELETE'
       AND EXISTS (SELECT 1 FROM archived_cases a WHERE a.case_id = OLD.case_id) THEN
        RETURN OLD;
    END IF;
    RAISE EXCEPTION 'case_events is append-only';
END;
$$;
