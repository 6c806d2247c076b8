"""Analyses of a painting sequence: its distance curve to the target, the curve's slopes, the time map."""

from __future__ import annotations

import numpy as np

from evaluation.metrics.distance import mean_distances, step_masks
from evaluation.sequences import Sequence
from training.data.difference import DistanceBackend


def distance_curve(seq: Sequence, target: np.ndarray, distance: DistanceBackend) -> tuple[np.ndarray, np.ndarray]:
    """(t in minutes, D̄(target, frame)) at the sequence's frames."""
    d = mean_distances(distance, [(target, f) for f in seq.frames])
    return np.asarray(seq.times_s, np.float64) / 60.0, d


def curve_slopes(minutes: np.ndarray, values: np.ndarray) -> np.ndarray:
    """Slopes of a distance curve between consecutive frames, per minute (supplement Fig. 1b)."""
    return np.diff(values) / np.diff(minutes)


def time_map(seq: Sequence, distance: DistanceBackend) -> np.ndarray:
    """Per pixel, the step k at which it was last changed by more than α (D(Î_k, Î_{k-1}) > α); 0 = never."""
    masks = step_masks(distance, seq.frames)
    out = np.zeros(seq.frames[0].shape[:2], np.int32)
    for k, mask in enumerate(masks, start=1):
        out[mask] = k
    return out
