"""Writing synthetic videos to disk: H.264 video, finished painting, layer masks and truth JSON."""

from __future__ import annotations

import json
import os
from collections.abc import Callable, Sequence
from dataclasses import dataclass, replace
from fractions import Fraction
from pathlib import Path

import av
import cv2
import numpy as np

from .config import DEFAULT_CONFIG, StudioConfig
from .studio import Studio

Progress = Callable[[int, int], None]


@dataclass(frozen=True)
class SyntheticVideo:
    """Paths of one generated video and its ground truth."""

    video_id: str
    video_path: Path
    truth_path: Path
    final_path: Path
    masks_dir: Path


def studio_video_ids(count: int, seed: int) -> list[str]:
    """Ids of the videos of a studio run, e.g. ``synth-7-000``."""
    return [f"synth-{seed}-{i:03d}" for i in range(count)]


def _tmp(path: Path) -> Path:
    return path.with_name(f".{path.name}.{os.getpid()}.tmp")


def _write_bytes(path: Path, data: bytes) -> None:
    """Write to a temporary name then rename, so readers never see a half-written file."""
    tmp = _tmp(path)
    try:
        tmp.write_bytes(data)
        os.replace(tmp, path)
    finally:
        tmp.unlink(missing_ok=True)


def _write_png(path: Path, rgb: np.ndarray) -> None:
    img = rgb if rgb.ndim == 2 else cv2.cvtColor(rgb, cv2.COLOR_RGB2BGR)
    ok, buf = cv2.imencode(".png", img)
    if not ok:
        raise RuntimeError(f"PNG encoding failed for {path}")
    _write_bytes(path, buf.tobytes())


def _encode(studio: Studio, path: Path, progress: Progress | None) -> None:
    """Encode all frames with libx264 (yuv420p, CRF 23, preset veryfast) into an mp4, atomically."""
    cfg = studio.config
    tmp = _tmp(path)
    try:
        with av.open(str(tmp), mode="w", format="mp4") as container:
            stream = container.add_stream("libx264", rate=Fraction(cfg.fps, 1))
            stream.width, stream.height = studio.size
            stream.pix_fmt = "yuv420p"
            # mbtree off: x264's macroblock-tree lookahead makes the output bytes vary from run to run (seen with
            # small frames); without it the same frames always give the same file. CRF 23 then gives about the
            # size and quality of CRF 21 with mbtree.
            stream.options = {"crf": "23", "preset": "veryfast", "x264-params": "mbtree=0"}
            n = studio.n_frames
            for i in range(n):
                frame = av.VideoFrame.from_ndarray(studio.render(i), format="rgb24")
                frame.pts = i
                container.mux(stream.encode(frame))
                if progress is not None:
                    progress(i + 1, n)
            container.mux(stream.encode(None))
        os.replace(tmp, path)
    finally:
        tmp.unlink(missing_ok=True)


def generate_video(
    out_dir: Path,
    video_id: str,
    seed: int,
    config: StudioConfig = DEFAULT_CONFIG,
    progress: Progress | None = None,
    stages: Sequence[np.ndarray] | None = None,
) -> SyntheticVideo:
    """Generate one synthetic painting video with its ground truth into ``out_dir`` (``stages``: film these
    images of a painting in progress instead of a procedural landscape, see :class:`Studio`).

    Writes ``<id>.masks/<k>_<kind>.png``, ``<id>.final.png``, ``<id>.mp4`` and finally ``<id>.truth.json``
    (its presence means the video is complete). ``progress(done, total)`` is called per encoded frame.
    """
    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    if config.strokes_per_s is not None:  # the painting (strokes) does not depend on the duration: count, then time
        sketch = Studio(video_id, seed, replace(config, duration_s=1.0, fps=1, strokes_per_s=None), stages)
        config = config.paced(len(sketch.stroke_times))
    studio = Studio(video_id, seed, config, stages)
    truth = studio.truth()
    video = SyntheticVideo(
        video_id,
        out_dir / f"{video_id}.mp4",
        out_dir / f"{video_id}.truth.json",
        out_dir / truth["final"],
        out_dir / f"{video_id}.masks",
    )
    video.masks_dir.mkdir(exist_ok=True)
    wanted = {out_dir / layer["mask"] for layer in truth["layers"]}
    for stale in set(video.masks_dir.glob("*.png")) - wanted:  # left by an earlier run with another seed
        stale.unlink()
    for layer, mask in zip(truth["layers"], studio.layer_masks(), strict=True):
        _write_png(out_dir / layer["mask"], mask)
    _write_png(video.final_path, studio.final())
    _encode(studio, video.video_path, progress)
    _write_bytes(video.truth_path, json.dumps(truth, indent=1).encode())
    return video


def generate_studio(
    out_dir: Path, count: int, seed: int, config: StudioConfig = DEFAULT_CONFIG, progress: Progress | None = None
) -> list[SyntheticVideo]:
    """Generate ``count`` videos; per-video seeds come from ``SeedSequence(seed).spawn(count)``.

    ``progress(done, total)`` is called after each finished video.
    """
    children = np.random.SeedSequence(seed).spawn(count)
    videos = []
    for k, (video_id, child) in enumerate(zip(studio_video_ids(count, seed), children, strict=True)):
        videos.append(generate_video(out_dir, video_id, int(child.generate_state(1)[0]), config))
        if progress is not None:
            progress(k + 1, count)
    return videos
