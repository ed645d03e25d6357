ALTER TABLE idempotency_keys DROP COLUMN notice_ids;
