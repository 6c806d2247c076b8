"""Stroke planning, the painting timeline and the incrementally painted canvas."""

from __future__ import annotations

import math
from dataclasses import dataclass

import cv2
import numpy as np

from .brush import Stroke, apply_stroke
from .landscape import LayerSpec, Pass

BLANK_RGB = (238.0, 236.0, 230.0)  # white gesso primer, slightly warm
MASK_THRESHOLD = 10  # a layer "changed" a pixel when some channel moved by more than this (0..255)


@dataclass(frozen=True)
class Layer:
    """One painted layer: its strokes are ``strokes[first:last]`` painted from ``start_ms`` to ``end_ms``."""

    index: int
    kind: str
    label: str
    start_ms: int
    end_ms: int
    first: int
    last: int


def _sample_pass(
    rng: np.random.Generator,
    spec: LayerSpec,
    p: Pass,
    target: np.ndarray,
    labels: np.ndarray,
    group: int,
    box: tuple[int, int, int, int],
    long_side: int,
    n_bristle: int,
) -> list[Stroke]:
    """Strokes of one pass over one connected part of a layer, in painting order."""
    x0, y0, w, h = box
    wpx = max(1.5, p.width * long_side)
    step = max(1.0, p.spacing * wpx)
    # the grid overhangs the part by half a step so edges (also the canvas border) get covered
    gx = np.arange(x0 - step / 2 + rng.uniform(0, step), x0 + w + step / 2, step)
    gy = np.arange(y0 - step / 2 + rng.uniform(0, step), y0 + h + step / 2, step)
    px, py = np.meshgrid(gx, gy)
    px = px.ravel() + rng.uniform(-0.4, 0.4, px.size) * step
    py = py.ravel() + rng.uniform(-0.4, 0.4, py.size) * step
    xi = np.clip(np.round(px).astype(int), 0, labels.shape[1] - 1)
    yi = np.clip(np.round(py).astype(int), 0, labels.shape[0] - 1)
    keep = (labels[yi, xi] == group) & (rng.random(px.size) < p.coverage)
    px, py, xi, yi = px[keep], py[keep], xi[keep], yi[keep]
    if px.size == 0:
        return []
    d = (math.cos(spec.sweep), math.sin(spec.sweep))
    key = px * d[0] + py * d[1] + rng.normal(0, spec.sweep_noise * long_side, px.size)
    order = np.argsort(key, kind="stable")
    n = px.size
    colors = target[yi, xi] + rng.normal(0, p.color_jitter, (n, 1)) + rng.normal(0, p.color_jitter * 0.3, (n, 3))
    colors = np.clip(colors, 0, 255)
    if p.angle is None:
        angles = rng.uniform(0, math.pi, n)
    elif isinstance(p.angle, np.ndarray):
        angles = p.angle[yi, xi].astype(np.float64)
        free = np.isnan(angles)
        angles[free] = rng.uniform(0, math.pi, int(free.sum()))
    else:
        angles = np.full(n, float(p.angle))
    angles = angles + rng.normal(0, p.angle_jitter, n)
    widths = wpx * rng.uniform(0.8, 1.2, n)
    lengths = widths * p.length * rng.uniform(0.8, 1.25, n)
    opac = p.opacity * rng.uniform(0.9, 1.0, n)
    stamps = rng.integers(0, n_bristle, n)
    return [
        Stroke(
            float(px[k]),
            float(py[k]),
            float(angles[k]),
            float(lengths[k]),
            float(widths[k]),
            (float(colors[k, 0]), float(colors[k, 1]), float(colors[k, 2])),
            float(opac[k]),
            int(stamps[k]),
            p.mix,
        )
        for k in order
    ]


