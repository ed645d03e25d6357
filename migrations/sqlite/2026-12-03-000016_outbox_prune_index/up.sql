-- Pruning delivered outbox events (`Store::outbox_prune`) walks them oldest first: without this
-- index every page of the walk would read the whole table.
CREATE INDEX outbox_events_occurred ON outbox_events (occurred_at, id);
