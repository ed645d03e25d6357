DROP TABLE calendar_dating;
