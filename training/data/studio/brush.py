"""Brush strokes: bristle stamps and their application to the canvas."""

from __future__ import annotations

import math
from dataclasses import dataclass

import cv2
import numpy as np

from .texture import smoothstep

STAMP_LENGTH = 96
STAMP_WIDTH = 32


@dataclass(frozen=True, slots=True)
class Stroke:
    """One brush stroke in canvas pixel coordinates."""

    x: float
    y: float
    angle: float  # radians, direction of the brush drag
    length: float
    width: float
    color: tuple[float, float, float]  # RGB 0..255
    opacity: float
    stamp: int  # index into the stamp bank
    mix: float = 0.0  # how much wet paint underneath is dragged into the stroke colour (acrylic blending)


def make_stamp(rng: np.random.Generator, solid: bool = False) -> np.ndarray:
    """Return a (STAMP_WIDTH, STAMP_LENGTH, 2) float32 stamp: channel 0 alpha, channel 1 bristle shade.

    The stamp is an elongated dab dragged along +x: a loaded rounded start, bristle lanes of uneven
    paint load and a dry, frayed tail where individual bristles run out of paint at different lengths.
    """
    h, w = STAMP_WIDTH, STAMP_LENGTH
    u = np.linspace(0.0, 1.0, w, dtype=np.float32)[None, :]
    v = np.linspace(-1.0, 1.0, h, dtype=np.float32)[:, None]
    bend = rng.uniform(-0.25, 0.25)
    v_c = v - bend * (4 * (u - 0.5) ** 2 - 1)  # slightly curved drag path
    taper = np.minimum(1.0, u / 0.1) ** 0.5 * np.minimum(1.0, (1.0 - u) / 0.25) ** 0.35
    half = 0.9 * (0.75 + 0.25 * taper)
    body = smoothstep(0.0, 0.12, half - np.abs(v_c)) * np.maximum(taper, 0.0)

    # bristle lanes: each row of the stamp is one group of bristles
    lanes = rng.uniform(0.72, 1.0, (h, 1)).astype(np.float32)
    lanes = cv2.GaussianBlur(lanes, (1, 3), 0.6)
    shade = rng.standard_normal((h, 1)).astype(np.float32)
    shade = cv2.GaussianBlur(shade, (1, 3), 0.7) + 0.4 * rng.standard_normal((h, w)).astype(np.float32) * 0.3
    tail_end = rng.uniform(0.78, 1.04, (h, 1)).astype(np.float32)
    dry = 1.0 - smoothstep(0.0, 0.12, u - (tail_end - 0.12))
    load = 1.08 + 0.25 * smoothstep(0.15, 0.0, u)  # more paint where the brush touches down

    alpha = body if solid else body * np.clip(lanes * dry * load, 0.0, 1.0)
    alpha = cv2.GaussianBlur(alpha.astype(np.float32), (3, 3), 0.6)
    return np.dstack([np.clip(alpha, 0, 1), shade]).astype(np.float32)


def make_stamps(rng: np.random.Generator, count: int = 10) -> list[list[np.ndarray]]:
    """A bank of stamps, each as a pyramid (full, 1/2, 1/4, 1/8 size) so small strokes are not aliased.

    The last stamp is solid (used for tiny details where bristles would vanish).
    """
    bank = [make_stamp(rng) for _ in range(count - 1)] + [make_stamp(rng, solid=True)]
    pyramids = []
    for stamp in bank:
        levels = [stamp]
        for _ in range(3):
            h, w = levels[-1].shape[:2]
            levels.append(cv2.resize(levels[-1], (w // 2, h // 2), interpolation=cv2.INTER_AREA))
        pyramids.append(levels)
    return pyramids


def stroke_bbox(stroke: Stroke, width: int, height: int) -> tuple[int, int, int, int] | None:
    """Canvas-clipped pixel bounding box (x0, y0, x1, y1) of a stroke, or None when off canvas."""
    c, s = abs(math.cos(stroke.angle)), abs(math.sin(stroke.angle))
    hx, hy = stroke.length / 2 + 1, stroke.width / 2 + 1
    bx, by = c * hx + s * hy, s * hx + c * hy
    x0, y0 = max(0, math.floor(stroke.x - bx)), max(0, math.floor(stroke.y - by))
    x1, y1 = min(width, math.ceil(stroke.x + bx) + 1), min(height, math.ceil(stroke.y + by) + 1)
    if x1 <= x0 or y1 <= y0:
        return None
    return x0, y0, x1, y1


def apply_stroke(
    canvas: np.ndarray, weave: np.ndarray, clip: np.ndarray | None, stroke: Stroke, stamps: list[list[np.ndarray]]
) -> None:
    """Paint ``stroke`` onto the uint8 RGB ``canvas`` in place.

    ``weave`` modulates the paint so the canvas texture shows through every layer, as in real videos;
    ``clip`` (float 0..1, optional) limits the stroke to the layer's region with a soft edge.
    """
    hgt, wid = canvas.shape[:2]
    box = stroke_bbox(stroke, wid, hgt)
    if box is None:
        return
    x0, y0, x1, y1 = box
    pyramid = stamps[stroke.stamp]
    level = 0
    while level + 1 < len(pyramid) and pyramid[level + 1].shape[0] >= stroke.width:
        level += 1
    stamp = pyramid[level]
    th, tw = stamp.shape[:2]
    c, s = math.cos(stroke.angle), math.sin(stroke.angle)
    sx, sy = stroke.length / tw, stroke.width / th
    a = np.array([[c * sx, -s * sy], [s * sx, c * sy]], np.float64)
    t = np.array([stroke.x - x0, stroke.y - y0]) - a @ np.array([(tw - 1) / 2, (th - 1) / 2])
    m = np.hstack([a, t[:, None]])
    warped = cv2.warpAffine(stamp, m, (x1 - x0, y1 - y0), flags=cv2.INTER_LINEAR, borderMode=cv2.BORDER_CONSTANT)
    alpha = warped[..., 0] * stroke.opacity
    if clip is not None:
        alpha *= clip[y0:y1, x0:x1]
    roi = canvas[y0:y1, x0:x1].astype(np.float32)
    color = np.asarray(stroke.color, np.float32)
    paint = (1.0 + 0.07 * warped[..., 1:2]) * weave[y0:y1, x0:x1, None] * color
    if stroke.mix > 0:
        # wet-on-wet: the brush picks up the paint underneath, which softens gradients like real acrylic
        paint += stroke.mix * (roi - paint)
    roi += (paint - roi) * alpha[..., None]
    canvas[y0:y1, x0:x1] = np.clip(roi + 0.5, 0, 255).astype(np.uint8)
