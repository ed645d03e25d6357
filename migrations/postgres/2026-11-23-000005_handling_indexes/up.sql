-- Supervision figures over a year of cases: SQLite gets a covering index in this migration (see
-- migrations/sqlite). PostgreSQL gets none: it aggregates a year of 1,000,000 cases with a
-- parallel hash over a sequential scan in 0.3–0.5 s, and was no faster over the same covering
-- index (BENCHMARKS.md). This migration only keeps the two migration lists alike.
SELECT 1;
