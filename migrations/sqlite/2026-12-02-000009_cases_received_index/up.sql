-- Figures of every intake by the day it was received (接件量, 补办件, 退回件, withdrawals, lapses).
CREATE INDEX cases_received_on ON cases (received_on);
