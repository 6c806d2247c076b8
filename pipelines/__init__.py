"""Dagster code location of inverse-painting: definitions, jobs, schedules, sensors, resources."""
