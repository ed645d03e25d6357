-- Personal data at rest (docs/personal-data.md): the keyed hash (HMAC-SHA256) of the applicant's
-- ID number, searched instead of the number itself once the case is encrypted.
ALTER TABLE cases ADD COLUMN applicant_id_hash TEXT;
CREATE INDEX cases_applicant_id_hash ON cases (applicant_id_hash);

-- Who read which case's personal data, when and through which endpoint (append-only).
CREATE TABLE personal_data_reads (
    id       INTEGER PRIMARY KEY AUTOINCREMENT,
    at       BIGINT NOT NULL,
    user_id  TEXT NOT NULL,
    role     TEXT NOT NULL,
    case_id  TEXT NOT NULL,
    endpoint TEXT NOT NULL
);
CREATE INDEX personal_data_reads_case ON personal_data_reads (case_id, at);
CREATE INDEX personal_data_reads_user ON personal_data_reads (user_id, at);
CREATE INDEX personal_data_reads_at ON personal_data_reads (at);
CREATE TRIGGER personal_data_reads_no_update BEFORE UPDATE ON personal_data_reads
BEGIN
    SELECT RAISE(ABORT, 'personal_data_reads is append-only');
END;
CREATE TRIGGER personal_data_reads_no_delete BEFORE DELETE ON personal_data_reads
BEGIN
    SELECT RAISE(ABORT, 'personal_data_reads is append-only');
END;