def plan_strokes(rng: np.random.Generator, spec: LayerSpec, long_side: int, n_bristle: int) -> list[Stroke]:
    """All strokes of a layer in painting order.

    The painter works part by part (connected components of the region, ordered along the sweep
    direction), and within a part does a base coat then a detail pass, each sweeping across the part
    so consecutive video frames show localized change.
    """
    if spec.strokes is not None:
        return list(spec.strokes)
    assert spec.region is not None and spec.target is not None
    mask = (spec.region > 0.5).astype(np.uint8)
    n, labels, stats, centroids = cv2.connectedComponentsWithStats(mask, connectivity=8)
    d = np.array([math.cos(spec.sweep), math.sin(spec.sweep)])
    groups = [i for i in range(1, n) if stats[i, cv2.CC_STAT_AREA] >= 4]
    gkey = {i: float(centroids[i] @ d) + rng.normal(0, 0.05 * long_side) for i in groups}
    groups.sort(key=lambda i: gkey[i])
    targets: dict[float, np.ndarray] = {}
    for p in spec.passes:
        if p.blur not in targets:
            sigma = p.blur * long_side
            targets[p.blur] = cv2.GaussianBlur(spec.target, (0, 0), sigma) if sigma > 0.3 else spec.target
    strokes: list[Stroke] = []
    for gi in groups:
        box = tuple(int(v) for v in stats[gi, :4])
        for k, p in enumerate(spec.passes):
            part = _sample_pass(rng, spec, p, targets[p.blur], labels, gi, box, long_side, n_bristle)  # type: ignore[arg-type]
            if not part and k == 0:  # a part smaller than the brush still gets one dab
                ys, xs = np.nonzero(labels[box[1] : box[1] + box[3], box[0] : box[0] + box[2]] == gi)
                cx, cy = float(xs.mean() + box[0]), float(ys.mean() + box[1])
                col = tuple(float(v) for v in targets[p.blur][int(cy), int(cx)])
                size = max(2.0, min(p.width * long_side, 1.5 * math.sqrt(len(xs))))
                part = [
                    Stroke(
                        cx, cy, rng.uniform(0, math.pi), size * 1.5, size, col, p.opacity, int(rng.integers(n_bristle))
                    )
                ]  # type: ignore[arg-type]
            strokes.extend(part)
    return strokes


def schedule(rng: np.random.Generator, counts: list[int], duration_ms: int) -> tuple[np.ndarray, list[tuple[int, int]]]:
    """Assign a time (ms) to every stroke; return the times and each layer's (start_ms, end_ms).

    A blank canvas for 3-8 % of the video, then the layers one after the other with short pauses, with
    an irregular pace inside each layer, then 5-10 % of finished painting.
    """
    start = rng.uniform(0.03, 0.08) * duration_ms
    end = (1 - rng.uniform(0.05, 0.10)) * duration_ms
    counts_a = np.asarray(counts, np.float64)
    weights = np.maximum(counts_a, 1) ** 0.8 * rng.uniform(0.7, 1.3, len(counts))
    gaps = rng.uniform(0.003, 0.012, max(len(counts) - 1, 0)) * duration_ms
    avail = max(end - start - gaps.sum(), 1.0)
    durations = avail * weights / weights.sum()
    times: list[np.ndarray] = []
    spans: list[tuple[int, int]] = []
    t0 = start
    for k, n in enumerate(counts):
        if n > 1:
            steps = rng.gamma(2.0, 1.0, n - 1)
            if rng.random() < 0.35:  # the painter steps back to look, or mixes paint
                steps[int(rng.integers(n - 1))] += steps.sum() * rng.uniform(0.05, 0.15)
            cum = np.concatenate([[0.0], np.cumsum(steps)])
            t = t0 + cum / cum[-1] * durations[k]
        else:
            t = np.full(n, t0 + durations[k] / 2)
        t = np.round(t).astype(np.int64)
        times.append(t)
        spans.append((int(t[0]), int(t[-1])) if n else (round(t0), round(t0)))
        t0 += durations[k] + (gaps[k] if k < len(gaps) else 0.0)
    return (np.concatenate(times) if times else np.zeros(0, np.int64)), spans


class PaintState:
    """The canvas after the first ``n`` strokes, computed incrementally with checkpoints for random access."""

    def __init__(
        self,
        blank: np.ndarray,
        weave: np.ndarray,
        strokes: list[Stroke],
        clip_of: list[np.ndarray | None],
        stamps: list[list[np.ndarray]],
        every: int = 256,
    ) -> None:
        self.strokes = strokes
        self._weave = weave
        self._clip_of = clip_of  # clip map of each stroke (shared per layer)
        self._stamps = stamps
        self._every = every
        self._canvas = blank.copy()
        self._n = 0
        self._checkpoints: dict[int, np.ndarray] = {0: blank.copy()}

    @property
    def count(self) -> int:
        """Number of strokes currently applied."""
        return self._n

    def at(self, n: int) -> np.ndarray:
        """Canvas after ``n`` strokes. The returned array is internal state: copy it before modifying."""
        n = int(min(max(n, 0), len(self.strokes)))
        if n < self._n:
            base = max(k for k in self._checkpoints if k <= n)
            self._canvas = self._checkpoints[base].copy()
            self._n = base
        while self._n < n:
            apply_stroke(self._canvas, self._weave, self._clip_of[self._n], self.strokes[self._n], self._stamps)
            self._n += 1
            if self._n % self._every == 0 and self._n not in self._checkpoints:
                self._checkpoints[self._n] = self._canvas.copy()
        return self._canvas


def change_mask(before: np.ndarray, after: np.ndarray) -> np.ndarray:
    """uint8 0/255 mask of pixels whose colour changed noticeably."""
    diff = cv2.absdiff(before, after).max(axis=2)
    return np.where(diff > MASK_THRESHOLD, 255, 0).astype(np.uint8)
