"""Weight-free canvas detection: the canvas is the large convex quadrilateral bounded by four straight edges.

1. Colour edges: the Di Zenzo structure tensor of the blurred RGB frame gives, for any direction n, the
   colour contrast across n (so a blue sky against a grey wall of equal brightness still counts).
2. Candidate lines: LSD line segments (on luminance and on two chroma images) merged into long lines.
3. Candidate quads: every pair of near-horizontal lines with every pair of near-vertical lines. A side is
   scored by the fraction of its length with contrast across it (prefix sums along each line make this
   O(1) per side), a quad by its sides' support and its area: the canvas is the largest well-supported
   quad, while picture frames on the wall and parts of the painting bounded by a horizon are smaller.
4. Refinement: sub-pixel edge points are searched along the normals of each side and a line is fitted to
   them with RANSAC, so a hand or a brush over part of a side is ignored and an occluded corner is
   recovered as the intersection of its two sides.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import cv2
import numpy as np
from numpy.typing import ArrayLike

from training.data.canvas import CanvasDetection
from training.data.canvas.geometry import order_corners, quad_aspect

_COS_PARALLEL = math.cos(math.radians(2.5))  # segments within this angle may belong to one line
# A side must lie on an edge right up to its corners (the stretch of END_FRACTION of its length next to each,
# skipping CORNER_GAP_PX where the two edges blur together), and its line should not continue on an edge
# beyond them (the stretch of EXTENSION_FRACTION): the canvas's own sides stop at its corners.
END_FRACTION, CORNER_GAP_PX, EXTENSION_FRACTION = 0.06, 3.0, 0.12


@dataclass(frozen=True)
class _Line:
    """An infinite line {p : n . p = rho} with unit normal n; ``length`` = image segments supporting it."""

    normal: np.ndarray
    rho: float
    length: float

    @property
    def direction(self) -> np.ndarray:
        return np.array([-self.normal[1], self.normal[0]])


class _EdgeField:
    """Colour contrast of a frame across any direction, from the Di Zenzo structure tensor."""

    def __init__(self, rgb: np.ndarray, sigma: float) -> None:
        img = cv2.GaussianBlur(rgb.astype(np.float32), (0, 0), sigma)
        gx = cv2.Sobel(img, cv2.CV_32F, 1, 0, ksize=3, scale=1 / 8)
        gy = cv2.Sobel(img, cv2.CV_32F, 0, 1, ksize=3, scale=1 / 8)
        gxx, gyy, gxy = (gx * gx).sum(axis=2), (gy * gy).sum(axis=2), (gx * gy).sum(axis=2)
        lmax = (gxx + gyy) / 2 + np.sqrt(((gxx - gyy) / 2) ** 2 + gxy**2)
        self.tensor = np.dstack([gxx, gyy, gxy, lmax])  # sampled together in one remap
        self.height, self.width = rgb.shape[:2]

    def across(self, xs: np.ndarray, ys: np.ndarray, normal: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """Contrast across ``normal`` (levels per pixel) at points, and its share of the strongest contrast.

        The share is cos^2 of the angle between ``normal`` and the local edge normal: near 1 on an edge
        parallel to the line, low on texture and on edges crossing the line (arms, brush handles).
        """
        shape = np.shape(xs)
        map_x = np.ascontiguousarray(xs, dtype=np.float32).reshape(1, -1)
        map_y = np.ascontiguousarray(ys, dtype=np.float32).reshape(1, -1)
        t = cv2.remap(self.tensor, map_x, map_y, cv2.INTER_LINEAR, borderMode=cv2.BORDER_CONSTANT, borderValue=0)
        gxx, gyy, gxy, lmax = (t[0, :, k].reshape(shape) for k in range(4))
        nx, ny = float(normal[0]), float(normal[1])
        s2 = np.maximum(nx * nx * gxx + 2 * nx * ny * gxy + ny * ny * gyy, 0)
        return np.sqrt(s2), s2 / np.maximum(lmax, 1e-6)

    def inside(self, xs: np.ndarray, ys: np.ndarray, margin: float = 1.0) -> np.ndarray:
        return (xs >= margin) & (ys >= margin) & (xs <= self.width - 1 - margin) & (ys <= self.height - 1 - margin)


class ContourCanvasDetector:
    """Canvas quad from straight colour edges; no weights, about 0.1-0.2 s per 640x480 frame on one core.

    Thresholds (calibrated on studio frames of seeds 1000-1029, see ``benchmarks/canvas_accuracy.py``):
    ``min_score``, the least mean edge support of the four sides, and ``min_side``, the least support of
    any one side (a hand hides part of a side, rarely most of it; a quad pieced together from unrelated
    edges of a scene without a canvas has a side mostly off any edge; true canvases score 0.86-1.0).
    ``min_area``: least canvas area, fraction of the frame. ``max_aspect``: bound on the perspective-
    corrected aspect ratio (table edges and shelves make long thin quads; canvases are rarely over 3 : 1).
    ``edge_contrast``: levels per pixel of the blurred frame that make an edge rather than sensor noise or
    H.264 ringing. Frames are analysed with their long side at most ``work_size``.
    """

    name = "contour"

    def __init__(
        self,
        *,
        work_size: int = 640,
        min_area: float = 0.04,
        min_score: float = 0.75,
        min_side: float = 0.4,
        max_aspect: float = 3.0,
        edge_contrast: float = 3.0,
        max_lines: int = 24,
        candidates: int = 6,
    ) -> None:
        self.work_size = work_size
        self.min_area = min_area
        self.min_score = min_score
        self.min_side = min_side
        self.max_aspect = max_aspect
        self.edge_contrast = edge_contrast
        self.max_lines = max_lines
        self.candidates = candidates

    def detect(self, image: np.ndarray) -> CanvasDetection | None:
        """The canvas quad in ``image`` (RGB uint8), or None when no quad has enough edge support."""
        rgb = _check_image(image)
        scale = min(1.0, self.work_size / max(rgb.shape[:2]))
        work = rgb if scale == 1.0 else cv2.resize(rgb, None, fx=scale, fy=scale, interpolation=cv2.INTER_AREA)
        field = _EdgeField(work, sigma=1.0)
        lines = _merge_segments(_segments(work), min_length=0.06 * min(work.shape[:2]))
        best: tuple[float, np.ndarray] | None = None
        for quad in self._candidate_quads(field, lines):
            corners = quad
            for radius in (6.0, 2.5):
                corners = _refine(field, corners, radius, self.edge_contrast)
                if corners is None:
                    break
            if corners is None or not _plausible(corners, work.shape, self.min_area, self.max_aspect):
                continue
            sides, ends, beyond = _quad_support(field, corners, self.edge_contrast)
            support = float(sides.mean())
            rank = float(_rank(support, ends, beyond, _area(corners) / (work.shape[0] * work.shape[1])))
            if support < self.min_score or sides.min() < self.min_side:
                continue
            if best is None or rank > best[0]:
                best = (rank, corners, support)
        if best is None:
            return None
        corners = (best[1] + 0.5) / scale - 0.5  # work pixel centres -> source pixel centres
        return CanvasDetection(corners=order_corners(corners), score=float(min(1.0, best[2])))

    def _candidate_quads(self, field: _EdgeField, lines: list[_Line]) -> list[np.ndarray]:
        horizontal = [ln for ln in lines if abs(ln.normal[1]) >= abs(ln.normal[0])]
        vertical = [ln for ln in lines if abs(ln.normal[1]) < abs(ln.normal[0])]
        horizontal = sorted(horizontal, key=lambda ln: -ln.length)[: self.max_lines]
        vertical = sorted(vertical, key=lambda ln: -ln.length)[: self.max_lines]
        if len(horizontal) < 2 or len(vertical) < 2:
            return []
        return _rank_quads(field, horizontal, vertical, self.edge_contrast, self.min_area, self.candidates)


def _check_image(image: np.ndarray) -> np.ndarray:
    arr = np.asarray(image)
    if arr.ndim != 3 or arr.shape[2] != 3 or arr.dtype != np.uint8:
        raise ValueError(f"image must be RGB uint8 of shape (H, W, 3); got {arr.dtype} {arr.shape}")
    if min(arr.shape[:2]) < 32:
        raise ValueError(f"image is too small to find a canvas in ({arr.shape[1]}x{arr.shape[0]})")
    return np.ascontiguousarray(arr)


# ----------------------------------------------------------------------------------------- lines


def _segments(rgb: np.ndarray) -> np.ndarray:
    """(N, 4) line segments x1, y1, x2, y2 from LSD on luminance and on the two CIELAB chroma axes.

    LSD runs at half resolution: the long edges sought survive it, it is four times faster and H.264
    blocking and canvas weave produce fewer spurious segments; refinement restores full precision.
    """
    small = cv2.resize(rgb, None, fx=0.5, fy=0.5, interpolation=cv2.INTER_AREA)
    lab = cv2.cvtColor(small, cv2.COLOR_RGB2LAB)
    lsd = cv2.createLineSegmentDetector(cv2.LSD_REFINE_STD, scale=1.0)
    found = []
    for k, channel in enumerate(cv2.split(lab)):
        # chroma axes span a narrow range: stretch them so LSD's fixed gradient threshold applies
        img = channel if k == 0 else cv2.convertScaleAbs(channel, alpha=3.0, beta=-3.0 * 128 + 128)
        segs = lsd.detect(img)[0]
        if segs is not None:
            found.append(segs.reshape(-1, 4))
    if not found:
        return np.zeros((0, 4), np.float32)
    return (np.concatenate(found) + 0.5) * 2 - 0.5


def _merge_segments(segments: np.ndarray, min_length: float, dist_tol: float = 2.0) -> list[_Line]:
    """Greedy grouping of collinear segments (longest first) into lines fitted by weighted least squares."""
    seg = segments.astype(np.float64)
    lengths = np.hypot(seg[:, 2] - seg[:, 0], seg[:, 3] - seg[:, 1])
    keep = lengths >= max(10.0, 0.25 * min_length)
    seg, lengths = seg[keep], lengths[keep]
    order = np.argsort(-lengths)
    normals = np.zeros((0, 2))
    rhos = np.zeros(0)
    moments: list[np.ndarray] = []  # per line: sum w, w x, w y, w xx, w xy, w yy
    totals: list[float] = []
    for i in order:
        p1, p2, length = seg[i, :2], seg[i, 2:], lengths[i]
        d = (p2 - p1) / length
        n = np.array([-d[1], d[0]])
        if len(rhos):
            aligned = np.abs(normals @ n) >= _COS_PARALLEL
            close = (np.abs(normals @ p1 - rhos) <= dist_tol) & (np.abs(normals @ p2 - rhos) <= dist_tol)
            match = np.flatnonzero(aligned & close)
        else:
            match = np.zeros(0, int)
        # Simpson weights on the endpoints and the midpoint: exact moments of a uniform segment.
        pts = np.array([p1, (p1 + p2) / 2, p2])
        w = np.array([length / 6, 2 * length / 3, length / 6])
        m = np.array(
            [w.sum(), w @ pts[:, 0], w @ pts[:, 1], w @ pts[:, 0] ** 2, w @ (pts[:, 0] * pts[:, 1]), w @ pts[:, 1] ** 2]
        )
        if len(match):
            j = int(match[np.argmax([totals[k] for k in match])])
            moments[j] = moments[j] + m
            totals[j] += length
            normals[j], rhos[j] = _fit_from_moments(moments[j])
        else:
            moments.append(m)
            totals.append(length)
            normals = np.vstack([normals, n])
            rhos = np.append(rhos, n @ p1)
    return [_Line(normals[k], float(rhos[k]), totals[k]) for k in range(len(totals)) if totals[k] >= min_length]


def _fit_from_moments(m: np.ndarray) -> tuple[np.ndarray, float]:
    w, sx, sy, sxx, sxy, syy = m
    mx, my = sx / w, sy / w
    cov = np.array([[sxx / w - mx * mx, sxy / w - mx * my], [sxy / w - mx * my, syy / w - my * my]])
    _, vecs = np.linalg.eigh(cov)
    n = vecs[:, 0]  # smallest spread: the normal
    return n, float(n @ np.array([mx, my]))


# ----------------------------------------------------------------------------------------- quads


class _Profiles:
    """Edge support sampled along each line, with prefix sums for O(1) support of any stretch of a line."""

    STEP = 1.5

    def __init__(self, field: _EdgeField, lines: list[_Line], contrast: float, orient_along: int) -> None:
        # Directions point to +x for near-horizontal lines and +y for near-vertical ones (t grows rightwards/down).
        self.dirs = np.array([ln.direction * (1 if ln.direction[orient_along] >= 0 else -1) for ln in lines])
        self.normals = np.array([ln.normal for ln in lines])
        self.origins = np.array([ln.normal * ln.rho for ln in lines])
        self.t0 = np.zeros(len(lines))
        self.count = np.zeros(len(lines), int)
        self.offset = np.zeros(len(lines), int)
        cums = []
        pos = 0
        for k, ln in enumerate(lines):
            t_lo, t_hi = _clip_to_frame(self.origins[k], self.dirs[k], field.width, field.height)
            ts = np.arange(t_lo, t_hi, self.STEP) if t_hi > t_lo else np.zeros(0)
            pts = self.origins[k] + ts[:, None] * self.dirs[k]
            supported = np.zeros(len(ts), bool)
            if len(ts):
                offsets = np.arange(-2.0, 2.01, 1.0)
                xs = pts[:, 0:1] + offsets[None, :] * ln.normal[0]
                ys = pts[:, 1:2] + offsets[None, :] * ln.normal[1]
                strength, share = field.across(xs, ys, ln.normal)
                best = np.argmax(strength, axis=1)
                rows = np.arange(len(ts))
                supported = (strength[rows, best] >= contrast) & (share[rows, best] >= 0.8)
            cums.append(np.concatenate([[0], np.cumsum(supported)]))
            self.t0[k], self.count[k], self.offset[k] = t_lo, len(ts), pos
            pos += len(ts) + 1
        self.cum = np.concatenate(cums) if cums else np.zeros(1)

    def support(self, line: np.ndarray, t_a: np.ndarray, t_b: np.ndarray) -> np.ndarray:
        """Fraction of [t_a, t_b] on ``line`` with edge support; stretches mostly outside the frame get 0."""
        t0, count, offset = self.t0[line], self.count[line], self.offset[line]
        ia = np.clip(np.ceil((t_a - t0) / self.STEP), 0, count).astype(int)
        ib = np.clip(np.floor((t_b - t0) / self.STEP) + 1, 0, count).astype(int)
        inside = np.maximum(ib - ia, 0)
        total = np.maximum((t_b - t_a) / self.STEP, 1)
        hits = self.cum[offset + np.maximum(ib, ia)] - self.cum[offset + ia]
        frac = hits / np.maximum(inside, 1)
        return np.where(inside >= 0.6 * total, frac, 0.0)


def _clip_to_frame(origin: np.ndarray, direction: np.ndarray, width: int, height: int) -> tuple[float, float]:
    """Parameter range of the line origin + t * direction inside the frame (empty when it misses it)."""
    lo, hi = -math.inf, math.inf
    for k, limit in ((0, width - 1.0), (1, height - 1.0)):
        if abs(direction[k]) < 1e-9:
            if not 0 <= origin[k] <= limit:
                return 0.0, 0.0
            continue
        a, b = (0 - origin[k]) / direction[k], (limit - origin[k]) / direction[k]
        lo, hi = max(lo, min(a, b)), min(hi, max(a, b))
    return (lo, hi) if hi > lo else (0.0, 0.0)


def _rank_quads(
    field: _EdgeField, horizontal: list[_Line], vertical: list[_Line], contrast: float, min_area: float, keep: int
) -> list[np.ndarray]:
    """The ``keep`` best quads formed by two near-horizontal and two near-vertical lines."""
    ph = _Profiles(field, horizontal, contrast, orient_along=0)
    pv = _Profiles(field, vertical, contrast, orient_along=1)
    # Intersections of every horizontal line i with every vertical line j.
    a = np.stack(
        [np.repeat(ph.normals[:, None, :], len(vertical), 1), np.repeat(pv.normals[None, :, :], len(horizontal), 0)],
        axis=2,
    )
    rhs = np.stack(
        np.broadcast_arrays(
            np.array([ln.rho for ln in horizontal])[:, None], np.array([ln.rho for ln in vertical])[None, :]
        ),
        axis=-1,
    )
    det = np.linalg.det(a)
    ok = np.abs(det) > 0.2  # lines meet at more than ~12 degrees
    a[~ok] = np.eye(2)
    points = np.linalg.solve(a, rhs[..., None])[..., 0]  # (nH, nV, 2)
    th = np.einsum("ijk,ik->ij", points - ph.origins[:, None, :], ph.dirs)  # position along horizontal line i
    tv = np.einsum("ijk,jk->ij", points - pv.origins[None, :, :], pv.dirs)  # position along vertical line j

    hi, hj = np.triu_indices(len(horizontal), 1)
    vi, vj = np.triu_indices(len(vertical), 1)
    top, bottom = hi[:, None], hj[:, None]
    left, right = vi[None, :], vj[None, :]
    # Make "top" the upper line of each pair (by the vertical position of its crossing with "left").
    swap = points[top, left, 1] > points[bottom, left, 1]
    top, bottom = np.where(swap, bottom, top), np.where(swap, top, bottom)
    swap = points[top, left, 0] > points[top, right, 0]
    left, right = np.where(swap, right, left), np.where(swap, left, right)

    tl, tr, br, bl = points[top, left], points[top, right], points[bottom, right], points[bottom, left]
    valid = ok[top, left] & ok[top, right] & ok[bottom, right] & ok[bottom, left]
    corners = np.stack([tl, tr, br, bl], axis=-2)  # (..., 4, 2)
    valid &= _convex_clockwise(corners)
    h, w = field.height, field.width
    pad = 0.05 * max(w, h)
    valid &= ((corners[..., 0] > -pad) & (corners[..., 0] < w - 1 + pad)).all(-1)
    valid &= ((corners[..., 1] > -pad) & (corners[..., 1] < h - 1 + pad)).all(-1)
    area = _areas(corners) / (w * h)
    valid &= area >= min_area
    sides = np.stack(
        [
            ph.support(top, th[top, left], th[top, right]),
            pv.support(right, tv[top, right], tv[bottom, right]),
            ph.support(bottom, th[bottom, left], th[bottom, right]),
            pv.support(left, tv[top, left], tv[bottom, left]),
        ]
    )
    valid &= sides.min(axis=0) >= 0.25
    ends = np.stack(
        [
            *_corner_support(ph, top, th[top, left], th[top, right]),
            *_corner_support(pv, right, tv[top, right], tv[bottom, right]),
            *_corner_support(ph, bottom, th[bottom, left], th[bottom, right]),
            *_corner_support(pv, left, tv[top, left], tv[bottom, left]),
        ]
    )
    rank = np.where(valid, _rank(sides.mean(axis=0), ends[0::2].mean(axis=0), ends[1::2].mean(axis=0), area), -1.0)
    flat = np.argsort(-rank, axis=None)[:keep]
    return [corners.reshape(-1, 4, 2)[k] for k in flat if rank.flat[k] > 0]


def _corner_support(profiles: _Profiles, line: np.ndarray, t_a: np.ndarray, t_b: np.ndarray) -> list[np.ndarray]:
    """Support next to each end of a side (inside it) and on its line beyond the end: end, beyond, end, beyond."""
    length = t_b - t_a
    end, gap, ext = END_FRACTION * length, CORNER_GAP_PX, EXTENSION_FRACTION * length
    return [
        profiles.support(line, t_a + gap, t_a + gap + end),
        profiles.support(line, t_a - ext, t_a - gap),
        profiles.support(line, t_b - gap - end, t_b - gap),
        profiles.support(line, t_b + gap, t_b + ext),
    ]


def _rank(side_support: ArrayLike, end_support: ArrayLike, beyond_support: ArrayLike, area: ArrayLike) -> np.ndarray:
    """Preference among candidate quads: sides on edges up to their corners and stopping there, then size.

    The end and beyond terms reject quads closed by a line parallel to a canvas side: an edge just outside
    the canvas (table edge, easel ledge, wood grain), where the canvas's sides stop short of the corners,
    or a horizon inside the painting, where they run on past them. Weights fitted on studio frames.
    """
    return (
        np.asarray(side_support)
        * np.sqrt(np.clip(np.asarray(area), 0, None))
        * (0.3 + 0.7 * np.asarray(end_support))
        * (1 - 0.5 * np.asarray(beyond_support))
    )


def _convex_clockwise(corners: np.ndarray) -> np.ndarray:
    """True where TL, TR, BR, BL run clockwise on screen (y down) with every interior angle in 40-140 degrees."""
    edges = np.roll(corners, -1, axis=-2) - corners
    nxt = np.roll(edges, -1, axis=-2)
    cross = edges[..., 0] * nxt[..., 1] - edges[..., 1] * nxt[..., 0]
    norms = np.linalg.norm(edges, axis=-1) * np.linalg.norm(nxt, axis=-1)
    sin = cross / np.maximum(norms, 1e-9)
    return (sin > math.sin(math.radians(40))).all(axis=-1) & (np.linalg.norm(edges, axis=-1) > 8).all(axis=-1)


def _areas(corners: np.ndarray) -> np.ndarray:
    x, y = corners[..., 0], corners[..., 1]
    return 0.5 * np.abs((x * np.roll(y, -1, -1)).sum(-1) - (y * np.roll(x, -1, -1)).sum(-1))


def _area(corners: np.ndarray) -> float:
    return float(_areas(corners))


def _plausible(corners: np.ndarray, shape: tuple[int, ...], min_area: float, max_aspect: float) -> bool:
    """In the frame (up to 5 %), convex, large enough, and a rectangle no longer than ``max_aspect`` : 1."""
    h, w = shape[:2]
    pad = 0.05 * max(w, h)
    inside = (corners[:, 0] > -pad).all() and (corners[:, 0] < w - 1 + pad).all()
    inside = inside and (corners[:, 1] > -pad).all() and (corners[:, 1] < h - 1 + pad).all()
    if not (inside and _convex_clockwise(corners) and _area(corners) >= min_area * w * h):
        return False
    aspect = quad_aspect(corners)
    return bool(1 / max_aspect <= aspect <= max_aspect)


# ------------------------------------------------------------------------------------ refinement


def _side_samples(a: np.ndarray, b: np.ndarray, step: float, trim: float) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Points along a -> b (corner neighbourhoods trimmed), the unit direction and the unit normal."""
    length = float(np.linalg.norm(b - a))
    d = (b - a) / max(length, 1e-9)
    n = np.array([-d[1], d[0]])
    ts = np.arange(trim * length, (1 - trim) * length, step)
    return a + ts[:, None] * d, d, n


