ALTER TABLE cases ALTER COLUMN application SET COMPRESSION default,
                  ALTER COLUMN assessment SET COMPRESSION default;
ALTER TABLE notices ALTER COLUMN content SET COMPRESSION default;
ALTER TABLE case_events ALTER COLUMN detail SET COMPRESSION default;
ALTER TABLE outbox_events ALTER COLUMN payload SET COMPRESSION default;
