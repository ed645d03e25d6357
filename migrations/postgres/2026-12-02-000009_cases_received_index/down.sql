DROP INDEX cases_received_on;
