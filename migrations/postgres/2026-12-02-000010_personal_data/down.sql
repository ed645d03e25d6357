DROP TABLE personal_data_reads;
DROP FUNCTION personal_data_reads_append_only();
DROP INDEX cases_applicant_id_hash;
ALTER TABLE cases DROP COLUMN applicant_id_hash;
