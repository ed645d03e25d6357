-- The large JSON values of an intake (application, assessment, notice contents, audit details,
-- outbox payloads) are compressed when stored out of line (TOAST). PostgreSQL's default pglz
-- cost about a tenth of the server's time in the intake load test; lz4 does the same job for a
-- fraction of it (scripts/load.sh, BENCHMARKS.md). Only for servers built with lz4 (the
-- Debian and official packages are); elsewhere nothing changes. Values already stored keep
-- their compression; new ones use lz4.
DO $$
BEGIN
  IF EXISTS (SELECT 1 FROM pg_settings
             WHERE name = 'default_toast_compression' AND 'lz4' = ANY (enumvals)) THEN
    ALTER TABLE cases ALTER COLUMN application SET COMPRESSION lz4,
                      ALTER COLUMN assessment SET COMPRESSION lz4;
    ALTER TABLE notices ALTER COLUMN content SET COMPRESSION lz4;
    ALTER TABLE case_events ALTER COLUMN detail SET COMPRESSION lz4;
    ALTER TABLE outbox_events ALTER COLUMN payload SET COMPRESSION lz4;
  END IF;
END
$$;
