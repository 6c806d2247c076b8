"""Configuration of the synthetic studio."""

from __future__ import annotations

from dataclasses import dataclass

GENERATOR = "inverse-painting synthetic studio v2"  # v2: layer names follow what is drawn


@dataclass(frozen=True)
class StudioConfig:
    """How a synthetic painting video is filmed.

    The painting itself (layers, strokes) does not depend on the config; only its timing,
    the camera and the rectified resolution do.
    """

    duration_s: float = 60.0
    size: tuple[int, int] = (640, 480)  # (width, height) of the video
    fps: int = 25
    canvas_long_side: int = 512  # rectified canvas (final.png, masks) long side in px
    hand_fraction: tuple[float, float] = (0.15, 0.40)  # per-video fraction of frames with a hand over the canvas

    @property
    def n_frames(self) -> int:
        """Number of video frames."""
        return max(1, round(self.duration_s * self.fps))

    def frame_ms(self, index: int) -> int:
        """Timestamp of frame ``index`` in milliseconds."""
        return round(index * 1000 / self.fps)


DEFAULT_CONFIG = StudioConfig()
