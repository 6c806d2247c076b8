"""Painterly rendering with curved brush strokes (Hertzmann, SIGGRAPH 1998), recorded stroke by stroke.

For each brush radius R, largest first: the reference is the target blurred with σ = f_σ·R; on a grid
of spacing f_g·R, every cell whose mean colour error between canvas and reference exceeds T starts a
stroke at its worst pixel (every cell on the first layer, whose canvas counts as infinitely far). A
stroke takes the reference colour at its start and grows up to ``MAX_LENGTH`` control points, each R
along the normal of the luminance gradient (the direction of an isophote), smoothed by the curvature
filter f_c, and stops after ``MIN_LENGTH`` points where the reference is closer to the canvas than to
the stroke colour, or where the gradient vanishes. A layer's strokes are painted in random order.

Parameters: Hertzmann's "Impressionist" style (f_σ = 0.5, f_g = 1, f_c = 1, lengths 4..16) with
T = 30 instead of 100, because our canvas starts white and light regions would otherwise never be
painted. Radii 8, 4, 2 px at a 512-px long side, scaled with the image (at least 1 px).

Stroke tracing is vectorised over all strokes of a layer; drawing is one OpenCV polyline per stroke.
Frame k of K is the canvas after round(k·N/K) of the N strokes, so the last frame is the finished
painterly rendering: an approximation of the target, not the target itself (like the stroke-based
baselines of the paper, which end at a "stylized" version of the painting).
"""

from __future__ import annotations

import cv2
import numpy as np

BASE_RADII = (8, 4, 2)
REFERENCE_LONG_SIDE = 512
THRESHOLD = 30.0
F_SIGMA = 0.5
F_GRID = 1.0
F_CURVE = 1.0
MIN_LENGTH = 4
MAX_LENGTH = 16


def scaled_radii(shape: tuple[int, ...]) -> list[int]:
    scale = max(shape[:2]) / REFERENCE_LONG_SIDE
    radii: list[int] = []
    for r in BASE_RADII:
        value = max(1, round(r * scale))
        if not radii or value < radii[-1]:
            radii.append(value)
    return radii


