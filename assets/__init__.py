"""Dagster assets: thin wiring of the plain functions in `training/` and `evaluation/`."""
