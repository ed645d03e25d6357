-- The outbox (issue 15): one row per case event, written in the same transaction as the change
-- (by `ops::insert_event`, next to the audit entry), and one delivery row per subscriber that
-- wants the event, written in that transaction too. Delivery happens after COMMIT, so nothing is
-- reported that did not happen and nothing that happened is missed.
CREATE TABLE outbox_events (
    -- `<case id>:<seq>`: stable, what receivers deduplicate on.
    id          TEXT PRIMARY KEY NOT NULL,
    case_id     TEXT NOT NULL,
    -- 1, 2, 3 … per case, in commit order.
    seq         BIGINT NOT NULL,
    kind        TEXT NOT NULL,
    occurred_at BIGINT NOT NULL,
    -- The native JSON payload.
    payload     TEXT NOT NULL
);
CREATE UNIQUE INDEX outbox_events_case_seq ON outbox_events (case_id, seq);

CREATE TABLE outbox_deliveries (
    subscriber      TEXT NOT NULL,
    event_id        TEXT NOT NULL,
    case_id         TEXT NOT NULL,
    seq             BIGINT NOT NULL,
    -- pending | delivered | dead (store/mapping.rs).
    state           TEXT NOT NULL,
    attempts        BIGINT NOT NULL,
    next_attempt_at BIGINT NOT NULL,
    last_error      TEXT,
    lease_owner     TEXT,
    lease_until     BIGINT,
    delivered_at    BIGINT,
    created_at      BIGINT NOT NULL,
    PRIMARY KEY (subscriber, event_id)
);
-- The worker's claim: pending rows whose time has come …
CREATE INDEX outbox_deliveries_due ON outbox_deliveries (state, next_attempt_at);
-- … with no earlier undelivered event of the same case to the same subscriber.
CREATE INDEX outbox_deliveries_order ON outbox_deliveries (subscriber, case_id, seq);
