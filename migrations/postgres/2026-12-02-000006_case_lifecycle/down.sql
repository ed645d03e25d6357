-- Not reversible without loss (parts of bundles and per-service ratings have no place in
-- case_handling): restore from a backup taken before the upgrade instead.
SELECT 1;
