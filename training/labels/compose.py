"""The image LLaVA sees for a pair, in training and at inference: [current | target] side by side, padded to a
square like LLaVA-1.5. One implementation for the labeller (training/labels/llava.py), the training images of
g_text (training/text_generator/conversations.py, Label Studio tasks) and g_text's inference (training/text_generator),
so all compose alike."""

from __future__ import annotations

import cv2
import numpy as np
from PIL import Image


def _check_rgb(image: np.ndarray, name: str) -> np.ndarray:
    array = np.asarray(image)
    if array.ndim != 3 or array.shape[2] != 3 or array.dtype != np.uint8 or 0 in array.shape[:2]:
        raise ValueError(f"{name} must be a non-empty uint8 HxWx3 RGB image, got {array.dtype} {array.shape}")
    return array


def side_by_side(current: np.ndarray, target: np.ndarray) -> np.ndarray:
    """[current | target] at the current image's height; the target is resized with its aspect kept."""
    left = _check_rgb(current, "current image")
    right = _check_rgb(target, "target image")
    height = left.shape[0]
    if right.shape[0] != height:
        width = max(1, round(right.shape[1] * height / right.shape[0]))
        interpolation = cv2.INTER_AREA if right.shape[0] > height else cv2.INTER_LINEAR
        right = cv2.resize(right, (width, height), interpolation=interpolation)
    return np.concatenate([left, right], axis=1)


def pad_to_square(image: np.ndarray | Image.Image, fill: tuple[int, int, int]) -> np.ndarray:
    """Centre the image on a square of colour `fill` (LLaVA-1.5's `expand2square`).

    Without it the CLIP processor's centre crop would cut away half of a side-by-side pair.
    """
    array = _check_rgb(np.asarray(image.convert("RGB")) if isinstance(image, Image.Image) else image, "image")
    h, w = array.shape[:2]
    side = max(h, w)
    out = np.empty((side, side, 3), np.uint8)
    out[:] = np.asarray(fill, np.uint8)
    top, left = (side - h) // 2, (side - w) // 2
    out[top : top + h, left : left + w] = array
    return out


def mean_fill(image_processor: object) -> tuple[int, int, int]:
    """The processor's normalisation mean as an RGB colour (pads become zeros after normalisation)."""
    mean = getattr(image_processor, "image_mean", None) or (0.5, 0.5, 0.5)
    return tuple(round(255 * float(m)) for m in mean[:3])  # type: ignore[return-value]
