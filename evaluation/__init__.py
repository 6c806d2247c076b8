"""Metrics, baselines, benchmark runner and the synthetic studio (no Dagster)."""
