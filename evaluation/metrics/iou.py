"""IoU: how well each generated update matches some real update (focus consistency)."""

from __future__ import annotations

import numpy as np

from evaluation.metrics.distance import check_same_size, step_masks
from evaluation.sequences import Sequence
from training.data.difference import DistanceBackend, iou


def best_match_iou(generated_masks: list[np.ndarray], real_masks: list[np.ndarray]) -> float:
    """Mean over generated masks of the max IoU against any real mask (two empty masks have IoU 1)."""
    if not generated_masks or not real_masks:
        raise ValueError("IoU needs at least one generated and one real step")
    return float(np.mean([max(iou(g, r) for r in real_masks) for g in generated_masks]))


def iou_metric(gt: Sequence, generated: Sequence, backend: DistanceBackend) -> float:
    """For every generated step k, M̂_k = D(Î_k, Î_k−1) > α; IoU_k = max_j IoU(M̂_k, M_j); mean over k."""
    check_same_size(gt, generated)
    return best_match_iou(step_masks(backend, generated.frames), step_masks(backend, gt.frames))
