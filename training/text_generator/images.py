"""The image g_text sees: [current | target] side by side, padded to a square like LLaVA-1.5."""

from __future__ import annotations

import cv2
import numpy as np
from PIL import Image


def _check_rgb(image: np.ndarray, name: str) -> np.ndarray:
    array = np.asarray(image)
    if array.ndim != 3 or array.shape[2] != 3 or array.dtype != np.uint8:
        raise ValueError(f"{name}: expected an RGB uint8 array of shape HxWx3, got {array.dtype} {array.shape}")
    return array


def side_by_side(current: np.ndarray, target: np.ndarray) -> np.ndarray:
    """Horizontally concatenate I_{t-1} (left) and I_T (right); the target is resized to the current's size."""
    left = _check_rgb(current, "current image")
    right = _check_rgb(target, "target image")
    if right.shape[:2] != left.shape[:2]:
        right = cv2.resize(right, (left.shape[1], left.shape[0]), interpolation=cv2.INTER_AREA)
    return np.concatenate([left, right], axis=1)


def pad_to_square(image: np.ndarray | Image.Image, fill: tuple[int, int, int]) -> Image.Image:
    """Centre the image on a square of colour `fill` (LLaVA-1.5's `expand2square`).

    Without it the CLIP processor's centre crop would cut away half of a side-by-side pair.
    """
    pil = image if isinstance(image, Image.Image) else Image.fromarray(_check_rgb(image, "image"))
    pil = pil.convert("RGB")
    width, height = pil.size
    if width == height:
        return pil
    side = max(width, height)
    square = Image.new("RGB", (side, side), fill)
    square.paste(pil, ((side - width) // 2, (side - height) // 2))
    return square


def mean_fill(image_processor: object) -> tuple[int, int, int]:
    """The processor's normalisation mean as an RGB colour (pads become zeros after normalisation)."""
    mean = getattr(image_processor, "image_mean", None) or (0.5, 0.5, 0.5)
    return tuple(round(255 * float(m)) for m in mean[:3])  # type: ignore[return-value]