def _refine(field: _EdgeField, corners: np.ndarray, radius: float, contrast: float) -> np.ndarray | None:
    """Corners re-estimated from sub-pixel edge points near each side; None if a side has lost its edge."""
    rng = np.random.default_rng(0)  # RANSAC sampling, seeded so detections are reproducible
    lines = []
    for k in range(4):
        a, b = corners[k], corners[(k + 1) % 4]
        pts, _, n = _side_samples(a, b, step=1.5, trim=0.04)
        if len(pts) < 10:
            return None
        offsets = np.arange(-radius, radius + 1e-6, 0.5)
        xs = pts[:, 0:1] + offsets[None, :] * n[0]
        ys = pts[:, 1:2] + offsets[None, :] * n[1]
        strength, share = field.across(xs, ys, n)
        strength = np.where(share >= 0.7, strength, 0.0)
        best = np.argmax(strength, axis=1)
        rows = np.arange(len(pts))
        peak = strength[rows, best]
        good = (
            (peak >= contrast) & (best > 0) & (best < len(offsets) - 1) & field.inside(xs[rows, best], ys[rows, best])
        )
        if good.sum() < max(8, 0.15 * len(pts)):
            lines.append(_line_through(a, b))
            continue
        r, c = rows[good], best[good]
        y0, y1, y2 = strength[r, c - 1], strength[r, c], strength[r, c + 1]
        denom = y0 - 2 * y1 + y2
        shift = np.where(np.abs(denom) > 1e-9, 0.5 * (y0 - y2) / np.where(np.abs(denom) > 1e-9, denom, 1), 0.0)
        off = offsets[c] + 0.5 * np.clip(shift, -1, 1)
        edge_pts = pts[r] + off[:, None] * n
        fitted = _ransac_line(edge_pts, peak[good], rng, tolerance=1.0)
        lines.append(fitted if fitted is not None else _line_through(a, b))
    out = np.array([_intersect(lines[(k - 1) % 4], lines[k]) for k in range(4)])
    if not np.isfinite(out).all():
        return None
    return out


