-- Every change to a case may carry an Idempotency-Key, as intakes do. A change's key names the
-- notices the change numbered (a JSON array of notice ids), so a retry answers with exactly
-- those; an intake's key leaves it NULL (a retry answers with every notice of the case).
ALTER TABLE idempotency_keys ADD COLUMN notice_ids TEXT;
