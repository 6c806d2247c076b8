"""Synthetic studio: deterministic fake painting time-lapse videos with ground truth.

Each video shows a procedural acrylic landscape painted layer by layer (back to front) with brush
strokes, filmed in perspective inside a cluttered studio by a slowly drifting camera, with a hand and
brush occluding the canvas in contiguous episodes. Ground truth per video: canvas corners per frame,
occlusion flags, layer spans and labels, the finished painting and per-layer change masks.

    from training.data.studio import StudioConfig, generate_studio
    videos = generate_studio(Path("data/synth"), count=4, seed=7, config=StudioConfig(duration_s=30))
"""

from .config import GENERATOR, StudioConfig
from .landscape import BASE_KIND, KIND_RANK
from .studio import Studio
from .video import SyntheticVideo, generate_studio, generate_video, studio_video_ids

__all__ = [
    "BASE_KIND",
    "GENERATOR",
    "KIND_RANK",
    "Studio",
    "StudioConfig",
    "SyntheticVideo",
    "generate_studio",
    "generate_video",
    "studio_video_ids",
]
