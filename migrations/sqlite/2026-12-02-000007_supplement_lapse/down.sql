ALTER TABLE case_parts DROP COLUMN supplement_due;