def _line_through(a: np.ndarray, b: np.ndarray) -> tuple[np.ndarray, float]:
    d = (b - a) / max(float(np.linalg.norm(b - a)), 1e-9)
    n = np.array([-d[1], d[0]])
    return n, float(n @ a)


def _ransac_line(
    pts: np.ndarray, weights: np.ndarray, rng: np.random.Generator, tolerance: float, iterations: int = 60
) -> tuple[np.ndarray, float] | None:
    """Line with the most edge strength within ``tolerance`` px, refitted by weighted least squares."""
    count = len(pts)
    pairs = rng.integers(0, count, size=(iterations, 2))
    pairs = pairs[pairs[:, 0] != pairs[:, 1]]
    if not len(pairs):
        return None
    d = pts[pairs[:, 1]] - pts[pairs[:, 0]]
    norms = np.linalg.norm(d, axis=1)
    keep = norms > 4.0
    if not keep.any():
        return None
    d, p0 = d[keep] / norms[keep, None], pts[pairs[keep, 0]]
    normals = np.stack([-d[:, 1], d[:, 0]], axis=1)
    dist = np.abs(pts @ normals.T - (normals * p0).sum(1)[None, :])  # (count, hypotheses)
    scores = (weights[:, None] * (dist <= tolerance)).sum(axis=0)
    best = int(np.argmax(scores))
    inliers = dist[:, best] <= tolerance
    for _ in range(2):  # refit on inliers, then re-select inliers around the refit line
        if inliers.sum() < 5:
            return None
        w = weights[inliers]
        p = pts[inliers]
        mean = (w[:, None] * p).sum(0) / w.sum()
        cov = ((p - mean).T * w) @ (p - mean) / w.sum()
        _, vecs = np.linalg.eigh(cov)
        n = vecs[:, 0]
        rho = float(n @ mean)
        inliers = np.abs(pts @ n - rho) <= tolerance
    return n, rho


