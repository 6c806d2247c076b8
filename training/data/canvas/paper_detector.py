"""Paper-faithful canvas detector: Grounding DINO box for "canvas. painting.", SAM mask, fitted quadrilateral.

Sec. 4 "Datasets" of the paper segments the frames with Grounding DINO and crops them to the canvas.
A box alone cannot follow a canvas seen in perspective, so the box prompts SAM for the canvas mask
and `quad_from_mask` fits the four corners the homography needs. Without a SAM checkpoint the
detector returns the axis-aligned box as the quad (and logs that it does).
"""

from __future__ import annotations

import logging
import math
from collections.abc import Sequence
from pathlib import Path

import cv2
import numpy as np

from training.data.canvas import CanvasDetection
from training.data.canvas.geometry import order_corners
from training.data.grounding_dino import DEFAULT_GROUNDING_MODEL, Detection, GroundingDino, SamRefiner, check_image

log = logging.getLogger(__name__)


# ---------------------------------------------------------------- mask -> quadrilateral


def quad_from_mask(
    mask: np.ndarray,
    min_area_fraction: float = 0.01,
    min_fill: float = 0.8,
    angle_range_deg: tuple[float, float] = (20.0, 160.0),
    max_outside_fraction: float = 0.25,
    min_side_fraction: float = 0.08,
    min_part_fraction: float = 0.05,
) -> np.ndarray | None:
    """Four corners (float32 (4, 2), TL, TR, BR, BL) of the quadrilateral a binary mask shows, or None.

    Largest connected component, with any other component of at least `min_part_fraction` of its
    area (the halves of a canvas an arm crosses) -> convex hull (fills notches that hands and
    brushes cut into the edges) -> minimum-area enclosing quadrilateral by greedy edge removal (recovers a corner a hand
    covers by extending the two sides) -> each side re-fitted to the contour points lying on it.
    None when the component is smaller than `min_area_fraction` of the image, when the hull fills
    less than `min_fill` of the quad (a blob, not a quadrilateral), when an interior angle leaves
    `angle_range_deg`, when a side is shorter than `min_side_fraction` of the quad's diagonal (a
    triangle with a clipped corner), or when a corner lies further than `max_outside_fraction` of
    the image diagonal outside the image.
    """
    mask = np.asarray(mask)
    if mask.ndim != 2:
        raise ValueError(f"mask must be a 2-D array (H, W), got shape {mask.shape}")
    height, width = mask.shape
    parts = _main_parts(mask > 0, max(16.0, min_area_fraction * height * width), min_part_fraction)
    if parts is None:
        return None
    contours, _ = cv2.findContours(parts, cv2.RETR_EXTERNAL, cv2.CHAIN_APPROX_NONE)
    contour = np.concatenate([c.reshape(-1, 2) for c in contours]).astype(np.float64)
    hull = cv2.convexHull(contour.astype(np.float32)).reshape(-1, 2).astype(np.float64)
    quad = _min_area_quad(hull)
    if quad is None:
        return None
    quad = _refit_sides(quad, contour)
    limits = (min_fill, angle_range_deg, max_outside_fraction, min_side_fraction)
    if quad is None or not _plausible(quad, hull, (height, width), *limits):
        return None
    return order_corners(quad).astype(np.float32)


def _main_parts(binary: np.ndarray, min_pixels: float, min_part_fraction: float) -> np.ndarray | None:
    """The largest connected component plus every component at least `min_part_fraction` of its size.

    An arm hanging across the canvas splits its mask in two large parts; small specks and other
    objects stay out.
    """
    count, labels, stats, _ = cv2.connectedComponentsWithStats(binary.astype(np.uint8), connectivity=8)
    if count <= 1:
        return None
    areas = stats[1:, cv2.CC_STAT_AREA]
    if areas.max() < min_pixels:
        return None
    keep = 1 + np.flatnonzero(areas >= min_part_fraction * areas.max())
    return np.isin(labels, keep).astype(np.uint8)


