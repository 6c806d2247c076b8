"""Coarse to fine: the whole canvas at once, ever sharper (the order Paint Transformer paints in).

Paint Transformer predicts strokes on a pyramid of grids, from one cell covering the canvas down to
small cells; frame k here is the target seen at the pyramid level reached after k of K steps: the
target downsampled (area average) to a long side growing geometrically from 2 px to the full size,
then upsampled back (bilinear). The last frame is the target.
"""

from __future__ import annotations

import cv2
import numpy as np

COARSEST_PX = 2


def coarse_to_fine(target: np.ndarray, n_steps: int, seed: int = 0) -> list[np.ndarray]:
    del seed
    h, w = target.shape[:2]
    long_side = max(h, w)
    out = []
    for k in range(1, n_steps + 1):
        if k == n_steps:
            out.append(target.copy())
            break
        # geometric growth: 2 px at k = 1, the full size at k = K
        side = COARSEST_PX * (long_side / COARSEST_PX) ** ((k - 1) / max(1, n_steps - 1))
        scale = side / long_side
        small = cv2.resize(target, (max(1, round(w * scale)), max(1, round(h * scale))), interpolation=cv2.INTER_AREA)
        out.append(cv2.resize(small, (w, h), interpolation=cv2.INTER_LINEAR))
    return out
