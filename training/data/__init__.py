"""Turning raw painting videos into training data: discovery, probing, decoding (no Dagster)."""
