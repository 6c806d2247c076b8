"""Side-by-side composition of two images, as LLaVA sees a pair: [left | right]."""

from __future__ import annotations

import cv2
import numpy as np


def _check(image: np.ndarray, name: str) -> None:
    if image.ndim != 3 or image.shape[2] != 3 or image.dtype != np.uint8 or 0 in image.shape[:2]:
        raise ValueError(f"{name} must be a non-empty uint8 HxWx3 RGB image, got {image.dtype} {image.shape}")


def side_by_side(left: np.ndarray, right: np.ndarray) -> np.ndarray:
    """[left | right] at left's height; right is resized (aspect kept) when the heights differ."""
    _check(left, "left")
    _check(right, "right")
    height = left.shape[0]
    if right.shape[0] != height:
        width = max(1, round(right.shape[1] * height / right.shape[0]))
        interpolation = cv2.INTER_AREA if right.shape[0] > height else cv2.INTER_LINEAR
        right = cv2.resize(right, (width, height), interpolation=interpolation)
    return np.concatenate([left, right], axis=1)


def pad_to_square(image: np.ndarray, fill: tuple[int, int, int]) -> np.ndarray:
    """Centre `image` on a square of colour `fill` (LLaVA-1.5's `expand2square`), so no side is cropped away."""
    _check(image, "image")
    h, w = image.shape[:2]
    side = max(h, w)
    out = np.empty((side, side, 3), np.uint8)
    out[:] = np.asarray(fill, np.uint8)
    top, left = (side - h) // 2, (side - w) // 2
    out[top : top + h, left : left + w] = image
    return out
