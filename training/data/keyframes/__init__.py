"""Keyframe selection: clean canvas frames with new paint, the target I_T, and why every other frame was dropped."""

from .border import Surrounds
from .change import WorkFrames
from .config import REASONS, FrameDecision, KeyframeConfig, KeyframeSelection, OcclusionFn
from .occluders import detect_occluders_temporal
from .selection import occlusion_flags, select_keyframes

__all__ = [
    "REASONS",
    "FrameDecision",
    "KeyframeConfig",
    "KeyframeSelection",
    "OcclusionFn",
    "Surrounds",
    "WorkFrames",
    "detect_occluders_temporal",
    "occlusion_flags",
    "select_keyframes",
]
