DROP INDEX case_handling_figures;
