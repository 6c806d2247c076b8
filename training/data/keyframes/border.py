"""The arm test: a hand on the canvas belongs to an arm that crosses the canvas border.

A painter's hand comes from outside the canvas: while fingertips or a brush tip touch it, the arm holding
them lies across the canvas edge. On the canvas the tip may cover a handful of pixels, too few for the canvas
test of :mod:`.occluders` to tell from paint; just outside the canvas the wrist and forearm are large. The
surround of each frame (the canvas plane rectified with a margin around the canvas, see
``training.data.canvas.geometry.enlarge_quad``) shows them. What surrounds a canvas (wall, easel, table) stays
put, so, as on the canvas, a pixel of the margin that differs from the median of the frames before it and from
the median of those after it is transient, and a transient blob in the margin that reaches the canvas edge is
an arm over the canvas.

Parts of the margin outside the camera's view repeat the frame's border pixels (a black fill would draw a
line at the frame's edge that camera shake moves, a transient reaching the canvas): where the canvas fills the
frame this test sees little, and the canvas test decides alone. Something else that moves beside the canvas and
touches its edge (the painter's body, a shadow) drops a clean frame: that costs a keyframe, never puts a hand
in the data.
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from dataclasses import dataclass

import cv2
import numpy as np

from .change import WorkFrames, change_mask, colour_change, consensus
from .config import KeyframeConfig
from .occluders import window_around

SURROUND_MARGIN = 0.12  # default margin of the surrounds canvas_frames writes: 12 % of the canvas on every side
SURROUND_LONG_SIDE = 192  # default long side of those surrounds (the canvas is 155 px of it)
WORK_SIDE = 192  # long side at which the surround is tested (never upscaled)
GAP_PX = 2  # margin pixels next to the canvas left out: they blend canvas and surround, and the corners may be off
TOUCH_PX = 3  # a blob reaches the canvas edge when it has pixels this close beyond the gap
EDGES = ("top", "right", "bottom", "left")

Verdict = tuple[bool, str]


@dataclass(frozen=True)
class Surrounds:
    """Per frame, the surround image (RGB uint8: the canvas enlarged by ``margin`` of its width and height on
    every side, rectified like the canvas) or None where the frame has no canvas."""

    images: Sequence[np.ndarray | None]
    margin: float

    def __post_init__(self) -> None:
        if not 0 < self.margin <= 1:
            raise ValueError(f"surround margin must lie in (0, 1], got {self.margin}")


@dataclass(frozen=True)
class _Layout:
    ring: np.ndarray  # margin pixels tested
    touch: np.ndarray  # ring pixels next to the canvas edge
    side: np.ndarray  # per pixel: index into EDGES of the canvas edge it lies beyond
    canvas_px: float  # pixels of the canvas


def _layout(shape: tuple[int, int], margin: float) -> _Layout:
    height, width = shape
    share = margin / (1 + 2 * margin)
    x0, x1 = round(width * share), round(width * (1 - share))
    y0, y1 = round(height * share), round(height * (1 - share))
    inner = np.zeros((height, width), np.uint8)
    inner[max(0, y0 - GAP_PX) : y1 + GAP_PX, max(0, x0 - GAP_PX) : x1 + GAP_PX] = 1
    near = np.zeros_like(inner)
    g = GAP_PX + TOUCH_PX
    near[max(0, y0 - g) : y1 + g, max(0, x0 - g) : x1 + g] = 1
    ring, touch = inner == 0, (near == 1) & (inner == 0)
    yy, xx = np.mgrid[0:height, 0:width]
    distance = np.stack([y0 - yy, xx - x1, yy - y1, x0 - xx])  # how far beyond each edge
    return _Layout(ring, touch, distance.argmax(0), float((x1 - x0) * (y1 - y0)))


def _judge(
    work: WorkFrames, index: int, before: list[int], after: list[int], layout: _Layout, config: KeyframeConfig
) -> Verdict:
    image = work.image(index)
    sides = [side for side in (before, after) if side]
    if not sides:
        return False, "no other frame to compare the surround with"
    change = np.minimum.reduce(
        [
            colour_change(image, consensus(image, [work.image(j) for j in side]), config.shift_px, match=False)
            for side in sides
        ]
    )
    mask = change_mask(change, config.occluder_threshold, config.occluder_opening_px) & layout.ring
    if not (mask & layout.touch).any():
        return False, ""
    _, labels, stats, _ = cv2.connectedComponentsWithStats(mask.astype(np.uint8), connectivity=8)
    touching = np.unique(labels[mask & layout.touch])
    best = int(touching[np.argmax(stats[touching, cv2.CC_STAT_AREA])])
    area = float(stats[best, cv2.CC_STAT_AREA]) / layout.canvas_px
    if area < config.border_min_area:
        return False, ""
    contact = layout.touch & (labels == best)
    edge = EDGES[int(np.bincount(layout.side[contact], minlength=4).argmax())]
    return True, (
        f"an arm crosses the canvas border: transient change outside the canvas reaching its {edge} edge "
        f"(blob {100 * area:.2f} % of the canvas area)"
    )


def border_verdicts(surrounds: Surrounds, t_ms: Sequence[int], window: int, config: KeyframeConfig) -> list[Verdict]:
    """Per frame: (an arm crosses the canvas border, explanation), from the ``window`` frames with a surround
    before and after it (``t_ms``: the frames' times). Reads each surround once and keeps a small copy of it
    (89 kB at the default size)."""
    if len(surrounds.images) != len(t_ms):
        raise ValueError(f"got {len(surrounds.images)} surrounds for {len(t_ms)} frames; pass one per frame")
    work = WorkFrames(zip(t_ms, _read(surrounds.images), strict=True), WORK_SIDE)
    verdicts: list[Verdict] = [(False, "no canvas")] * len(work)
    order = work.with_canvas
    if order:
        layout = _layout(work.image(order[0]).shape[:2], surrounds.margin)
        for i in order:
            verdicts[i] = _judge(work, i, *window_around(order, i, window), layout, config)
    return verdicts


def _read(images: Sequence[np.ndarray | None]) -> Iterator[np.ndarray | None]:
    for index in range(len(images)):  # by index: iterating a Sequence reads one past its end
        yield images[index]
