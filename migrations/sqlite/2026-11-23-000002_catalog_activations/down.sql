DROP TABLE catalog_activations;
