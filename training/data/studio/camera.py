"""The filming camera: canvas placement in perspective, slow drift, exposure/white-balance drift and noise."""

from __future__ import annotations

import math

import cv2
import numpy as np


def _rotation(yaw: float, pitch: float, roll: float) -> np.ndarray:
    cy, sy = math.cos(yaw), math.sin(yaw)
    cp, sp = math.cos(pitch), math.sin(pitch)
    cr, sr = math.cos(roll), math.sin(roll)
    ry = np.array([[cy, 0, sy], [0, 1, 0], [-sy, 0, cy]])
    rx = np.array([[1, 0, 0], [0, cp, -sp], [0, sp, cp]])
    rz = np.array([[cr, -sr, 0], [sr, cr, 0], [0, 0, 1]])
    return rz @ rx @ ry


def polygon_area(pts: np.ndarray) -> float:
    """Area of a simple polygon given as (N, 2) points."""
    x, y = pts[:, 0], pts[:, 1]
    return 0.5 * abs(float(np.dot(x, np.roll(y, -1)) - np.dot(y, np.roll(x, -1))))


def place_canvas(rng: np.random.Generator, size: tuple[int, int], aspect: float) -> np.ndarray:
    """Corners (TL, TR, BR, BL) of the canvas in the frame at rest: a rotated rectangle seen by a pinhole camera.

    The canvas covers 35-70 % of the frame and is seen at a visible angle (yaw and pitch of several degrees).
    """
    fw, fh = size
    yaw = math.radians(rng.uniform(7, 24)) * rng.choice([-1.0, 1.0])
    pitch = math.radians(rng.uniform(4, 16)) * rng.choice([-1.0, 1.0])
    roll = math.radians(rng.uniform(-3, 3))
    w, h = aspect, 1.0
    plane = np.array([[-w / 2, -h / 2, 0], [w / 2, -h / 2, 0], [w / 2, h / 2, 0], [-w / 2, h / 2, 0]])
    cam = plane @ _rotation(yaw, pitch, roll).T + np.array([0, 0, rng.uniform(1.4, 2.2) * max(w, h)])
    proj = cam[:, :2] / cam[:, 2:3]
    proj -= proj.mean(axis=0)
    margin = 0.03 * min(fw, fh)
    target = rng.uniform(0.38, 0.66) * fw * fh
    scale = math.sqrt(target / polygon_area(proj))
    span = proj.max(axis=0) - proj.min(axis=0)
    scale = min(scale, (fw - 2 * margin) / span[0], (fh - 2 * margin) / span[1])
    quad = proj * scale
    lo = margin - quad.min(axis=0)
    hi = np.array([fw, fh]) - margin - quad.max(axis=0)
    pos = lo + (hi - lo) * rng.beta(2.5, 2.5, 2)  # mostly central, sometimes off-centre
    return quad + pos


def _smooth_signal(rng: np.random.Generator, t: np.ndarray, amplitude: float) -> np.ndarray:
    """Slow, smooth zero-mean wobble: a few low-frequency sinusoids (0.01-0.12 Hz)."""
    out = np.zeros_like(t)
    for _ in range(3):
        out += rng.uniform(0.3, 1.0) * np.sin(2 * np.pi * rng.uniform(0.01, 0.12) * t + rng.uniform(0, 2 * np.pi))
    return amplitude * out / 1.5


class CameraPath:
    """Per-frame similarity transform (world -> image) of a camera drifting slowly on its tripod."""

    def __init__(self, rng: np.random.Generator, n_frames: int, fps: int, size: tuple[int, int]) -> None:
        t = np.arange(n_frames) / fps
        self.tx = _smooth_signal(rng, t, rng.uniform(1.5, 5.0))
        self.ty = _smooth_signal(rng, t, rng.uniform(1.0, 4.0))
        self.rot = _smooth_signal(rng, t, math.radians(rng.uniform(0.05, 0.3)))
        self.scale = 1.0 + _smooth_signal(rng, t, rng.uniform(0.002, 0.006))
        self.center = np.array([size[0] / 2, size[1] / 2])

    def matrix(self, i: int) -> np.ndarray:
        """3x3 transform from world coordinates to the image of frame ``i``."""
        c, s = math.cos(self.rot[i]) * self.scale[i], math.sin(self.rot[i]) * self.scale[i]
        cx, cy = self.center
        return np.array(
            [
                [c, -s, cx + self.tx[i] - c * cx + s * cy],
                [s, c, cy + self.ty[i] - s * cx - c * cy],
                [0.0, 0.0, 1.0],
            ]
        )


def transform_points(m: np.ndarray, pts: np.ndarray) -> np.ndarray:
    """Apply a 3x3 homography to (N, 2) points."""
    p = np.hstack([pts, np.ones((len(pts), 1))]) @ m.T
    return p[:, :2] / p[:, 2:3]


class Exposure:
    """Slow auto-exposure and white-balance drift plus a fixed colour cast, applied with a lookup table."""

    def __init__(self, rng: np.random.Generator, n_frames: int, fps: int) -> None:
        t = np.arange(n_frames) / fps
        gain = 1.0 + _smooth_signal(rng, t, rng.uniform(0.01, 0.03))
        cast = rng.uniform(0.96, 1.04, 3)
        wb = np.stack([_smooth_signal(rng, t, rng.uniform(0.004, 0.012)) for _ in range(3)], axis=1)
        self.gains = gain[:, None] * cast[None, :] * (1.0 + wb - wb.mean(axis=1, keepdims=True))
        self._levels = np.arange(256, dtype=np.float64)

    def lut(self, i: int) -> np.ndarray:
        """(256, 1, 3) uint8 lookup table of frame ``i``."""
        lut = np.clip(self._levels[:, None] * self.gains[i][None, :] + 0.5, 0, 255).astype(np.uint8)
        return lut[:, None, :]

    def apply(self, frame: np.ndarray, i: int) -> np.ndarray:
        return cv2.LUT(frame, self.lut(i))


class SensorNoise:
    """Per-frame sensor noise, taken from a small pool of precomputed noise tiles at a random offset."""

    PAD = 24

    def __init__(self, rng: np.random.Generator, size: tuple[int, int], seed: int, tiles: int = 3) -> None:
        w, h = size
        sigma = rng.uniform(1.5, 3.0)
        self._seed = seed
        self._pos: list[np.ndarray] = []
        self._neg: list[np.ndarray] = []
        for _ in range(tiles):
            lum = rng.normal(0, sigma, (h + self.PAD, w + self.PAD, 1))
            chroma = rng.normal(0, sigma * 0.5, (h + self.PAD, w + self.PAD, 3))
            n = np.round(lum + chroma)
            self._pos.append(np.clip(n, 0, 255).astype(np.uint8))
            self._neg.append(np.clip(-n, 0, 255).astype(np.uint8))

    def apply(self, frame: np.ndarray, i: int) -> np.ndarray:
        """Add the noise of frame ``i`` (deterministic per frame, so frames can be rendered in any order)."""
        rng = np.random.default_rng([self._seed, i])
        k = int(rng.integers(len(self._pos)))
        dx, dy = (int(v) for v in rng.integers(0, self.PAD, 2))
        h, w = frame.shape[:2]
        out = cv2.add(frame, self._pos[k][dy : dy + h, dx : dx + w])
        return cv2.subtract(out, self._neg[k][dy : dy + h, dx : dx + w])
