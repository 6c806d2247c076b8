"""Weight-free baselines: real algorithms that turn a target painting into keyframes Î_1 … Î_K.

Every entry of :data:`BASELINES` is ``f(target_rgb uint8 H×W×3, n_steps K, seed) -> [Î_1 … Î_K]``,
frame k meant for time k·Δt. The caller gives K from the training data
(:meth:`evaluation.budget.StepBudget.baseline_steps`), never from the painting the baseline is scored on.
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


def run_baseline(name: str, gt: Sequence, dt: float = DEFAULT_DT_S, seed: int = 0, *, n_steps: int) -> Sequence:
    """``n_steps`` keyframes of the baseline for the ground truth's target, at the ground truth's size (white
    Î_0 first). Only the target is read from ``gt``: its duration must not set ``n_steps`` (see module doc)."""
    if name not in BASELINES:
        raise ValueError(f"unknown baseline {name!r}; choose one of {sorted(BASELINES)}")
    if not dt > 0:
        raise ValueError(f"Δt must be a positive number of seconds, got {dt}")
    if n_steps < 1:
        raise ValueError(f"n_steps must be at least 1, got {n_steps}")
    frames = BASELINES[name](gt.target, n_steps, seed)
    if len(frames) != n_steps:
        raise RuntimeError(f"baseline {name} returned {len(frames)} frames for {n_steps} steps")
    return sequence_from_frames(name, frames, dt, gt.size)


__all__ = ["BASELINES", "DEFAULT_DT_S", "Baseline", "run_baseline"]
