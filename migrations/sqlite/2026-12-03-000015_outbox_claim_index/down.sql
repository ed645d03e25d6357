DROP INDEX outbox_deliveries_claim;
