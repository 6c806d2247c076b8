"""Colour change between two canvas states, measured on small copies so long videos stay cheap.

Every decision of the keyframe stage (occluder, new paint, completion) is a question about which pixels
of the rectified canvas changed between two frames. The answer must ignore what a camera adds on top
of the paint: slow exposure and white-balance drift (a per-channel gain, estimated from the pixels that
did not change), sensor noise and compression (area downscaling and a light blur average them away)
and a pixel or two of rectification jitter (a change must survive a small shift).
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass

import cv2
import numpy as np

# Gains outside this range are not exposure drift but a different scene; matching them would hide real change.
GAIN_RANGE = (0.75, 1.33)
_LOG_STEP = 0.01  # 1 % wide bins of the log ratio
_LOG_LO = float(np.log(GAIN_RANGE[0]))
_LOG_COUNT = int(np.ceil((np.log(GAIN_RANGE[1]) - _LOG_LO) / _LOG_STEP))
_DARK = 0.04  # ratios of nearly black pixels are pure noise
WORK_BLUR_SIGMA = 0.8  # px at the work size: halves pixel noise, keeps brush texture
FLOAT_CACHE = 32  # float copies kept by WorkFrames: two persistence windows and then some


def to_work(image: np.ndarray, long_side: int) -> np.ndarray:
    """RGB uint8 image -> uint8 work copy: long side ``long_side`` (area averaging; never upscaled), then a
    light blur, so that sensor noise of a canvas filmed smaller than the work size does not look like paint."""
    height, width = image.shape[:2]
    scale = min(1.0, long_side / max(height, width))
    size = (max(1, round(width * scale)), max(1, round(height * scale)))
    small = image if size == (width, height) else cv2.resize(image, size, interpolation=cv2.INTER_AREA)
    return cv2.GaussianBlur(small, (3, 3), WORK_BLUR_SIGMA)


def as_float(image: np.ndarray) -> np.ndarray:
    """uint8 RGB -> float32 in 0..1."""
    return image.astype(np.float32) * (1.0 / 255.0)


def channel_gains(reference: np.ndarray, image: np.ndarray) -> np.ndarray:
    """Per-channel gain g so that ``image * g`` matches ``reference`` on the pixels that did not change.

    The unchanged pixels share one ratio (the exposure change), while new paint spreads its ratios
    widely; so the gain is the mode of a histogram of log ratios, which holds even when most of the
    canvas changed (a median would follow the paint). Only pixels whose ratios are plausible exposure
    changes in all three channels vote, so a flat wash of paint over most of the canvas does not win.
    Every other row and column is enough for a mode.
    """
    ref = reference[::2, ::2].reshape(-1, 3)
    img = image[::2, ::2].reshape(-1, 3)
    with np.errstate(divide="ignore", invalid="ignore"):
        logs = np.log(ref / img)
    bins = np.floor((logs - _LOG_LO) / _LOG_STEP)
    ok = ((ref > _DARK) & (img > _DARK) & (bins >= 0) & (bins < _LOG_COUNT)).all(axis=1)
    gains = np.ones(3, np.float32)
    if ok.sum() < 16:
        return gains
    for c in range(3):
        counts = np.bincount(bins[ok, c].astype(np.int64), minlength=_LOG_COUNT)
        peak = int(np.argmax(counts))
        near = ok & (np.abs(bins[:, c] - peak) <= 1)  # refine within the peak: sub-bin precision
        gains[c] = float(np.exp(np.median(logs[near, c])))
    return gains


def match_exposure(reference: np.ndarray, image: np.ndarray) -> np.ndarray:
    """``image`` (float RGB) rescaled per channel to the exposure of ``reference``."""
    return image * channel_gains(reference, image)[None, None, :]


def colour_change(a: np.ndarray, b: np.ndarray, shift_px: int = 1, match: bool = True) -> np.ndarray:
    """Per-pixel change (0..1, largest channel difference) between float RGB images ``a`` and ``b``.

    ``b`` is first matched to the exposure of ``a``. A pixel of one image counts as changed only if no
    position of the other within ``shift_px`` pixels has its colour, so rectification jitter does not
    look like paint; both directions are taken, so a dot of paint in either image still counts.
    """
    if match:
        b = match_exposure(a, b)
    if shift_px <= 0:
        return _largest_channel(cv2.absdiff(a, b))
    return np.maximum(_unmatched(a, b, int(shift_px)), _unmatched(b, a, int(shift_px)))


def _unmatched(a: np.ndarray, b: np.ndarray, s: int) -> np.ndarray:
    """Per pixel of ``a``: the smallest colour difference to ``b`` within ``s`` pixels."""
    height, width = a.shape[:2]
    padded = cv2.copyMakeBorder(b, s, s, s, s, cv2.BORDER_REPLICATE)
    best: np.ndarray | None = None
    for dy in range(2 * s + 1):
        for dx in range(2 * s + 1):
            d = _largest_channel(cv2.absdiff(a, np.ascontiguousarray(padded[dy : dy + height, dx : dx + width])))
            best = d if best is None else np.minimum(best, d, out=best)
    assert best is not None
    return best


def _largest_channel(diff: np.ndarray) -> np.ndarray:
    r, g, b = cv2.split(diff)
    return cv2.max(cv2.max(r, g), b)


def change_mask(change: np.ndarray, threshold: float, opening_px: int) -> np.ndarray:
    """Binary (bool) mask of ``change > threshold`` after a morphological opening that removes specks."""
    mask = (change > threshold).astype(np.uint8)
    if opening_px > 1:
        mask = cv2.morphologyEx(mask, cv2.MORPH_OPEN, np.ones((opening_px, opening_px), np.uint8))
    return mask.astype(bool)


def consensus(anchor: np.ndarray, images: Sequence[np.ndarray]) -> np.ndarray:
    """Per-pixel median of ``images`` after matching each to the exposure of ``anchor``.

    ``images`` come nearest first: with an even count the farthest is dropped, so the median is always one
    of the observed values, never the average of a canvas state and a hand.
    """
    if not images:
        raise ValueError("consensus needs at least one image")
    chosen = list(images)[: len(images) if len(images) % 2 else len(images) - 1]
    stack = np.stack([match_exposure(anchor, image) for image in chosen], axis=-1)  # contiguous last axis: fast
    middle = len(chosen) // 2
    return np.partition(stack, middle, axis=-1)[..., middle]


def skin_mask(image: np.ndarray) -> np.ndarray:
    """Bool mask of skin-coloured pixels of a float RGB image (the classic YCrCb box, all skin tones)."""
    ycrcb = cv2.cvtColor(np.clip(image * 255.0 + 0.5, 0, 255).astype(np.uint8), cv2.COLOR_RGB2YCrCb)
    y, cr, cb = ycrcb[..., 0], ycrcb[..., 1], ycrcb[..., 2]
    return (cr >= 133) & (cr <= 173) & (cb >= 77) & (cb <= 127) & (y >= 40)


@dataclass(frozen=True)
class Blob:
    """One connected region of a change mask."""

    label: int  # its value in the label image returned by :func:`blobs`
    area: float  # fraction of the canvas
    thickness: float  # radius of the largest disc inside it, as a fraction of the canvas long side
    elongation: float  # its area over the area of that disc: about 1-3 for a hand, tens for a thin line
    skin: float  # fraction of its pixels that are skin-coloured
    touches_edge: bool  # reaches the canvas border (hands and arms enter from outside the canvas)
    in_band: float = 0.0  # fraction of its pixels within the border band given to :func:`blobs`


def blobs(mask: np.ndarray, skin: np.ndarray, band: float = 0.0) -> tuple[list[Blob], np.ndarray]:
    """Connected regions of ``mask`` (8-connectivity), largest first, and the label image. ``band``: width of the
    border band (fraction of the long side) whose share of each blob is reported as ``in_band``."""
    binary = mask.astype(np.uint8)
    count, labels, stats, _ = cv2.connectedComponentsWithStats(binary, connectivity=8)
    # the image border is not background here: an arm continues beyond the canvas edge
    radius = cv2.distanceTransform(binary, cv2.DIST_L2, 3)
    height, width = mask.shape
    total, long_side = float(mask.size), float(max(height, width))
    rows, cols = np.arange(height)[:, None], np.arange(width)[None, :]
    border = np.minimum(np.minimum(rows, height - 1 - rows), np.minimum(cols, width - 1 - cols)) < band * long_side
    found = []
    for k in range(1, count):
        x, y, w, h, area = (int(v) for v in stats[k])
        inside = labels[y : y + h, x : x + w] == k
        skin_fraction = float(skin[y : y + h, x : x + w][inside].mean())
        radius_px = max(float(radius[y : y + h, x : x + w][inside].max()), 0.5)
        elongation = area / (np.pi * radius_px**2)
        edge = x == 0 or y == 0 or x + w == width or y + h == height
        in_band = float(border[y : y + h, x : x + w][inside].mean()) if edge and band > 0 else 0.0
        found.append(Blob(k, area / total, radius_px / long_side, elongation, skin_fraction, edge, in_band))
    found.sort(key=lambda b: b.area, reverse=True)
    return found, labels


class WorkFrames:
    """Small copies of a video's canvas frames: what every keyframe decision looks at.

    Built in one pass over ``frames`` (a list or a lazy sequence that loads from disk), keeping only the
    downscaled uint8 copies: about 43 kB per frame at a long side of 160 px (26 MB for a 10-minute video
    sampled every second), whatever the size of the rectified canvas.
    """

    def __init__(self, frames: Iterable[tuple[int, np.ndarray | None]], long_side: int) -> None:
        self.t_ms: list[int] = []
        self._small: list[np.ndarray | None] = []
        self._floats: dict[int, np.ndarray] = {}  # recently used float copies (the sliding windows reuse them)
        self.canvas_shape: tuple[int, int] | None = None
        for index, (t_ms, image) in enumerate(frames):
            t = int(t_ms)
            if self.t_ms and t <= self.t_ms[-1]:
                raise ValueError(
                    f"frame {index} is at t_ms={t}, not after the previous frame (t_ms={self.t_ms[-1]}); "
                    "pass the frames of one video in strictly increasing time order"
                )
            self.t_ms.append(t)
            self._small.append(None if image is None else self._shrink(index, t, image, long_side))

    def _shrink(self, index: int, t_ms: int, image: np.ndarray, long_side: int) -> np.ndarray:
        image = np.asarray(image)
        if image.ndim != 3 or image.shape[2] != 3 or image.dtype != np.uint8:
            raise ValueError(
                f"frame {index} (t_ms={t_ms}) has shape {image.shape} and dtype {image.dtype}; expected an RGB "
                "uint8 image (H, W, 3), or None when no canvas was found"
            )
        shape = (int(image.shape[0]), int(image.shape[1]))
        if self.canvas_shape is None:
            self.canvas_shape = shape
        elif shape != self.canvas_shape:
            raise ValueError(
                f"frame {index} (t_ms={t_ms}) is {shape[1]}x{shape[0]} but earlier canvas frames are "
                f"{self.canvas_shape[1]}x{self.canvas_shape[0]}; rectify all frames of a video to one canvas size"
            )
        return to_work(image, long_side)

    def __len__(self) -> int:
        return len(self.t_ms)

    def has_canvas(self, index: int) -> bool:
        return self._small[index] is not None

    def image(self, index: int) -> np.ndarray:
        """Float RGB work copy of frame ``index`` (which must have a canvas)."""
        cached = self._floats.get(index)
        if cached is not None:
            return cached
        small = self._small[index]
        if small is None:
            raise ValueError(f"frame {index} (t_ms={self.t_ms[index]}) has no canvas")
        if len(self._floats) >= FLOAT_CACHE:
            self._floats.pop(next(iter(self._floats)))
        image = as_float(small)
        image.flags.writeable = False  # shared by every caller
        self._floats[index] = image
        return image

    @property
    def with_canvas(self) -> list[int]:
        """Indices of the frames that show the canvas."""
        return [i for i, small in enumerate(self._small) if small is not None]
