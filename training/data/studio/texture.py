"""Cheap procedural noise and the primed-canvas weave texture."""

from __future__ import annotations

import math

import cv2
import numpy as np


def value_noise(
    rng: np.random.Generator, shape: tuple[int, int], cell_x: float, cell_y: float | None = None
) -> np.ndarray:
    """Smooth noise (float32, roughly unit variance) with feature size ``cell_x`` x ``cell_y`` pixels.

    A coarse random grid upsampled with bicubic interpolation: far cheaper than Perlin noise and
    good enough for paint, wall and wood texture.
    """
    h, w = shape
    cell_x = max(float(cell_x), 1.0)
    cell_y = cell_x if cell_y is None else max(float(cell_y), 1.0)
    gh = max(2, math.ceil(h / cell_y) + 2)
    gw = max(2, math.ceil(w / cell_x) + 2)
    grid = rng.standard_normal((gh, gw)).astype(np.float32)
    big = cv2.resize(grid, (int((gw - 1) * cell_x) + 1, int((gh - 1) * cell_y) + 1), interpolation=cv2.INTER_CUBIC)
    oy = (big.shape[0] - h) // 2
    ox = (big.shape[1] - w) // 2
    out = big[oy : oy + h, ox : ox + w]
    std = float(out.std()) or 1.0
    return np.ascontiguousarray((out - out.mean()) / std, dtype=np.float32)


def fractal_noise(rng: np.random.Generator, shape: tuple[int, int], cell: float, octaves: int = 3) -> np.ndarray:
    """Sum of ``octaves`` value-noise layers, each half the feature size and amplitude of the previous."""
    out = np.zeros(shape, np.float32)
    amp = 1.0
    for octave in range(octaves):
        out += amp * value_noise(rng, shape, max(cell / 2**octave, 1.5))
        amp *= 0.5
    return out / float(out.std() or 1.0)


def noise_1d(rng: np.random.Generator, n: int, cell: float, octaves: int = 3) -> np.ndarray:
    """Fractal 1-D noise of length ``n`` (unit variance), e.g. for ridge lines and shore lines."""
    return fractal_noise(rng, (1, n), cell, octaves)[0] if n > 1 else np.zeros(n, np.float32)


def weave(rng: np.random.Generator, shape: tuple[int, int], period: float = 3.2, amount: float = 0.025) -> np.ndarray:
    """Multiplicative canvas weave map around 1.0: crossing threads plus uneven thread thickness."""
    h, w = shape
    yy, xx = np.mgrid[0:h, 0:w].astype(np.float32)
    threads = 0.5 * (np.cos(2 * np.pi * xx / period) + np.cos(2 * np.pi * yy / period))
    slubs = value_noise(rng, shape, 6.0, 2.0) * 0.4 + value_noise(rng, shape, 2.0, 7.0) * 0.4
    fine = rng.standard_normal(shape).astype(np.float32) * 0.3
    return (1.0 + amount * (threads + slubs + fine)).astype(np.float32)


def smoothstep(edge0: float, edge1: float, x: np.ndarray) -> np.ndarray:
    """Hermite step from 0 at ``edge0`` to 1 at ``edge1``."""
    t = np.clip((x - edge0) / (edge1 - edge0), 0.0, 1.0)
    return t * t * (3 - 2 * t)