def _start_points(error: np.ndarray, grid: int, first: bool) -> tuple[np.ndarray, np.ndarray]:
    """(x, y) of the worst pixel of each grid cell whose mean error exceeds the threshold."""
    h, w = error.shape
    gh, gw = -(-h // grid), -(-w // grid)
    padded = np.full((gh * grid, gw * grid), -1.0)
    padded[:h, :w] = error
    cells = padded.reshape(gh, grid, gw, grid).transpose(0, 2, 1, 3).reshape(gh, gw, grid * grid)
    valid = cells >= 0
    mean = np.where(valid, cells, 0).sum(axis=2) / np.maximum(valid.sum(axis=2), 1)
    chosen = np.ones_like(mean, bool) if first else mean > THRESHOLD
    worst = cells.argmax(axis=2)
    cy, cx = np.nonzero(chosen)
    idx = worst[cy, cx]
    return cx * grid + idx % grid, cy * grid + idx // grid


def _trace(
    x0: np.ndarray, y0: np.ndarray, radius: int, ref: np.ndarray, canvas: np.ndarray, gx: np.ndarray, gy: np.ndarray
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Control points (N, MAX_LENGTH+1, 2), point counts (N,) and colours (N, 3) of the strokes."""
    h, w = ref.shape[:2]
    n = len(x0)
    pts = np.zeros((n, MAX_LENGTH + 1, 2))
    x, y = x0.astype(np.float64), y0.astype(np.float64)
    pts[:, 0, 0], pts[:, 0, 1] = x, y
    colour = ref[y0, x0]
    count = np.ones(n, np.int64)
    active = np.ones(n, bool)
    last = np.zeros((n, 2))
    for i in range(1, MAX_LENGTH + 1):
        xi = np.clip(np.rint(x), 0, w - 1).astype(np.int64)
        yi = np.clip(np.rint(y), 0, h - 1).astype(np.int64)
        r = ref[yi, xi]
        if i > MIN_LENGTH:
            closer = np.linalg.norm(r - canvas[yi, xi], axis=1) < np.linalg.norm(r - colour, axis=1)
            active &= ~closer
        gxi, gyi = gx[yi, xi], gy[yi, xi]
        mag = np.hypot(gxi, gyi)
        active &= mag > 1e-6
        if not active.any():
            break
        # the stroke follows the isophote: normal to the gradient, keeping its previous heading
        d = np.stack([-gyi, gxi], axis=1) / np.maximum(mag, 1e-12)[:, None]
        flip = (last * d).sum(axis=1) < 0
        d[flip] *= -1
        d = F_CURVE * d + (1 - F_CURVE) * last
        d /= np.maximum(np.linalg.norm(d, axis=1), 1e-12)[:, None]
        x = np.where(active, x + radius * d[:, 0], x)
        y = np.where(active, y + radius * d[:, 1], y)
        last = np.where(active[:, None], d, last)
        pts[active, i, 0], pts[active, i, 1] = x[active], y[active]
        count += active
    return pts, count, colour


def painterly_strokes(target: np.ndarray, seed: int = 0) -> list[tuple[np.ndarray, tuple[int, int, int], int]]:
    """Every stroke in painting order: (int32 points (L, 2), RGB colour, radius). Canvas state is simulated."""
    rng = np.random.default_rng(seed)
    src = target.astype(np.float64)
    canvas = np.full_like(src, 255.0)
    strokes: list[tuple[np.ndarray, tuple[int, int, int], int]] = []
    for layer, radius in enumerate(scaled_radii(target.shape)):
        ref = cv2.GaussianBlur(src, (0, 0), max(F_SIGMA * radius, 0.5))
        lum = ref @ np.array([0.299, 0.587, 0.114])
        gx = cv2.Sobel(lum, cv2.CV_64F, 1, 0, ksize=3)
        gy = cv2.Sobel(lum, cv2.CV_64F, 0, 1, ksize=3)
        error = np.linalg.norm(canvas - ref, axis=2)
        x0, y0 = _start_points(error, max(1, round(F_GRID * radius)), first=layer == 0)
        if len(x0) == 0:
            continue
        pts, count, colour = _trace(x0, y0, radius, ref, canvas, gx, gy)
        layer_canvas = np.ascontiguousarray(canvas.astype(np.uint8))
        for s in rng.permutation(len(x0)):
            line = np.rint(pts[s, : count[s]]).astype(np.int32)
            c = tuple(int(v) for v in np.clip(np.rint(colour[s]), 0, 255))
            _draw(layer_canvas, line, c, radius)
            strokes.append((line, c, radius))
        canvas = layer_canvas.astype(np.float64)
    return strokes


def _draw(canvas: np.ndarray, line: np.ndarray, colour: tuple[int, int, int], radius: int) -> None:
    if len(line) == 1:
        cv2.circle(canvas, (int(line[0, 0]), int(line[0, 1])), radius, colour, -1)
    else:
        cv2.polylines(canvas, [line], False, colour, thickness=2 * radius, lineType=cv2.LINE_8)


def strokes(target: np.ndarray, n_steps: int, seed: int = 0) -> list[np.ndarray]:
    """K frames of the stroke-by-stroke rendering, frame k after round(k·N/K) strokes."""
    plan = painterly_strokes(target, seed)
    canvas = np.full_like(target, 255)
    cuts = [round(k * len(plan) / n_steps) for k in range(1, n_steps + 1)]
    out = []
    done = 0
    for cut in cuts:
        for line, colour, radius in plan[done:cut]:
            _draw(canvas, line, colour, radius)
        done = max(done, cut)
        out.append(canvas.copy())
    return out
