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
CREATE TRIGGER archived_cases_no_update BEFORE UPDATE ON archived_cases
BEGIN
    SELECT RAISE(ABORT, 'archived_cases is append-only');
END;
CREATE TRIGGER archived_cases_no_delete BEFORE DELETE ON archived_cases
BEGIN
    SELECT RAISE(ABORT, 'archived_cases is append-only');
END;

-- case_events stays append-only, except for the entries of a case recorded in the ledger above
-- (in the same transaction that deletes it).
DROP TRIGGER case_events_no_delete;
CREATE TRIGGER case_events_no_delete BEFORE DELETE ON case_events
WHEN NOT EXISTS (SELECT 1 FROM archived_cases a WHERE a.case_id = OLD.case_id)
BEGIN
    SELECT RAISE(ABORT, 'case_events is append-only');
END;
