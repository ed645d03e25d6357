DROP TABLE due_items;
DROP TABLE case_steps;
DROP TABLE case_handling;
