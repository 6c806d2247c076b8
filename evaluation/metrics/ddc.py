"""DDC: DTW distance between the distance-to-target curves of the real and the generated sequence."""

from __future__ import annotations

import numpy as np
from dtaidistance import dtw

from evaluation.metrics.distance import check_same_size, mean_distances
from evaluation.sequences import Sequence
from training.data.difference import DistanceBackend

DEFAULT_GRID_S = 1.0


def require_dtw_c() -> None:
    """dtaidistance's Python fallback is orders of magnitude slower: refuse it rather than use it silently."""
    if not dtw.try_import_c():
        raise RuntimeError(
            "dtaidistance's C library (dtw_cc) is not available; reinstall it from a wheel "
            "(pip install --force-reinstall dtaidistance) or build it with a C compiler and numpy present"
        )


def distance_curve(
    times_s: list[float], distances: np.ndarray, grid_s: float = DEFAULT_GRID_S
) -> tuple[np.ndarray, np.ndarray]:
    """c(t) sampled every ``grid_s`` seconds from 0 to the last time (inclusive): (t in minutes, c).

    Between two frames the distance is interpolated linearly: the canvas changes continuously while
    it is painted, and a step function would tie the curve to the frame spacing of each method.
    """
    if grid_s <= 0:
        raise ValueError(f"grid spacing must be positive, got {grid_s}")
    times = np.asarray(times_s, np.float64)
    grid = np.arange(0.0, times[-1] + 1e-9, grid_s)
    if grid[-1] < times[-1]:
        grid = np.append(grid, times[-1])  # the last sample is the end of the painting
    return grid / 60.0, np.interp(grid, times, np.asarray(distances, np.float64))


def dtw_distance(a: np.ndarray, b: np.ndarray) -> float:
    """dtaidistance DTW (C implementation) between two 1-D curves."""
    require_dtw_c()
    a = np.ascontiguousarray(a, dtype=np.float64)
    b = np.ascontiguousarray(b, dtype=np.float64)
    return float(dtw.distance_fast(a, b))


def curve_of(sequence: Sequence, target: np.ndarray, backend: DistanceBackend, grid_s: float) -> np.ndarray:
    distances = mean_distances(backend, [(target, f) for f in sequence.frames])
    return distance_curve(sequence.times_s, distances, grid_s)[1]


def ddc_metric(gt: Sequence, generated: Sequence, backend: DistanceBackend, grid_s: float = DEFAULT_GRID_S) -> float:
    """DTW(c_real, c_generated); both curves measure D̄ to the real target (the method's input)."""
    check_same_size(gt, generated)
    target = gt.target
    return dtw_distance(curve_of(gt, target, backend, grid_s), curve_of(generated, target, backend, grid_s))
