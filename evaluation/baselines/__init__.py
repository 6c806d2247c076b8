"""Weight-free baselines: real algorithms that turn a target painting into keyframes Î_1 … Î_K.

Every entry of :data:`BASELINES` is ``f(target_rgb uint8 H×W×3, n_steps K, seed) -> [Î_1 … Î_K]``,
frame k meant for time k·Δt. :func:`default_steps` picks K from the ground truth's duration.
"""

from __future__ import annotations

from collections.abc import Callable

import numpy as np

from evaluation.baselines.coarse_to_fine import coarse_to_fine
from evaluation.baselines.fade import fade
from evaluation.baselines.segment_reveal import segment_reveal
from evaluation.baselines.strokes import strokes
from evaluation.sequences import Sequence, sequence_from_frames

Baseline = Callable[[np.ndarray, int, int], list[np.ndarray]]

BASELINES: dict[str, Baseline] = {
    "fade": fade,
    "coarse-to-fine": coarse_to_fine,
    "segment-reveal": segment_reveal,
    "strokes": strokes,
}

DEFAULT_DT_S = 20.0  # the paper's Δt for its full model (Table 1)


def default_steps(duration_s: float, dt: float) -> int:
    """K = round(duration / Δt), at least 1: the method is given as many steps as the real video lasted."""
    if not dt > 0:
        raise ValueError(f"Δt must be a positive number of seconds, got {dt}")
    return max(1, int(duration_s / dt + 0.5))


def run_baseline(
    name: str, gt: Sequence, dt: float = DEFAULT_DT_S, seed: int = 0, n_steps: int | None = None
) -> Sequence:
    """The baseline's sequence for the ground truth's target, at the ground truth's size (white Î_0 first)."""
    if name not in BASELINES:
        raise ValueError(f"unknown baseline {name!r}; choose one of {sorted(BASELINES)}")
    k = default_steps(gt.duration_s, dt) if n_steps is None else n_steps
    if k < 1:
        raise ValueError(f"n_steps must be at least 1, got {k}")
    frames = BASELINES[name](gt.target, k, seed)
    if len(frames) != k:
        raise RuntimeError(f"baseline {name} returned {len(frames)} frames for {k} steps")
    return sequence_from_frames(name, frames, dt, gt.size)


__all__ = ["BASELINES", "DEFAULT_DT_S", "Baseline", "default_steps", "run_baseline"]
