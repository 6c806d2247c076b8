"""Models, training loops, inference and the dataset-building logic behind the assets (no Dagster)."""
