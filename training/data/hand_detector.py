"""Paper backend for occluders: Grounding DINO boxes for "hand. paintbrush." over the canvas quad.

The paper drops cropped frames that show hands (Sec. 4 "Datasets"). A frame is occluded when a hand
or brush box covers more than `min_overlap` of the canvas quadrilateral.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

import cv2
import numpy as np

from training.data.grounding_dino import DEFAULT_GROUNDING_MODEL, Detection, GroundingDino, check_image


def overlap_fraction(box_xyxy: np.ndarray, quad: np.ndarray) -> float:
    """Fraction of the convex quadrilateral `quad` ((4, 2) corners) covered by the box (x1, y1, x2, y2)."""
    quad = _check_quad(quad)
    quad_area = abs(cv2.contourArea(quad))
    if quad_area <= 0:
        return 0.0
    x1, y1, x2, y2 = (float(v) for v in np.asarray(box_xyxy).reshape(4))
    if x2 <= x1 or y2 <= y1:
        return 0.0
    box = np.array([[x1, y1], [x2, y1], [x2, y2], [x1, y2]], dtype=np.float32)
    # intersectConvexConvex wants both polygons with the same orientation
    if cv2.contourArea(quad, oriented=True) * cv2.contourArea(box, oriented=True) < 0:
        quad = quad[::-1].copy()
    inter_area, _ = cv2.intersectConvexConvex(box, quad)
    return float(max(0.0, inter_area) / quad_area)


def _check_quad(quad: np.ndarray) -> np.ndarray:
    quad = np.asarray(quad, dtype=np.float32)
    if quad.shape != (4, 2) or not np.all(np.isfinite(quad)):
        raise ValueError(f"canvas corners must be a finite (4, 2) array (TL, TR, BR, BL), got shape {quad.shape}")
    return quad


class GroundingOccluderDetector:
    """Hands and paintbrushes over the canvas, from Grounding DINO boxes (batched).

    `model` is a hub id, a local directory or an already loaded `GroundingDino` (share the one the
    canvas detector uses). A frame is occluded when some box for `prompt` covers more than
    `min_overlap` of the canvas quad's area.
    """

    name = "grounding_dino"

    def __init__(
        self,
        model: str | Path | GroundingDino = DEFAULT_GROUNDING_MODEL,
        prompt: str = "hand. paintbrush.",
        box_threshold: float = 0.3,
        text_threshold: float = 0.25,
        min_overlap: float = 0.01,
        device: str = "auto",
    ) -> None:
        if not 0.0 <= min_overlap < 1.0:
            raise ValueError(f"min_overlap is a fraction of the canvas area in [0, 1), got {min_overlap}")
        self.detector = model if isinstance(model, GroundingDino) else GroundingDino(model, device=device)
        self.prompt = prompt
        self.box_threshold = box_threshold
        self.text_threshold = text_threshold
        self.min_overlap = min_overlap

    def boxes(self, images: Sequence[np.ndarray]) -> list[list[Detection]]:
        """Hand and brush boxes per image, best first (for previews and for `occluded`)."""
        return self.detector.detect(images, self.prompt, self.box_threshold, self.text_threshold)

    def coverage(self, images: Sequence[np.ndarray], canvas_corners: Sequence[np.ndarray]) -> list[float]:
        """Per image, the largest fraction of its canvas quad one occluder box covers (0 when none)."""
        if len(images) != len(canvas_corners):
            raise ValueError(
                f"got {len(images)} images but {len(canvas_corners)} canvas quads: pass one quad per image"
            )
        quads = [_check_quad(corners) for corners in canvas_corners]
        for i, image in enumerate(images):
            check_image(image, f"image {i}")
        detections = self.boxes(images)
        return [
            max((overlap_fraction(d.box_xyxy, quad) for d in found), default=0.0)
            for found, quad in zip(detections, quads, strict=True)
        ]

    def occluded(self, images: Sequence[np.ndarray], canvas_corners: Sequence[np.ndarray]) -> list[bool]:
        """One bool per image: True when a hand or brush box covers more than `min_overlap` of the canvas."""
        return [fraction > self.min_overlap for fraction in self.coverage(images, canvas_corners)]