def _intersect(l1: tuple[np.ndarray, float], l2: tuple[np.ndarray, float]) -> np.ndarray:
    a = np.array([l1[0], l2[0]])
    if abs(np.linalg.det(a)) < 1e-6:
        return np.array([np.nan, np.nan])
    return np.linalg.solve(a, np.array([l1[1], l2[1]]))


def _quad_support(field: _EdgeField, corners: np.ndarray, contrast: float) -> tuple[np.ndarray, float, float]:
    """Edge support of a quad: per side, the fraction of its in-frame length lying on an edge parallel to it;
    the mean of the same next to the corners; and on the side lines beyond the corners."""
    sides, ends, beyond = [], [], []
    for k in range(4):
        a, b = corners[k], corners[(k + 1) % 4]
        length = float(np.linalg.norm(b - a))
        d = (b - a) / max(length, 1e-9)
        n = np.array([-d[1], d[0]])
        ts = np.arange(-EXTENSION_FRACTION * length, (1 + EXTENSION_FRACTION) * length, 1.0)
        pts = a + ts[:, None] * d
        offsets = np.array([-1.0, 0.0, 1.0])
        strength, share = field.across(pts[:, 0:1] + offsets * n[0], pts[:, 1:2] + offsets * n[1], n)
        ok = ((strength >= contrast) & (share >= 0.8)).any(axis=1)
        inside = field.inside(pts[:, 0], pts[:, 1])

        def frac(lo: float, hi: float, default: float, ok=ok, inside=inside, ts=ts) -> float:
            m = inside & (ts >= lo) & (ts <= hi)
            return float(ok[m].mean()) if m.sum() >= 0.5 * max(hi - lo, 1) else default

        sides.append(frac(0, length, 0.0))
        end, gap, ext = END_FRACTION * length, CORNER_GAP_PX, EXTENSION_FRACTION * length
        ends += [frac(gap, gap + end, 0.5), frac(length - gap - end, length - gap, 0.5)]
        beyond += [frac(-ext, -gap, 0.0), frac(length + gap, length + ext, 0.0)]
    return np.array(sides), float(np.mean(ends)), float(np.mean(beyond))
