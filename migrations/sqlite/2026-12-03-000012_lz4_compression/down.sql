-- PostgreSQL only (lz4 for large values stored out of line); SQLite does not compress. Kept
-- so that both backends have the same list of migrations.
SELECT 1;
