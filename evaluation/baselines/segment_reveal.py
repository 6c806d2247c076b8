"""Segment reveal by estimated depth, far to near (the pix2gestalt baseline's painting order).

The paper's pix2gestalt baseline segments the target, orders the segments by depth and paints them
back to front. Weight-free here: SLIC superpixels (scikit-image) stand in for the segments and the
depth of a segment is estimated from two monocular cues of landscape pictures:

- height in the picture: higher regions are farther (sky, then mountains, then foreground);
- texture: distant regions are smoother (aerial perspective blurs them), near ones carry more detail,
  measured as the mean absolute Laplacian of the grey image inside the segment.

farness = 0.75·(1 − y_centroid/H) + 0.25·(1 − texture rank); segments are revealed in decreasing
farness, in K groups of about equal area, each pasting the target's pixels onto the white canvas.
"""

from __future__ import annotations

import cv2
import numpy as np
from skimage.segmentation import slic

HEIGHT_WEIGHT = 0.75
SEGMENTS = 150


def depth_order(target: np.ndarray, n_segments: int = SEGMENTS) -> tuple[np.ndarray, np.ndarray]:
    """(labels H×W, segment ids far to near)."""
    h, w = target.shape[:2]
    labels = slic(target, n_segments=n_segments, compactness=10.0, start_label=0)
    n = int(labels.max()) + 1
    flat = labels.ravel()
    area = np.bincount(flat, minlength=n).astype(np.float64)
    rows = np.repeat(np.arange(h, dtype=np.float64), w)
    y = np.bincount(flat, weights=rows, minlength=n) / np.maximum(area, 1)
    grey = cv2.cvtColor(target, cv2.COLOR_RGB2GRAY).astype(np.float32)
    lap = np.abs(cv2.Laplacian(grey, cv2.CV_32F, ksize=3)).ravel().astype(np.float64)
    texture = np.bincount(flat, weights=lap, minlength=n) / np.maximum(area, 1)
    texture_rank = np.argsort(np.argsort(texture)) / max(1, n - 1)
    farness = HEIGHT_WEIGHT * (1 - y / max(1, h - 1)) + (1 - HEIGHT_WEIGHT) * (1 - texture_rank)
    order = np.argsort(-farness, kind="stable")
    return labels, order[area[order] > 0]


def segment_reveal(target: np.ndarray, n_steps: int, seed: int = 0) -> list[np.ndarray]:
    del seed  # SLIC and the ordering are deterministic
    labels, order = depth_order(target)
    area = np.bincount(labels.ravel(), minlength=int(labels.max()) + 1)[order]
    # step of each segment: split the far-to-near list at equal fractions of the canvas area
    cum = np.cumsum(area) / area.sum()
    step_of_segment = np.minimum(np.ceil(cum * n_steps - 1e-9).astype(int), n_steps)
    step = np.zeros(int(labels.max()) + 1, np.int64)
    step[order] = np.maximum(step_of_segment, 1)
    pixel_step = step[labels]
    canvas = np.full_like(target, 255)
    out = []
    for k in range(1, n_steps + 1):
        reveal = pixel_step == k
        canvas[reveal] = target[reveal]
        out.append(canvas.copy())
    return out
