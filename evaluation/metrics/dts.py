"""DTS: difference of time spent, in minutes."""

from __future__ import annotations

from evaluation.sequences import Sequence


def dts_metric(gt: Sequence, generated: Sequence) -> float:
    """|duration_real − duration_generated| / 60, durations = time of the last frame (start at 0)."""
    return abs(gt.duration_s - generated.duration_s) / 60.0
