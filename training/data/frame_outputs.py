"""What the ingest stage writes per video: the sampled frames and the rectified canvas frames, with their tables.

Each image folder is written in a staging folder that replaces the old one only when complete, and each table
is renamed into place (training/data/storage.py): a killed run leaves the previous outputs, never half of new.
"""

from __future__ import annotations

import hashlib
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd

from training.data.canvas.geometry import rectified_size, rectify, rectify_surround
from training.data.frames import iter_sampled_frames
from training.data.images import encode_image, read_rgb, write_image
from training.data.probe import check_sampled_frames
from training.data.storage import atomic_dir, write_parquet
from training.data.table_readers import corners_array
from training.data_root import DataRoot

SAMPLED_FRAMES = "sampled_frames"
CANVAS_FRAMES = "canvas_frames"
SURROUND_DIR = "surround"  # under canvas_frames/<video_id>/
PROGRESS_EVERY = 50  # sampled frames between progress messages


@dataclass(frozen=True)
class WrittenFrames:
    """A per-video frame folder and its table as written: the table's path and its rows."""

    table_path: Path
    rows: list[dict]


@dataclass(frozen=True)
class WrittenCanvasFrames(WrittenFrames):
    size: tuple[int, int]  # (width, height) of every rectified canvas
    surround_size: tuple[int, int] | None  # of the surrounds; None when none were written (margin 0)


def write_sampled_frames(
    video: Path,
    layout: DataRoot,
    video_id: str,
    sample_every_s: float,
    progress: Callable[[str], None] = lambda message: None,
) -> WrittenFrames:
    """Decode ``video`` every ``sample_every_s`` seconds (streamed) into ``sampled_frames/<id>/<t_ms>.jpg`` and
    the table ``sampled_frames/<id>.parquet`` (``t_ms``, ``path``, ``sha`` = SHA-1 of the JPEG bytes)."""
    target = layout.images_dir(SAMPLED_FRAMES, video_id)
    rows: list[dict] = []
    with atomic_dir(target) as tmp:
        for frame in iter_sampled_frames(video, sample_every_s):
            name = f"{frame.t_ms:09d}.jpg"
            data = encode_image(frame.image)
            (tmp / name).write_bytes(data)
            rows.append({"t_ms": frame.t_ms, "path": str(target / name), "sha": hashlib.sha1(data).hexdigest()})
            if len(rows) % PROGRESS_EVERY == 0:
                progress(f"{video_id}: {len(rows)} frames sampled (t = {frame.t_ms / 1000:.0f} s)")
        # Inside the staging folder: a too-short sampling leaves the previous frames in place.
        check_sampled_frames(video, len(rows), sample_every_s)
    return WrittenFrames(write_parquet(pd.DataFrame(rows), layout.table_path(SAMPLED_FRAMES, video_id)), rows)


def median_corners(geometry: pd.DataFrame, source: str = "canvas_geometry") -> np.ndarray:
    """The median canvas quad over the frames where one was found; ValueError naming ``source`` when none was."""
    found = [corners_array(cell) for cell in geometry["corners"].dropna()]
    if not found:
        raise ValueError(f"{source}: no frame has canvas corners; materialize canvas_geometry again")
    return np.median(np.stack(found), axis=0)


def write_canvas_frames(
    frames: pd.DataFrame,
    geometry: pd.DataFrame,
    layout: DataRoot,
    video_id: str,
    long_side: int,
    surround_margin: float,
    surround_long_side: int,
) -> WrittenCanvasFrames:
    """Rectify each sampled frame's canvas (``frames``: sampled_frames' table; ``geometry``: canvas_geometry's,
    row for row) to one aspect-correct size per video, and with ``surround_margin`` > 0 the canvas with that
    margin around it into ``surround/``; table ``t_ms, path, surround_path, surround_margin`` (paths None where
    no canvas was found)."""
    target = layout.images_dir(CANVAS_FRAMES, video_id)
    table_path = layout.table_path(CANVAS_FRAMES, video_id)
    median = median_corners(geometry, source=str(layout.table_path("canvas_geometry", video_id)))
    size = rectified_size(median, long_side)
    around = rectified_size(median, surround_long_side) if surround_margin > 0 else None
    rows: list[dict] = []
    with atomic_dir(target) as tmp:
        if around is not None:
            (tmp / SURROUND_DIR).mkdir()
        for t_ms, frame_path, cell in zip(frames["t_ms"], frames["path"], geometry["corners"], strict=True):
            corners = corners_array(cell)
            row = {"t_ms": int(t_ms), "path": None, "surround_path": None, "surround_margin": surround_margin}
            rows.append(row)
            if corners is None:
                continue
            image = read_rgb(frame_path)
            name = f"{int(t_ms):09d}.jpg"
            write_image(tmp / name, rectify(image, corners, size))
            row["path"] = str(target / name)
            if around is not None:
                write_image(tmp / SURROUND_DIR / name, rectify_surround(image, corners, around, surround_margin))
                row["surround_path"] = str(target / SURROUND_DIR / name)
    path = write_parquet(pd.DataFrame(rows), table_path)
    return WrittenCanvasFrames(path, rows, size=size, surround_size=around)
