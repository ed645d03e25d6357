DROP INDEX outbox_events_occurred;
