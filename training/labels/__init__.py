"""Instruction labels: auto-labelling backends, the correction store, Label Studio / CSV and training JSON."""
