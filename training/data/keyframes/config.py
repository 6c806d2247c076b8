"""Settings and results of keyframe selection."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import numpy as np

REASONS = ("occluded", "unchanged", "after_completion", "no_canvas")
DENSITY_DIVISOR = 30  # default min_interval_s = video duration / 30: 18 s on the paper's ~9-minute videos

OcclusionFn = Callable[[int, np.ndarray], bool]
"""A per-frame occluder test ``(t_ms, rectified RGB canvas) -> occluded``, e.g. a Grounding DINO wrapper."""


@dataclass(frozen=True)
class KeyframeConfig:
    """Thresholds of keyframe selection. Fractions are of the canvas area; colours are in 0..1.

    Defaults target real footage (paper Sec. 4: ~9-minute videos, ~27 keyframes ~23.6 s apart) sampled
    every 2 s. The pipeline scales the spacing to each video with :meth:`for_duration` (a 9-minute video keeps
    18 s, a 75-s time-lapse gets 2.5 s); ``min_interval_s=0`` keeps every frame that adds ``min_change``.
    """

    min_change: float = 0.005
    """New paint (fraction of the canvas) a frame must show since the last keyframe to be kept, else
    "unchanged". Half of Timecraft's minimum changed area (1 %): a layer often ends in a faint detail pass that
    adds well under 1 % in tens of seconds, and with 1 % its frames were held by the next layer's first keyframe
    (coverage on 28 nine-minute studio videos, mean of seven groups of four: 88.7 -> 90.2 %, no group lower).
    The paper's curated real keyframes (15-38 s apart) differ by 15-45 % from one to the next with this
    measure, so it still rejects pauses, not normal progress."""

    min_interval_s: float = 18.0
    """Minimum video time between keyframes (0 = off). A keyframe is taken at the first clean frame after it
    with ``min_change`` of new paint, so gaps average several seconds more, while region switches (see
    ``switch_step``) add keyframes sooner: 18 s gives a mean gap of 23 s on 9-minute studio videos sampled
    every 2 s, the paper's density (~20-25 s, 23.6 s on average)."""

    burst_keep_change: float = 0.003
    """The last clean frame before a burst of new paint (``min_change`` appearing between two clean frames:
    the painter starts a new passage, often a new layer) is kept if it shows at least this much new paint
    since the last keyframe, so that pairs do not mix the end of one passage with the next."""

    burst_interval_fraction: float = 0.5
    """The last clean frame before a burst is kept from this fraction of ``min_interval_s`` after the last
    keyframe on (not only after all of it) when it follows a lull (it added less than ``min_change`` itself):
    a passage shorter than ``min_interval_s`` that ends faintly still ends a pair, instead of its paint being
    represented by a keyframe of the next passage. Bursts within a busy passage wait for ``min_interval_s``."""

    switch_step: float = 0.003
    """A region switch: new paint over at least this much of the canvas (present in a clean frame and still in
    the next one, so not a hand) lying away from all the paint since the last keyframe (see ``switch_overlap``).
    The last clean frame before it is kept (see ``switch_keep_change``, ``switch_interval_fraction``): the
    painter moved to another region, often a new layer, and each pair should carry one region's paint. The
    switch is found by looking back once its new paint has grown to this size, so its first strokes may be
    small. 0.3 % (a few strokes) catches the start of a layer before a keyframe falls due inside it; 1 % let
    the due keyframe land a few seconds into the next layer (coverage on the 9-minute development videos
    91 -> 95 %). 0 turns the rule off."""

    switch_overlap: float = 0.15
    """The new paint of a region switch may lie within ``switch_reach`` of the earlier paint on at most this
    fraction of its area: paint continuing a passage borders the paint before it; a new region does not."""

    switch_reach: float = 0.03
    """Distance (fraction of the canvas long side) within which new paint counts as continuing earlier paint."""

    switch_keep_change: float = 0.001
    """The frame before a region switch is kept if it shows at least this much new paint since the last keyframe
    (below it the earlier paint is too small to tell a region from a few strokes). Lower than
    ``burst_keep_change``: the end of a layer is often a low-contrast detail pass that barely registers."""

    switch_interval_fraction: float = 0.5
    """The frame before a region switch is kept from this fraction of ``min_interval_s`` after the last keyframe
    on: a short layer still ends its own pair, while pairs stay far enough apart."""

    max_defer_s: float = 6.0
    """Longest video time (s) a frame due to be kept may be deferred to a later clean frame (the faint end of
    its passage, or the next frame when it sits next to an occluded one). Without a cap the two deferrals
    chain over tens of seconds at 2 s sampling (each frame adds a little detail, or sits next to a hand) and
    the keyframe drifts into the next layer, so the pair mixes two layers and the first one loses its end."""

    work_long_side: int = 160
    """Long side (px) of the copies every decision is made on; bounds memory and time per frame."""

    pixel_threshold: float = 0.05
    """Colour change (largest channel difference, after exposure matching) that counts as new paint. Low
    enough for the low-contrast detail passes painted over a base coat; camera noise and H.264 stay below
    it once the opening has removed isolated pixels."""

    opening_px: int = 2
    """Side of the square opening applied to new-paint masks: removes isolated noisy pixels, keeps brush
    texture (Timecraft used 3x3 at full resolution)."""

    shift_px: int = 1
    """A change must survive shifting by this many work pixels (rectification jitter of a few canvas px)."""

    persistence_s: float = 5.0
    """Video time (s) on each side of a frame whose per-pixel median is the canvas before / after it. A change
    present in neither is transient (paint stays, hands and brushes leave). It must exceed the time a hand
    usually stays at one spot; 5 s covers typical brush episodes. A time, not a frame count, so that the test
    does not depend on the sampling interval: 5 frames at 1 s sampling, 3 at 2 s."""

    occluder_threshold: float = 0.10
    """Colour change against both medians that marks a pixel as transient (hands are high-contrast)."""

    occluder_opening_px: int = 3
    """Opening applied to the transient mask."""

    occluder_thickness: float = 0.012
    """Transient blobs thinner than this (radius of the largest inscribed disc, fraction of the canvas long
    side; 2 px at 160 px) are ignored."""

    occluder_elongation: float = 6.5
    """Transient blobs longer than this (area over the area of the largest inscribed disc) are ignored: a
    passage painted over again leaves thin lines along its edge, while hands and forearms over the canvas
    measure 0.7-5.6 on the studio calibration videos."""

    occluder_min_area: float = 0.002
    """A skin-coloured transient blob reaching the canvas edge is an occluder from this size on (0.2 %: a
    few fingers). Only blobs that reach the edge count: an arm always enters from outside the canvas, while
    paint painted over within seconds (a cloud, a sun) sits inside it."""

    occluder_edge_area: float = 0.06
    """A transient blob reaching the canvas edge is an occluder from this size on even without skin colour
    (a sleeve, a body, a palette held in front of the canvas)."""

    edge_band: float = 0.06
    """Width (fraction of the canvas long side) of the band along the canvas border where a brush tip or
    fingertips enter: see ``edge_band_area``."""

    edge_band_area: float = 0.0007
    """A compact transient blob lying (80 %) within ``edge_band`` of the border is an occluder from this size
    on (0.07 %) when some of it (``edge_band_skin``) is skin-coloured: a brush held at the edge with the tips of
    the fingers, too small for ``occluder_min_area``. Paint repainted at the border has no skin in it."""

    edge_band_skin: float = 0.1
    """Skin fraction that makes an ``edge_band`` blob an occluder."""

    guard_frames: int = 1
    """Frames on each side of an occluded frame that get the stricter edge test of ``guard_area``."""

    guard_area: float = 0.001
    """Next to an occluded frame, a transient blob from this size on (0.1 %: fingertips, a brush, a cuff)
    that reaches the canvas edge where that frame's hand is makes the frame occluded too, however thin and
    whatever its colour: hands enter and leave over several frames."""

    guard_reach: float = 0.05
    """How far (fraction of the canvas long side) from the neighbour's hand such a blob may be."""

    border_min_area: float = 0.0005
    """With surrounds (the canvas rectified with a margin around it, see :mod:`.border`): a transient blob
    outside the canvas that reaches its edge is an arm over the canvas from this size on (a share of the canvas
    area), however little of the hand the canvas shows."""

    skin_fraction: float = 0.5
    """A blob is skin-coloured when at least this fraction of its pixels falls in the YCrCb skin box."""

    completion_tolerance: float = 0.001
    """After completion, a clean frame differs from the finished painting on at most this fraction (0.1 %:
    a few birds or a signature still count as unfinished)."""

    final_frames: int = 3
    """The finished painting is the per-pixel median of the clean frames among this many last frames (an
    undetected brush in one of them does not become part of it), or the last clean frame when a hand
    covers all of them."""

    def __post_init__(self) -> None:
        fractions = {
            "min_change": self.min_change,
            "burst_keep_change": self.burst_keep_change,
            "burst_interval_fraction": self.burst_interval_fraction,
            "switch_step": self.switch_step,
            "switch_overlap": self.switch_overlap,
            "switch_reach": self.switch_reach,
            "switch_keep_change": self.switch_keep_change,
            "switch_interval_fraction": self.switch_interval_fraction,
            "occluder_thickness": self.occluder_thickness,
            "occluder_min_area": self.occluder_min_area,
            "occluder_edge_area": self.occluder_edge_area,
            "guard_area": self.guard_area,
            "border_min_area": self.border_min_area,
            "edge_band": self.edge_band,
            "edge_band_area": self.edge_band_area,
            "edge_band_skin": self.edge_band_skin,
            "guard_reach": self.guard_reach,
            "skin_fraction": self.skin_fraction,
            "completion_tolerance": self.completion_tolerance,
            "pixel_threshold": self.pixel_threshold,
            "occluder_threshold": self.occluder_threshold,
        }
        for name, value in fractions.items():
            if not 0.0 <= value <= 1.0:
                raise ValueError(f"KeyframeConfig.{name}={value} must be a fraction in [0, 1]")
        if self.max_defer_s < 0:
            raise ValueError(f"KeyframeConfig.max_defer_s={self.max_defer_s} must be >= 0 (0: never defer)")
        if self.min_interval_s < 0:
            raise ValueError(f"KeyframeConfig.min_interval_s={self.min_interval_s} must be >= 0 (0 turns it off)")
        if self.occluder_elongation < 1:
            raise ValueError(f"KeyframeConfig.occluder_elongation={self.occluder_elongation} must be >= 1")
        if self.persistence_s <= 0:
            raise ValueError(f"KeyframeConfig.persistence_s={self.persistence_s} must be > 0 (seconds of video)")
        for name in ("work_long_side", "final_frames"):
            if getattr(self, name) < 1:
                raise ValueError(f"KeyframeConfig.{name}={getattr(self, name)} must be >= 1")
        if min(self.shift_px, self.opening_px, self.occluder_opening_px, self.guard_frames) < 0:
            raise ValueError("KeyframeConfig.shift_px, opening_px, occluder_opening_px, guard_frames must be >= 0")

    @classmethod
    def for_duration(cls, duration_s: float, keyframes: int | None = None, **overrides: float) -> KeyframeConfig:
        """Settings for a video of ``duration_s`` seconds: ``min_interval_s`` = ``duration_s / keyframes``.

        Without ``keyframes``, the paper's density whatever the length: ``DENSITY_DIVISOR`` (18 s on a 9-minute
        video, which the deferral and switch rules turn into a mean gap of ~23 s: ~23 keyframes per painting;
        2.5 s on a 75-s time-lapse). Fewer keyframes come out where fewer changes exist (``min_change``)."""
        divisor = DENSITY_DIVISOR if keyframes is None else keyframes
        if duration_s <= 0 or divisor < 1:
            raise ValueError(f"for_duration needs duration_s > 0 and keyframes >= 1, got {duration_s}, {keyframes}")
        return cls(**{"min_interval_s": duration_s / divisor, **overrides})  # type: ignore[arg-type]


DEFAULT_CONFIG = KeyframeConfig()


@dataclass(frozen=True)
class FrameDecision:
    """What happened to one input frame."""

    t_ms: int
    kept: bool
    reason: str | None  # None if kept; else one of REASONS
    detail: str = ""


@dataclass(frozen=True)
class KeyframeSelection:
    """Per-frame decisions, the target I_T and the completion time of one video."""

    decisions: list[FrameDecision]
    target_t_ms: int  # I_T: the last clean frame of the finished painting (also the last kept keyframe)
    completion_t_ms: int  # first clean frame showing the finished painting: no new paint appears after it
    backend: str  # "temporal" (weight-free) or "grounding_dino" (occlusion flags given)

    @property
    def kept_t_ms(self) -> list[int]:
        """Times of the kept keyframes in order; the last one is the target."""
        return [d.t_ms for d in self.decisions if d.kept]
