"""Training loops (plain functions, no Dagster): mask generator, renderer; text generator elsewhere."""
