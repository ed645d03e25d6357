-- Personal data at rest (docs/personal-data.md): the keyed hash (HMAC-SHA256) of the applicant's
-- ID number, searched instead of the number itself once the case is encrypted.
ALTER TABLE cases ADD COLUMN applicant_id_hash TEXT;
CREATE INDEX cases_applicant_id_hash ON cases (applicant_id_hash);

-- Who read which case's personal data, when and through which endpoint (append-only).
CREATE TABLE personal_data_reads (
    id       BIGSERIAL PRIMARY KEY,
    at       BIGINT NOT NULL,
    user_id  TEXT NOT NULL,
    role     TEXT NOT NULL,
    case_id  TEXT NOT NULL,
    endpoint TEXT NOT NULL
);
CREATE INDEX personal_data_reads_case ON personal_data_reads (case_id, at);
CREATE INDEX personal_data_reads_user ON personal_data_reads (user_id, at);
CREATE INDEX personal_data_reads_at ON personal_data_reads (at);

CREATE FUNCTION personal_data_reads_append_only() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    RAISE EXCEPTION 'personal_data_reads is append-only';
END;
$$;
CREATE TRIGGER personal_data_reads_no_update_delete BEFORE UPDATE OR DELETE ON personal_data_reads
    FOR EACH ROW EXECUTE FUNCTION personal_data_reads_append_only();
CREATE TRIGGER personal_data_reads_no_truncate BEFORE TRUNCATE ON personal_data_reads
    FOR EACH STATEMENT EXECUTE FUNCTION personal_data_reads_append_only();
