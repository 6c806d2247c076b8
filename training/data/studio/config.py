"""Configuration of the synthetic studio."""

from __future__ import annotations

from dataclasses import dataclass, replace
from typing import Literal

STYLES = ("strokes", "timelapse")
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
    # How the camera sees the painting progress. "strokes": every frame shows the canvas as it is, so paint
    # appears stroke by stroke. "timelapse": the canvas is captured every capture_s seconds of painting and each
    # capture cross-fades into the next over fade_s, as in real time-lapses where many strokes land between two
    # captured frames and whole regions change at once (each range is drawn per video).
    style: Literal["strokes", "timelapse"] = "strokes"
    capture_s: tuple[float, float] = (5.0, 9.0)
    fade_s: tuple[float, float] = (1.0, 2.5)

    def __post_init__(self) -> None:
        if self.style not in STYLES:
            raise ValueError(f"StudioConfig.style={self.style!r}; choose one of {', '.join(STYLES)}")
        for name in ("capture_s", "fade_s"):
            lo, hi = getattr(self, name)
            if not 0 < lo <= hi:
                raise ValueError(f"StudioConfig.{name}={(lo, hi)} must be a range 0 < low <= high (seconds)")

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
