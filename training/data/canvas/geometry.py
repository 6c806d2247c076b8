"""Canvas quadrilateral geometry: corner order, aspect-correct rectified size, homography warp, corner error.

Coordinates are OpenCV pixel coordinates (the centre of pixel (col, row) is at (col, row)); a quad's corners
mark the canvas's outer boundary.
"""

from __future__ import annotations

import math

import cv2
import numpy as np

# Directions of TL, TR, BR, BL from the quad's centre in image coordinates (y down): clockwise on screen.
_CORNER_ANGLES = np.array([-3 * math.pi / 4, -math.pi / 4, math.pi / 4, 3 * math.pi / 4])


def _as_points(points: np.ndarray, name: str = "corners") -> np.ndarray:
    pts = np.asarray(points, dtype=np.float64)
    if pts.shape != (4, 2) or not np.isfinite(pts).all():
        raise ValueError(f"{name} must be 4 finite (x, y) points, shape (4, 2); got shape {pts.shape}")
    return pts


def order_corners(points: np.ndarray) -> np.ndarray:
    """Any 4 points -> (4, 2) float32 in the order TL, TR, BR, BL (clockwise on screen from top-left).

    Points are sorted by angle around their mean (a simple polygon even for a non-convex set); of the four
    cyclic rotations, the one whose directions from the centre best match TL, TR, BR, BL is chosen, so a
    quad rolled by up to about 45 degrees keeps its corner names.
    """
    pts = _as_points(points, "points")
    rel = pts - pts.mean(axis=0)
    angles = np.arctan2(rel[:, 1], rel[:, 0])
    order = np.argsort(angles, kind="stable")
    best, best_cost = 0, math.inf
    for shift in range(4):
        diff = angles[np.roll(order, -shift)] - _CORNER_ANGLES
        cost = float(np.sum(1 - np.cos(diff)))
        if cost < best_cost - 1e-12:
            best, best_cost = shift, cost
    return pts[np.roll(order, -best)].astype(np.float32)


def diagonal_intersection(corners: np.ndarray) -> np.ndarray:
    """Where TL-BR crosses TR-BL: the image of the canvas centre under any perspective."""
    tl, tr, br, bl = (np.append(p, 1.0) for p in _as_points(corners))
    point = np.cross(np.cross(tl, br), np.cross(tr, bl))
    if abs(point[2]) < 1e-12:
        return _as_points(corners).mean(axis=0)
    return point[:2] / point[2]


def quad_aspect(corners: np.ndarray, principal_point: tuple[float, float] | None = None) -> float:
    """Width / height of the real rectangle seen as this quad (TL, TR, BR, BL).

    A pinhole camera with square pixels maps the rectangle [0, a] x [0, b] by H = K [r1 r2 t] diag(a, b, 1).
    With the principal point c known, K^-1 h1 and K^-1 h2 must be orthogonal, which gives the focal length,
    and then a / b = |K^-1 h1| / |K^-1 h2| (Zhang & He, "Whiteboard scanning and image enhancement", 2007).
    The principal point defaults to the image of the canvas centre (a camera aimed at the canvas, as painting
    videos are filmed). When the quad is too close to a parallelogram for the focal length to be measurable,
    or the solution is not a real camera, the mean of opposite side lengths is used instead.
    """
    quad = _as_points(corners)
    fallback = _side_ratio(quad)
    c = np.asarray(principal_point if principal_point is not None else diagonal_intersection(quad), dtype=np.float64)
    unit = np.array([[0, 0], [1, 0], [1, 1], [0, 1]], dtype=np.float32)
    h = cv2.getPerspectiveTransform(unit, quad.astype(np.float32)).astype(np.float64)
    h /= h[2, 2]
    scale = float(np.linalg.norm(quad[2] - quad[0]) + np.linalg.norm(quad[3] - quad[1])) / 2
    u1, v1, w1 = h[0, 0] - c[0] * h[2, 0], h[1, 0] - c[1] * h[2, 0], h[2, 0]
    u2, v2, w2 = h[0, 1] - c[0] * h[2, 1], h[1, 1] - c[1] * h[2, 1], h[2, 1]
    # Perspective too weak to measure the focal length: both vanishing points far outside the quad.
    if abs(w1 * w2) * scale**2 < 1e-4 * (math.hypot(u1, v1) * math.hypot(u2, v2)):
        return fallback
    f2 = -(u1 * u2 + v1 * v2) / (w1 * w2)
    if not (0.04 * scale**2 < f2 < 1e4 * scale**2):  # outside any real lens (~0.2 to 100 canvas diagonals)
        return fallback
    return math.sqrt(((u1 * u1 + v1 * v1) / f2 + w1 * w1) / ((u2 * u2 + v2 * v2) / f2 + w2 * w2))


