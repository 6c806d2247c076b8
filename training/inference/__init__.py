"""Test-time generation (Sec. 3.4, App. A.4): painting a target from a white canvas."""