def _turns(polygon: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Edge vectors, edge lengths and the exterior turn angle at each vertex of a convex polygon."""
    edges = np.roll(polygon, -1, axis=0) - polygon
    lengths = np.hypot(edges[:, 0], edges[:, 1])
    previous = np.roll(edges, 1, axis=0)
    cross = previous[:, 0] * edges[:, 1] - previous[:, 1] * edges[:, 0]
    dot = (previous * edges).sum(axis=1)
    return edges, lengths, np.abs(np.arctan2(cross, dot))


def _min_area_quad(hull: np.ndarray) -> np.ndarray | None:
    """Shrink a convex polygon to 4 vertices, each step removing the edge whose removal adds least area.

    Removing edge i (v_i -> v_i+1) extends edges i-1 and i+1 until they meet; the added triangle
    has base |e_i| and base angles equal to the exterior turns at v_i and v_i+1 (law of sines).
    """
    polygon = hull[np.hypot(*(np.roll(hull, -1, axis=0) - hull).T) > 1e-9]
    while len(polygon) > 4:
        edges, lengths, turns = _turns(polygon)
        first, second = turns, np.roll(turns, -1)
        total = first + second
        removable = total < math.pi - 1e-6
        if not removable.any():
            return None
        reach = np.where(removable, lengths * np.sin(second) / np.where(removable, np.sin(total), 1.0), 0.0)
        added = np.where(removable, 0.5 * lengths * reach * np.sin(first), np.inf)
        i = int(np.argmin(added))
        incoming = edges[i - 1] / max(float(np.hypot(*edges[i - 1])), 1e-12)
        apex = polygon[i] + incoming * reach[i]
        nxt = (i + 1) % len(polygon)
        polygon[i] = apex
        polygon = np.delete(polygon, nxt, axis=0)
    return polygon if len(polygon) == 4 else None


def _line_through(points: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    vx, vy, x0, y0 = cv2.fitLine(points.astype(np.float32), cv2.DIST_HUBER, 0, 0.01, 0.01).reshape(4)
    return np.array([x0, y0], dtype=np.float64), np.array([vx, vy], dtype=np.float64)


def _intersect(p: np.ndarray, d: np.ndarray, q: np.ndarray, e: np.ndarray) -> np.ndarray | None:
    det = d[0] * (-e[1]) - d[1] * (-e[0])
    if abs(det) < 1e-9:
        return None
    t = ((q[0] - p[0]) * (-e[1]) - (q[1] - p[1]) * (-e[0])) / det
    return p + t * d


def _refit_sides(quad: np.ndarray, contour: np.ndarray) -> np.ndarray | None:
    """Fit each side's line to the contour pixels near it, then move it half a pixel outwards.

    Hull edges are short chords of the pixel staircase; a robust line through all boundary pixels
    of a side is steadier, and ignores pixels of notches and bumps (too far from the side). Pixel
    centres on the boundary lie on average half a pixel inside the true edge.
    """
    centre = quad.mean(axis=0)
    diagonal = float(np.hypot(*(quad.max(axis=0) - quad.min(axis=0))))
    tolerance = max(2.0, 0.01 * diagonal)
    lines = []
    for k in range(4):
        a, b = quad[k], quad[(k + 1) % 4]
        side = b - a
        length = float(np.hypot(*side))
        direction = side / max(length, 1e-12)
        normal = np.array([-direction[1], direction[0]])
        offset = contour - a
        along = offset @ direction / max(length, 1e-12)
        across = np.abs(offset @ normal)
        near = contour[(across < tolerance) & (along > 0.05) & (along < 0.95)]
        if len(near) >= max(8, 0.2 * length):
            point, direction = _line_through(near)
        else:
            point = a
        outward = normal if float((point - centre) @ normal) > 0 else -normal
        lines.append((point + 0.5 * outward, direction))
    corners = [_intersect(*lines[k - 1], *lines[k]) for k in range(4)]
    if any(corner is None for corner in corners):
        return None
    return np.array(corners, dtype=np.float64)


def _plausible(
    quad: np.ndarray,
    hull: np.ndarray,
    size: tuple[int, int],
    min_fill: float,
    angle_range_deg: tuple[float, float],
    max_outside_fraction: float,
    min_side_fraction: float,
) -> bool:
    edges = np.roll(quad, -1, axis=0) - quad
    diagonal = float(np.hypot(*(quad.max(axis=0) - quad.min(axis=0))))
    if np.hypot(*edges.T).min() < min_side_fraction * diagonal:
        return False
    previous = np.roll(edges, 1, axis=0)
    cross = previous[:, 0] * edges[:, 1] - previous[:, 1] * edges[:, 0]
    if not (np.all(cross > 0) or np.all(cross < 0)):
        return False
    cosines = -(previous * edges).sum(axis=1) / np.maximum(np.hypot(*previous.T) * np.hypot(*edges.T), 1e-12)
    angles = np.degrees(np.arccos(np.clip(cosines, -1.0, 1.0)))
    if angles.min() < angle_range_deg[0] or angles.max() > angle_range_deg[1]:
        return False
    quad_area = abs(cv2.contourArea(quad.astype(np.float32)))
    if quad_area <= 0 or abs(cv2.contourArea(hull.astype(np.float32))) / quad_area < min_fill:
        return False
    height, width = size
    margin = max_outside_fraction * math.hypot(width, height)
    inside_x = (quad[:, 0] >= -margin) & (quad[:, 0] <= width + margin)
    inside_y = (quad[:, 1] >= -margin) & (quad[:, 1] <= height + margin)
    return bool(np.all(inside_x & inside_y))


def box_quad(box_xyxy: np.ndarray) -> np.ndarray:
    """The axis-aligned box (x1, y1, x2, y2) as four corners TL, TR, BR, BL (float32 (4, 2))."""
    x1, y1, x2, y2 = (float(v) for v in np.asarray(box_xyxy).reshape(4))
    return np.array([[x1, y1], [x2, y1], [x2, y2], [x1, y2]], dtype=np.float32)


def box_iou(a: np.ndarray, b: np.ndarray) -> float:
    """Intersection over union of two (x1, y1, x2, y2) boxes."""
    a, b = np.asarray(a, dtype=np.float64).reshape(4), np.asarray(b, dtype=np.float64).reshape(4)
    w = max(0.0, min(a[2], b[2]) - max(a[0], b[0]))
    h = max(0.0, min(a[3], b[3]) - max(a[1], b[1]))
    inter = w * h
    union = (a[2] - a[0]) * (a[3] - a[1]) + (b[2] - b[0]) * (b[3] - b[1]) - inter
    return float(inter / union) if union > 0 else 0.0


# ---------------------------------------------------------------- detector


class GroundingCanvasDetector:
    """Canvas detector of the paper backend; implements the `CanvasDetector` protocol.

    `detect(image)` takes the best-scoring Grounding DINO box for `prompt` (every phrase of the
    default prompt names the canvas) that covers at least `min_box_fraction` of the image, prompts
    SAM with it and fits a quad to the mask. The quad must agree with the box (IoU of its bounding
    box with the detection box >= `min_box_agreement`), else the next box is tried (up to
    `max_candidates`). The detection score is the Grounding DINO box score.

    Without `sam_checkpoint` (and no `sam`), the corners are the axis-aligned box itself: fine for a
    canvas filmed head-on, loose for one in perspective. `model` may be an already loaded
    `GroundingDino` (shared with the occluder detector) and `sam` an already loaded `SamRefiner`.
    SAM ViT-B costs about 30 s per image on this CPU: call `detect` once per stable segment.
    """

    name = "grounding_dino"

    def __init__(
        self,
        model: str | Path | GroundingDino = DEFAULT_GROUNDING_MODEL,
        sam_checkpoint: Path | None = None,
        sam_model_type: str = "vit_b",
        prompt: str = "canvas. painting.",
        box_threshold: float = 0.35,
        text_threshold: float = 0.25,
        min_box_fraction: float = 0.02,
        min_box_agreement: float = 0.5,
        max_candidates: int = 3,
        device: str = "auto",
        sam: SamRefiner | None = None,
    ) -> None:
        self.detector = model if isinstance(model, GroundingDino) else GroundingDino(model, device=device)
        if sam is None and sam_checkpoint is not None:
            sam = SamRefiner(sam_checkpoint, sam_model_type, device=device)
        self.sam = sam
        self.prompt = prompt
        self.box_threshold = box_threshold
        self.text_threshold = text_threshold
        self.min_box_fraction = min_box_fraction
        self.min_box_agreement = min_box_agreement
        self.max_candidates = max_candidates
        if self.sam is None:
            log.warning(
                "GroundingCanvasDetector without a SAM checkpoint: canvas corners are the axis-aligned Grounding "
                "DINO box, not the canvas outline in perspective. Pass sam_checkpoint for the quad fit."
            )

    @property
    def refinement(self) -> str:
        """'sam' when boxes are refined to a mask and a fitted quad, 'box' when the box is the quad."""
        return "box" if self.sam is None else "sam"

    def detect(self, image: np.ndarray) -> CanvasDetection | None:
        """The canvas quad in `image` (RGB uint8), or None when no plausible canvas is found."""
        return self.detect_batch([image])[0]

    def detect_batch(self, images: Sequence[np.ndarray]) -> list[CanvasDetection | None]:
        """`detect` for several images, with one batched Grounding DINO pass."""
        for i, image in enumerate(images):
            check_image(image, f"image {i}")
        detections = self.detector.detect(images, self.prompt, self.box_threshold, self.text_threshold)
        return [self._canvas(image, boxes) for image, boxes in zip(images, detections, strict=True)]

    def candidates(self, image: np.ndarray, detections: list[Detection]) -> list[Detection]:
        """Detections large enough to be the canvas, best first, at most `max_candidates`."""
        image_area = float(image.shape[0] * image.shape[1])
        large = [d for d in detections if _box_area(d.box_xyxy) >= self.min_box_fraction * image_area]
        return large[: self.max_candidates]

    def _canvas(self, image: np.ndarray, detections: list[Detection]) -> CanvasDetection | None:
        candidates = self.candidates(image, detections)
        if not candidates:
            return None
        if self.sam is None:
            best = candidates[0]
            return CanvasDetection(corners=box_quad(best.box_xyxy), score=best.score)
        masks = self.sam.masks(image, [d.box_xyxy for d in candidates])
        for detection, mask in zip(candidates, masks, strict=True):
            quad = quad_from_mask(mask)
            if quad is None:
                continue
            quad_box = np.concatenate([quad.min(axis=0), quad.max(axis=0)])
            if box_iou(quad_box, detection.box_xyxy) >= self.min_box_agreement:
                return CanvasDetection(corners=quad, score=detection.score)
        log.debug("SAM masks of %d canvas boxes gave no plausible quad", len(candidates))
        return None


def _box_area(box: np.ndarray) -> float:
    x1, y1, x2, y2 = (float(v) for v in box)
    return max(0.0, x2 - x1) * max(0.0, y2 - y1)
