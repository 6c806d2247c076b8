"""Finding the canvas in video frames and rectifying it: detectors, geometry and tracking over time.

Detectors implement ``CanvasDetector``: the weight-free ``ContourCanvasDetector`` (``contour``) and the
paper's Grounding DINO + SAM backend (``grounding``). ``track_canvas`` runs any of them once per stable
camera segment and follows the canvas in between.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Protocol, runtime_checkable

import numpy as np


@dataclass(frozen=True)
class CanvasDetection:
    corners: np.ndarray  # (4, 2) float32, TL, TR, BR, BL in source-frame pixels
    score: float  # detector confidence in [0, 1]


@runtime_checkable
class CanvasDetector(Protocol):
    """Anything that finds the canvas quadrilateral in one RGB uint8 frame."""

    name: str  # backend name recorded next to results, e.g. "contour"

    def detect(self, image: np.ndarray) -> CanvasDetection | None:
        """The canvas in ``image`` (RGB uint8, H x W x 3), or None when there is none."""
        ...


__all__ = ["CanvasDetection", "CanvasDetector"]
