"""Features of a pair's changed region (binary M_t mask + the images), for the `nearest` labeller.

Colour (CIE Lab of what was painted and of how it changed), position (centroid, bbox, vertical
profile), size (area fraction) and texture (gradient energy, uniform-LBP histogram), all computed
inside the mask on a copy downscaled to `WORK_SIDE` px so every video weighs the same.
"""

from __future__ import annotations

from pathlib import Path

import cv2
import numpy as np
from skimage.feature import local_binary_pattern

from training.data.images import read_gray, read_rgb

WORK_SIDE = 128  # long side of the working copy
LBP_P, LBP_R = 8, 1
BANDS = 4  # horizontal bands of the vertical profile

FEATURE_GROUPS: dict[str, list[str]] = {
    "colour": ["L", "a", "b", "L_std", "a_std", "b_std", "dL", "da", "db"],
    "position": ["cx", "cy", "x0", "y0", "x1", "y1", *(f"band{i}" for i in range(BANDS))],
    "size": ["area"],
    "texture": ["grad", *(f"lbp{i}" for i in range(LBP_P + 2))],
}
FEATURE_NAMES: list[str] = [name for names in FEATURE_GROUPS.values() for name in names]


def _resize(image: np.ndarray, size: tuple[int, int], nearest: bool = False) -> np.ndarray:
    return cv2.resize(image, size, interpolation=cv2.INTER_NEAREST if nearest else cv2.INTER_AREA)


def _lab(rgb: np.ndarray) -> np.ndarray:
    # OpenCV's float Lab: L in [0, 100], a/b roughly [-127, 127]
    return cv2.cvtColor(rgb.astype(np.float32) / 255.0, cv2.COLOR_RGB2LAB)


def region_features(prev_rgb: np.ndarray, next_rgb: np.ndarray, mask: np.ndarray) -> np.ndarray:
    """One feature vector (order: FEATURE_NAMES) for the change prev -> next inside `mask` (HxW, nonzero = changed).

    An empty mask gives the whole-image statistics with area 0, so such pairs still get a label.
    """
    if prev_rgb.shape != next_rgb.shape or mask.shape[:2] != next_rgb.shape[:2]:
        raise ValueError(
            f"prev {prev_rgb.shape}, next {next_rgb.shape} and mask {mask.shape} must share height and width"
        )
    h, w = mask.shape[:2]
    scale = WORK_SIDE / max(h, w)
    size = (max(1, round(w * scale)), max(1, round(h * scale)))
    m = _resize((mask > 0).astype(np.uint8), size, nearest=True).astype(bool)
    nxt, prv = _lab(_resize(next_rgb, size)), _lab(_resize(prev_rgb, size))
    area = float(m.mean())
    region = m if m.any() else np.ones_like(m)
    ys, xs = np.nonzero(region)
    hh, ww = region.shape
    inside, change = nxt[region], (nxt - prv)[region]
    colour = [*inside.mean(0), *inside.std(0), *change.mean(0)]
    bands = [float(region[i * hh // BANDS : (i + 1) * hh // BANDS].sum()) / len(ys) for i in range(BANDS)]
    position = [xs.mean() / ww, ys.mean() / hh, xs.min() / ww, ys.min() / hh, (xs.max() + 1) / ww, (ys.max() + 1) / hh]
    grey = cv2.cvtColor(_resize(next_rgb, size), cv2.COLOR_RGB2GRAY)
    gx, gy = cv2.Sobel(grey, cv2.CV_32F, 1, 0), cv2.Sobel(grey, cv2.CV_32F, 0, 1)
    grad = float(np.sqrt(gx**2 + gy**2)[region].mean()) / 255.0
    lbp = local_binary_pattern(grey, LBP_P, LBP_R, method="uniform")[region]
    hist = np.bincount(lbp.astype(int), minlength=LBP_P + 2)[: LBP_P + 2] / len(lbp)
    vector = np.array([*colour, *position, *bands, area, grad, *hist], np.float64)
    assert vector.shape == (len(FEATURE_NAMES),)
    return vector


def pair_features(prev_path: Path | str, next_path: Path | str, mask_path: Path | str) -> np.ndarray:
    """`region_features` from the files of one pair (its I_{t-1}, I_t and binary M_t mask PNG)."""
    return region_features(read_rgb(prev_path), read_rgb(next_path), read_gray(mask_path))