def _side_ratio(quad: np.ndarray) -> float:
    top, bottom = np.linalg.norm(quad[1] - quad[0]), np.linalg.norm(quad[2] - quad[3])
    left, right = np.linalg.norm(quad[3] - quad[0]), np.linalg.norm(quad[2] - quad[1])
    if left + right <= 0:
        raise ValueError("corners describe a degenerate quad (zero height)")
    return float((top + bottom) / (left + right))


def rectified_size(
    corners: np.ndarray, long_side: int = 512, *, principal_point: tuple[float, float] | None = None
) -> tuple[int, int]:
    """(width, height) of the rectified canvas: aspect from ``quad_aspect``, long side = ``long_side``, both even."""
    if long_side < 2 or long_side % 2:
        raise ValueError(f"long_side must be an even number >= 2, got {long_side}")
    aspect = quad_aspect(corners, principal_point)
    if not math.isfinite(aspect) or aspect <= 0:
        raise ValueError("corners describe a degenerate quad; cannot estimate its aspect ratio")
    short = max(2, 2 * round(long_side / max(aspect, 1 / aspect) / 2))
    return (long_side, short) if aspect >= 1 else (short, long_side)


def canvas_to_image(corners: np.ndarray, size: tuple[int, int]) -> np.ndarray:
    """3x3 homography from rectified-canvas pixel coordinates (w x h pixels) to image coordinates."""
    w, h = size
    # Pixel (u, v) of the rectified canvas covers [u, u+1] x [v, v+1] of the canvas, centred at u + 0.5.
    edges = np.array([[0, 0], [w, 0], [w, h], [0, h]], dtype=np.float32)
    to_image = cv2.getPerspectiveTransform(edges, _as_points(corners).astype(np.float32)).astype(np.float64)
    return to_image @ np.array([[1, 0, 0.5], [0, 1, 0.5], [0, 0, 1]])


def enlarge_quad(corners: np.ndarray, margin: float) -> np.ndarray:
    """The quad (TL, TR, BR, BL) of the canvas plane that extends the canvas by ``margin`` of its width and
    height on every side: its rectification shows the canvas in the middle and what surrounds it."""
    if margin < 0:
        raise ValueError(f"margin must be >= 0, got {margin}")
    unit = np.array([[0, 0], [1, 0], [1, 1], [0, 1]], dtype=np.float32)
    h = cv2.getPerspectiveTransform(unit, _as_points(corners).astype(np.float32))
    outer = np.array([[[-margin, -margin], [1 + margin, -margin], [1 + margin, 1 + margin], [-margin, 1 + margin]]])
    return cv2.perspectiveTransform(outer.astype(np.float64), h)[0]


def rectify(
    image: np.ndarray, corners: np.ndarray, size: tuple[int, int], *, interpolation: int = cv2.INTER_LINEAR
) -> np.ndarray:
    """Warp the quad ``corners`` (TL, TR, BR, BL) of ``image`` to a fronto-parallel (w, h) = ``size`` image.

    Parts of the quad outside ``image`` repeat its border pixels.
    """
    w, h = (int(v) for v in size)
    if w < 1 or h < 1:
        raise ValueError(f"size must be a positive (width, height), got {size}")
    to_image = canvas_to_image(corners, (w, h))
    # Strong downscaling aliases with a point-sampling warp: pre-blur the source by the local scale.
    pixel_scale = math.sqrt(_area(_as_points(corners)) / (w * h))
    src = image
    if pixel_scale > 1.5:
        src = cv2.GaussianBlur(image, (0, 0), 0.5 * math.sqrt(pixel_scale**2 - 1))
    return cv2.warpPerspective(
        src, to_image, (w, h), flags=interpolation | cv2.WARP_INVERSE_MAP, borderMode=cv2.BORDER_REPLICATE
    )


def rectify_surround(image: np.ndarray, corners: np.ndarray, size: tuple[int, int], margin: float) -> np.ndarray:
    """The canvas and ``margin`` of its width and height around it, rectified to ``size``. Beyond the frame's
    edge the frame's border pixels repeat, so the edge shows no line that camera shake would move."""
    return rectify(image, enlarge_quad(corners, margin), size)


def _area(quad: np.ndarray) -> float:
    x, y = quad[:, 0], quad[:, 1]
    return 0.5 * abs(float(np.dot(x, np.roll(y, -1)) - np.dot(y, np.roll(x, -1))))


def corner_error(pred: np.ndarray, truth: np.ndarray) -> float:
    """Mean distance between corresponding corners divided by the mean diagonal of the truth quad."""
    p, t = _as_points(pred, "pred"), _as_points(truth, "truth")
    diagonal = (np.linalg.norm(t[2] - t[0]) + np.linalg.norm(t[3] - t[1])) / 2
    if diagonal <= 0:
        raise ValueError("truth corners describe a degenerate quad (zero diagonal)")
    return float(np.linalg.norm(p - t, axis=1).mean() / diagonal)
