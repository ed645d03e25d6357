DROP TRIGGER personal_data_reads_no_delete;
DROP TRIGGER personal_data_reads_no_update;
DROP TABLE personal_data_reads;
DROP INDEX cases_applicant_id_hash;
ALTER TABLE cases DROP COLUMN applicant_id_hash;
