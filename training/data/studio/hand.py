"""The painter's hand and brush: a shaded sprite, its motion over the video and compositing."""

from __future__ import annotations

import math
from dataclasses import dataclass

import cv2
import numpy as np

from .texture import value_noise

SKINS = [(236, 196, 170), (224, 172, 138), (198, 142, 104), (160, 110, 78), (112, 74, 52), (246, 212, 190)]
SLEEVES = [(40, 48, 70), (90, 90, 96), (180, 40, 40), (230, 230, 226), (60, 90, 60), (120, 80, 150), (20, 20, 24)]
HANDLES = [(170, 30, 30), (30, 30, 34), (196, 150, 100), (30, 60, 160), (220, 200, 60)]
ALPHA_MIN = 16  # sprite pixels below this alpha are dropped, so "hand pixel" is a crisp notion
SS = 2  # supersampling of the sprite drawing


@dataclass(frozen=True)
class Pose:
    """Where the brush tip is (image pixels) and the direction from the tip towards the elbow (radians)."""

    x: float
    y: float
    angle: float


class HandSprite:
    """RGBA image of a forearm, hand and brush drawn along +x, with the brush tip at ``anchor``.

    Units are the palm width ``palm`` in pixels; the forearm is 12 palms long so the arm always leaves
    the frame while the tip is over the canvas. The camera sees the back of the hand: the brush is held
    like a pen between thumb and index finger, its handle resting over the hand.
    """

    def __init__(self, rng: np.random.Generator, palm: float) -> None:
        self.palm = palm
        p = palm * SS
        x_min, x_max, y_half = -0.3, 13.0, 1.7
        w, h = int((x_max - x_min) * p), int(2 * y_half * p)
        self._origin = np.array([-x_min * p, y_half * p])
        skin = np.asarray(SKINS[int(rng.integers(len(SKINS)))], np.float32) + rng.normal(0, 6, 3).astype(np.float32)
        sleeve = np.asarray(SLEEVES[int(rng.integers(len(SLEEVES)))], np.float32)
        handle = np.asarray(HANDLES[int(rng.integers(len(HANDLES)))], np.float32)
        beta = math.radians(rng.uniform(10, 24)) * rng.choice([-1.0, 1.0])
        side = 1.0 if beta > 0 else -1.0  # the brush leans to +side; thumb on -side, curled fingers on +side
        b = np.array([math.cos(beta), math.sin(beta)])
        n = np.array([-b[1], b[0]]) * side  # across the brush, towards the curled fingers

        self._rgb = np.zeros((h, w, 3), np.float32)
        self._alpha = np.zeros((h, w), np.float32)
        self._skin = np.zeros((h, w), np.float32)
        self._p = p
        tip = np.zeros((h, w), np.float32)

        def sy(x: float, y: float) -> list[float]:  # local point with y mirrored by the grip side
            return [x, y * side]

        # forearm (slightly tapering to the wrist) and sleeve
        self._fill(
            [sy(1.9, -0.33), sy(4.0, -0.41), sy(13.0, -0.5), sy(13.0, 0.5), sy(4.0, 0.43), sy(1.9, 0.34)],
            skin,
            is_skin=True,
            outline=False,
        )
        s0 = rng.uniform(3.5, 7.0)
        self._fill([sy(s0, -0.55), sy(13.0, -0.64), sy(13.0, 0.64), sy(s0, 0.57)], sleeve)
        # back of the hand, wider at the knuckles
        self._fill(
            [
                sy(2.05, -0.33),
                sy(1.6, -0.47),
                sy(1.1, -0.5),
                sy(0.93, -0.32),
                sy(0.9, 0.0),
                sy(0.93, 0.3),
                sy(1.1, 0.46),
                sy(1.6, 0.42),
                sy(2.05, 0.33),
            ],
            skin,
            is_skin=True,
            outline=False,
        )
        # curled ring and little fingers, then the middle finger supporting the brush from below
        for k, (kx, ky, r) in enumerate(((1.02, 0.4, 0.095), (0.96, 0.22, 0.105))):
            joint = np.array(sy(kx - 0.24, ky + 0.08))
            self._finger([np.array(sy(kx, ky)), joint, np.array(sy(kx - 0.1 + 0.05 * k, ky + 0.2))], r, skin * 0.97)
        self._finger([np.array(sy(0.94, 0.04)), np.array(sy(0.64, 0.1)), 0.74 * b + 0.11 * n], 0.11, skin * 0.98)
        # the brush handle rests over the hand
        handle_end = 2.9 * b
        self._fill([0.6 * b + 0.05 * n, handle_end + 0.04 * n, handle_end - 0.04 * n, 0.6 * b - 0.05 * n], handle)
        # index finger along the brush, thumb pinching from the other side
        self._finger([np.array(sy(0.97, -0.2)), np.array(sy(0.62, -0.14)), 0.5 * b - 0.07 * n], 0.115, skin)
        self._finger([np.array(sy(1.65, -0.42)), np.array(sy(1.1, -0.5)), 0.72 * b - 0.1 * n], 0.13, skin)
        # ferrule and bristles (the bristles are recoloured with the current paint when composited)
        self._fill(
            [0.27 * b + 0.055 * n, 0.6 * b + 0.058 * n, 0.6 * b - 0.058 * n, 0.27 * b - 0.055 * n],
            np.array([190, 190, 196], np.float32),
        )
        bristles = np.array(
            [0.015 * n, 0.1 * b + 0.04 * n, 0.28 * b + 0.055 * n, 0.28 * b - 0.055 * n, 0.1 * b - 0.04 * n, -0.015 * n]
        )
        self._fill(bristles, np.array([200, 200, 200], np.float32), outline=False)
        cv2.fillPoly(tip, [self._poly(bristles)], 1.0, cv2.LINE_AA, 4)
        self._finish(rng, tip)

    def _poly(self, pts: np.ndarray | list) -> np.ndarray:
        return np.round((np.asarray(pts, np.float64) * self._p + self._origin) * 16).astype(np.int32)

    def _fill(self, pts: np.ndarray | list, color: np.ndarray, is_skin: bool = False, outline: bool = True) -> None:
        poly = [self._poly(pts)]
        cv2.fillPoly(self._rgb, poly, tuple(float(c) for c in color), cv2.LINE_AA, 4)
        cv2.fillPoly(self._alpha, poly, 1.0, cv2.LINE_AA, 4)
        cv2.fillPoly(self._skin, poly, 1.0 if is_skin else 0.0, cv2.LINE_AA, 4)
        if outline:  # a faint darker contour separates overlapping fingers
            cv2.polylines(
                self._rgb,
                poly,
                True,
                tuple(float(c) * 0.82 for c in color),
                max(1, int(0.02 * self._p)),
                cv2.LINE_AA,
                4,
            )

    def _finger(self, joints: list[np.ndarray], radius: float, color: np.ndarray) -> None:
        """A finger as a chain of rounded segments, slightly thinner towards the tip."""
        for k in range(len(joints) - 1):
            a, z = joints[k], joints[k + 1]
            r0, r1 = radius * (1 - 0.1 * k), radius * (0.9 - 0.1 * k)
            d = (z - a) / max(float(np.linalg.norm(z - a)), 1e-6)
            nn = np.array([-d[1], d[0]])
            t = np.linspace(-math.pi / 2, math.pi / 2, 9)
            cap_z = [z + r1 * (math.cos(u) * d + math.sin(u) * nn) for u in t]
            cap_a = [a + r0 * (-math.cos(u) * d - math.sin(u) * nn) for u in t]
            self._fill(np.array(cap_z + cap_a), color, is_skin=True)

    def _finish(self, rng: np.random.Generator, tip: np.ndarray) -> None:
        """Shade the drawing and downsample it to the premultiplied RGBA sprite."""
        p = self._p
        h, w = self._alpha.shape
        # rounded limbs are darker towards their silhouette; soft skin texture
        body = cv2.GaussianBlur(self._skin, (0, 0), 0.1 * p)
        shade = 0.74 + 0.26 * body
        shade *= 1 + 0.015 * value_noise(rng, (h, w), 0.3 * p)
        rgb = self._rgb * np.where(self._skin[..., None] > 0.5, shade[..., None], 1.0)
        small = (w // SS, h // SS)
        rgb_s = cv2.resize(np.clip(rgb, 0, 255), small, interpolation=cv2.INTER_AREA)
        alpha_s = cv2.resize(self._alpha, small, interpolation=cv2.INTER_AREA)
        # premultiplied alpha: compositing is then one multiply-add, and exact where alpha is 0
        self.rgba = np.dstack([rgb_s * alpha_s[..., None], alpha_s * 255]).round().astype(np.uint8)
        self.alpha_map = np.ascontiguousarray(self.rgba[..., 3])
        self.tip = (cv2.resize(tip, small, interpolation=cv2.INTER_AREA) * 255).round().astype(np.uint8)
        ys, xs = np.nonzero(self.tip)
        self._tip_box = np.array(
            [[xs.min(), ys.min()], [xs.max() + 1, ys.min()], [xs.max() + 1, ys.max() + 1], [xs.min(), ys.max() + 1]],
            np.float64,
        )
        self.anchor = self._origin / SS
        del self._rgb, self._alpha, self._skin

    def matrix(self, pose: Pose) -> np.ndarray:
        """2x3 affine transform sprite -> image placing the tip at the pose, the arm along ``pose.angle``."""
        c, s = math.cos(pose.angle), math.sin(pose.angle)
        ax, ay = self.anchor
        return np.array([[c, -s, pose.x - (c * ax - s * ay)], [s, c, pose.y - (s * ax + c * ay)]])

    def footprint(self, pose: Pose, size: tuple[int, int]) -> tuple[np.ndarray, tuple[int, int, int, int]] | None:
        """Warp matrix into the region of interest and the ROI (x0, y0, x1, y1) of the sprite in the image."""
        m = self.matrix(pose)
        h, w = self.rgba.shape[:2]
        pts = np.array([[0, 0, 1], [w, 0, 1], [w, h, 1], [0, h, 1]], np.float64) @ m.T
        x0, y0 = (int(max(0, math.floor(v))) for v in pts.min(axis=0))
        x1 = int(min(size[0], math.ceil(pts[:, 0].max()) + 1))
        y1 = int(min(size[1], math.ceil(pts[:, 1].max()) + 1))
        if x1 <= x0 or y1 <= y0:
            return None
        m_roi = m.copy()
        m_roi[:, 2] -= (x0, y0)
        return m_roi, (x0, y0, x1, y1)

    def _warp(
        self, pose: Pose, size: tuple[int, int]
    ) -> tuple[np.ndarray, np.ndarray, np.ndarray, tuple[int, int, int, int]] | None:
        """Premultiplied RGB, alpha (ALPHA_MIN applied) and matrix of the sprite warped into its image ROI."""
        fp = self.footprint(pose, size)
        if fp is None:
            return None
        m, (x0, y0, x1, y1) = fp
        rgba = cv2.warpAffine(self.rgba, m, (x1 - x0, y1 - y0), flags=cv2.INTER_LINEAR, borderMode=cv2.BORDER_CONSTANT)
        alpha = cv2.extractChannel(rgba, 3)
        _, keep = cv2.threshold(alpha, ALPHA_MIN - 1, 255, cv2.THRESH_BINARY)
        alpha = cv2.bitwise_and(alpha, keep)
        rgb = cv2.cvtColor(rgba, cv2.COLOR_RGBA2RGB)
        rgb = cv2.bitwise_and(rgb, rgb, mask=keep)
        return rgb, alpha, m, (x0, y0, x1, y1)

    def alpha(self, pose: Pose, size: tuple[int, int]) -> tuple[np.ndarray, tuple[int, int, int, int]] | None:
        """Alpha (uint8, 0 where the sprite does not cover) of the sprite in its image ROI (x0, y0, x1, y1).

        Warping the alpha plane alone gives exactly the alpha channel of the RGBA warp used for compositing.
        """
        fp = self.footprint(pose, size)
        if fp is None:
            return None
        m, (x0, y0, x1, y1) = fp
        alpha = cv2.warpAffine(
            self.alpha_map, m, (x1 - x0, y1 - y0), flags=cv2.INTER_LINEAR, borderMode=cv2.BORDER_CONSTANT
        )
        _, alpha = cv2.threshold(alpha, ALPHA_MIN - 1, 255, cv2.THRESH_TOZERO)
        return alpha, (x0, y0, x1, y1)

    def composite(self, frame: np.ndarray, pose: Pose, tip_color: np.ndarray) -> None:
        """Draw the hand into ``frame`` (uint8 RGB) in place; the bristles carry ``tip_color``."""
        res = self._warp(pose, (frame.shape[1], frame.shape[0]))
        if res is None:
            return
        rgb, alpha, m, (x0, y0, x1, y1) = res
        self._paint_tip(rgb, m, tip_color)
        inv = cv2.bitwise_not(alpha)
        roi = frame[y0:y1, x0:x1]
        roi[:] = cv2.add(rgb, cv2.multiply(roi, cv2.merge([inv, inv, inv]), scale=1 / 255))

    def _paint_tip(self, rgb: np.ndarray, m: np.ndarray, tip_color: np.ndarray) -> None:
        """Recolour the bristles (premultiplied ``rgb`` in the ROI) with the current paint, keeping their shading."""
        pts = np.hstack([self._tip_box, np.ones((4, 1))]) @ m.T
        h, w = rgb.shape[:2]
        tx0, ty0 = (max(0, math.floor(v)) for v in pts.min(axis=0))
        tx1, ty1 = min(w, math.ceil(pts[:, 0].max()) + 1), min(h, math.ceil(pts[:, 1].max()) + 1)
        if tx1 <= tx0 or ty1 <= ty0:
            return
        mt = m.copy()
        mt[:, 2] -= (tx0, ty0)
        tip = cv2.warpAffine(
            self.tip, mt, (tx1 - tx0, ty1 - ty0), flags=cv2.INTER_LINEAR, borderMode=cv2.BORDER_CONSTANT
        )
        sub = rgb[ty0:ty1, tx0:tx1].astype(np.float32)
        paint = np.asarray(tip_color, np.float32)[None, None, :] * (sub.mean(axis=2, keepdims=True) / 200.0)
        sub += (paint - sub) * (tip.astype(np.float32)[..., None] / 255)
        rgb[ty0:ty1, tx0:tx1] = np.clip(sub + 0.5, 0, 255).astype(np.uint8)
