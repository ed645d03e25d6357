-- Which catalog version is active for every instance on this database: the latest activation
-- wins. Append-only: rollbacks and roll-forwards are new rows, so who activated what and when
-- stays on record.
CREATE TABLE catalog_activations (
    id           BIGSERIAL PRIMARY KEY,
    hash         TEXT NOT NULL REFERENCES catalog_versions (hash),
    activated_at BIGINT NOT NULL,
    activated_by TEXT NOT NULL
);
