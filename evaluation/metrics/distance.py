"""The perceptual-distance metric (the paper's "LPIPS" column) and the distance computations the other metrics share.

The number is the mean of whatever distance D the backend computes, so the code calls it ``distance``; what
users read is named after the backend (:func:`evaluation.metrics.score.public_name`): ``lpips`` only for
the paper's LPIPS (``lpips-alex-v0.1``), ``distance_colour_structure`` for the weight-free stand-in, so a
weight-free number is never passed off as LPIPS.
"""

from __future__ import annotations

import math

import numpy as np

from evaluation.sequences import Sequence
from training.data.difference import DistanceBackend, binarize, distance_maps, mean_distance

BATCH = 8


def check_same_size(gt: Sequence, generated: Sequence) -> None:
    if gt.size != generated.size:
        raise ValueError(
            f"{gt.name} is {gt.size[0]}x{gt.size[1]} but {generated.name} is {generated.size[0]}x{generated.size[1]}; "
            "load the generated frames with size=gt.size so masks can be compared pixel by pixel"
        )


def mean_distances(backend: DistanceBackend, pairs: list[tuple[np.ndarray, np.ndarray]]) -> np.ndarray:
    """D̄(a, b) for every pair, as float64."""
    return np.array([mean_distance(m) for m in distance_maps(backend, pairs, batch_size=BATCH)], np.float64)


def step_masks(backend: DistanceBackend, frames: list[np.ndarray]) -> list[np.ndarray]:
    """M_k = D(frame_k, frame_{k-1}) > α for k = 1..len(frames)-1, α = the backend's threshold."""
    pairs = [(frames[k], frames[k - 1]) for k in range(1, len(frames))]
    return [binarize(m, backend.threshold) for m in distance_maps(backend, pairs, batch_size=BATCH)]


def matching_step(t_s: float, dt: float, k_max: int) -> int:
    """k(j) = clip(round(τ_j / Δt), 0, K), halves rounded up (1:17 at Δt = 20 s -> step 4, i.e. 1:20)."""
    return int(min(max(math.floor(t_s / dt + 0.5), 0), k_max))


def distance_metric(gt: Sequence, generated: Sequence, backend: DistanceBackend, dt: float) -> float:
    """Mean over the real frames j of D̄(I_j, Î_k(j)).

    The implied white canvas at 0 is not a real frame (it would add an exact 0 to every method), so j
    runs over the recorded keyframes only.
    """
    check_same_size(gt, generated)
    k_max = len(generated.frames) - 1
    start = 1 if gt.implied_start else 0
    pairs = [
        (gt.frames[j], generated.frames[matching_step(gt.times_s[j], dt, k_max)]) for j in range(start, len(gt.frames))
    ]
    return float(mean_distances(backend, pairs).mean())
