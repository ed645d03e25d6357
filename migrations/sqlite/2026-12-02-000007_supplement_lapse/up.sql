-- 逾期未补正 (issue 11): the day a one-time notice lapses, per matter of the case: JSON of the
-- deadline (start, working days, date; the date null while past the published calendar).
ALTER TABLE case_parts ADD COLUMN supplement_due TEXT;
