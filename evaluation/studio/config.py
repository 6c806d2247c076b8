"""Configuration of the synthetic studio."""

from __future__ import annotations

from dataclasses import dataclass, replace

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
    # The painter's pace: with it every video lasts (its strokes / strokes_per_s) seconds instead of duration_s,
    # so a busier painting takes longer, as in real footage. Without it every painting is squeezed into
    # duration_s, and a method that only knows the mean duration matches every video's length.
    strokes_per_s: float | None = None

    def paced(self, n_strokes: int) -> StudioConfig:
        """This config with the duration of a painting of ``n_strokes`` at the painter's pace (unchanged without
        a pace), to 0.1 s."""
        if self.strokes_per_s is None:
            return self
        if not self.strokes_per_s > 0:
            raise ValueError(f"strokes_per_s must be positive, got {self.strokes_per_s}")
        return replace(self, duration_s=round(n_strokes / self.strokes_per_s, 1), strokes_per_s=None)

    @property
    def n_frames(self) -> int:
        """Number of video frames."""
        return max(1, round(self.duration_s * self.fps))

    def frame_ms(self, index: int) -> int:
        """Timestamp of frame ``index`` in milliseconds."""
        return round(index * 1000 / self.fps)


DEFAULT_CONFIG = StudioConfig()
