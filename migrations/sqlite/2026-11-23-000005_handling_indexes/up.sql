-- Supervision figures over a year of cases (issue 4: county-wide figures for a year under 500 ms;
-- measured with `cargo run --release --example handling_timing`, see BENCHMARKS.md).
--
-- A covering index: the accepted day, the columns the figures are grouped by, then every column
-- the counts read. src/store/figures.rs first groups by a prefix of it (the day, then the key's
-- columns), which SQLite reads in index order, so it neither reads table rows nor sorts. SQLite
-- has no hash aggregation: without this, a year of 1,000,000 cases grouped by matter sorted every
-- row and took 2.3 s (0.54 s with it). Keep the order of the leading columns in step with
-- FIGURES_INDEX in src/store/figures.rs.
--
-- Cost: one more index entry written with every case_handling insert and update.
CREATE INDEX case_handling_figures ON case_handling (
    accepted_on, matter_code, decider_unit, township, center_id, window_id, decider_level,
    decision, on_time, decided_on, immediate, state, due_date, days_used, rating
);
