"""Painting sequences for the benchmark: a real (ground-truth) one and a generated one, at one resolution.

A :class:`Sequence` holds frames (uint8 H×W×3 RGB) and their times in seconds, the white canvas at 0
included. Both sides of a comparison are brought to the same size, because the IoU compares masks
pixel by pixel: the ground truth's target frame decides the size (its long side capped at
``long_side``, default 512, the canvas size of the data pipeline), and generated frames are resized to
exactly that size (area interpolation when shrinking, bilinear when enlarging).
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import Path

import cv2
import numpy as np
import pandas as pd

from training.data.images import fit_long_side, read_rgb
from training.data.official_release import IMAGE_EXTENSIONS, read_official_layout
from training.data_root import DataRoot

DEFAULT_LONG_SIDE = 512
_NUMBER = re.compile(r"(\d+)")


@dataclass(frozen=True)
class Sequence:
    """Frames of one painting process in time order, ``frames[0]`` the canvas at ``times_s[0] == 0``."""

    name: str
    frames: list[np.ndarray]
    times_s: list[float]
    implied_start: bool = True  # frames[0] is the implied white canvas, not a recorded/generated frame

    def __post_init__(self) -> None:
        if len(self.frames) != len(self.times_s):
            raise ValueError(f"sequence {self.name!r}: {len(self.frames)} frames but {len(self.times_s)} times")
        if len(self.frames) < 2:
            raise ValueError(f"sequence {self.name!r}: needs the start canvas and at least one frame")
        if self.times_s[0] != 0:
            raise ValueError(f"sequence {self.name!r}: the first frame must be at t = 0, got {self.times_s[0]}")
        if any(b <= a for a, b in zip(self.times_s, self.times_s[1:], strict=False)):
            raise ValueError(f"sequence {self.name!r}: times must increase, got {self.times_s}")
        shape = self.frames[0].shape
        for i, frame in enumerate(self.frames):
            if frame.dtype != np.uint8 or frame.ndim != 3 or frame.shape[2] != 3 or frame.shape != shape:
                raise ValueError(
                    f"sequence {self.name!r}: frame {i} is {frame.shape} {frame.dtype}; every frame must be "
                    f"uint8 RGB of the shape of frame 0 {shape}"
                )

    @property
    def duration_s(self) -> float:
        return float(self.times_s[-1])

    @property
    def target(self) -> np.ndarray:
        """The last frame: the finished painting for a ground truth, the method's final frame otherwise."""
        return self.frames[-1]

    @property
    def size(self) -> tuple[int, int]:
        """(width, height)."""
        h, w = self.frames[0].shape[:2]
        return w, h

    def recorded(self) -> list[np.ndarray]:
        """The frames without the implied white start canvas."""
        return self.frames[1:] if self.implied_start else list(self.frames)


def white_canvas(size: tuple[int, int]) -> np.ndarray:
    w, h = size
    return np.full((h, w, 3), 255, np.uint8)


def resize_to(image: np.ndarray, size: tuple[int, int]) -> np.ndarray:
    w, h = size
    if image.shape[1] == w and image.shape[0] == h:
        return image
    shrink = image.shape[1] > w or image.shape[0] > h
    return cv2.resize(image, (w, h), interpolation=cv2.INTER_AREA if shrink else cv2.INTER_LINEAR)


def load_ground_truth(folder: Path | str, long_side: int | None = DEFAULT_LONG_SIDE) -> Sequence:
    """One painting in the released layout (``{index}_{m:ss}.jpg``, optional ``last_aligned_frame_inv.json``).

    Times come from the names; the white canvas at 0 is implied (unless a keyframe is at 0:00, which
    then is the start canvas itself); the last keyframe is the target. Frames are resized to the target's
    size with its long side capped at ``long_side``.
    """
    folder = Path(folder)
    if not folder.is_dir():
        raise ValueError(f"{folder}: not a folder; pass the folder of one painting's keyframes (e.g. rgb/<name>)")
    sequences = read_official_layout(folder)
    if len(sequences) != 1:
        names = ", ".join(s.name for s in sequences[:5])
        raise ValueError(f"{folder}: holds {len(sequences)} paintings ({names}, …); pass one painting's folder")
    seq = sequences[0]
    target = read_rgb(seq.target)
    size = fit_long_side((target.shape[1], target.shape[0]), long_side)
    frames = [resize_to(read_rgb(path), size) for _, path in seq.keyframes]
    times = [ms / 1000.0 for ms, _ in seq.keyframes]
    if times[0] == 0:
        return Sequence(seq.name, frames, times, implied_start=False)
    return Sequence(seq.name, [white_canvas(size), *frames], [0.0, *times], implied_start=True)


def natural_key(name: str) -> tuple:
    """Sort key that orders ``frame_2`` before ``frame_10`` (numbers compared as numbers)."""
    return tuple((0, int(p), "") if p.isdigit() else (1, 0, p.lower()) for p in _NUMBER.split(name) if p)


def generated_frame_paths(folder: Path | str) -> list[Path]:
    """Image files of a folder in natural order of their names (hidden files ignored)."""
    folder = Path(folder)
    if not folder.is_dir():
        raise ValueError(f"{folder}: not a folder; pass the folder holding the generated frames Î_1 … Î_K")
    paths = [
        p
        for p in folder.iterdir()
        if p.is_file() and not p.name.startswith(".") and p.suffix.lower() in IMAGE_EXTENSIONS
    ]
    if not paths:
        raise ValueError(
            f"{folder}: no frames found; put the generated keyframes there as {'/'.join(IMAGE_EXTENSIONS)} "
            "files named in time order (e.g. 001.png, 002.png, …)"
        )
    return sorted(paths, key=lambda p: natural_key(p.stem))


def sequence_from_frames(
    name: str, frames: list[np.ndarray], dt: float, size: tuple[int, int] | None = None
) -> Sequence:
    """Î_1 … Î_K (frame k at k·dt) with the white Î_0 prepended, resized to ``size`` (w, h) when given."""
    if not dt > 0:
        raise ValueError(f"Δt must be a positive number of seconds, got {dt}")
    if not frames:
        raise ValueError(f"{name}: no generated frames")
    if size is None:
        size = (frames[0].shape[1], frames[0].shape[0])
    frames = [resize_to(f, size) for f in frames]
    times = [k * float(dt) for k in range(len(frames) + 1)]
    return Sequence(name, [white_canvas(size), *frames], times, implied_start=True)


def load_generated(
    folder: Path | str, dt: float, size: tuple[int, int] | None = None, name: str | None = None
) -> Sequence:
    """A folder of generated keyframes Î_1 … Î_K (natural name order), frame k at k·dt, white Î_0 implied.

    ``size`` (w, h) = the ground truth's size, so that masks of both sequences can be compared.
    """
    paths = generated_frame_paths(folder)
    frames = [read_rgb(p) for p in paths]
    return sequence_from_frames(name or Path(folder).name, frames, dt, size)


def sequences_from_manifest(
    manifest: pd.DataFrame, split: str = "val", painting_col: str = "painting"
) -> list[Sequence]:
    """Ground-truth sequences of a training manifest's paintings: the first pair's I_{t-1} at 0, then every
    I_t at the running sum of the pairs' Δt (rows in manifest order, or ``pair_index`` order when present)."""
    rows = manifest[manifest["split"] == split]
    if rows.empty:
        raise ValueError(f"the manifest has no {split!r} rows; build the dataset with held-out paintings")
    out = []
    for name, pairs in rows.groupby(painting_col, sort=True):
        if "pair_index" in pairs.columns:
            pairs = pairs.sort_values("pair_index")
        frames = [read_rgb(pairs["prev_path"].iloc[0])] + [read_rgb(p) for p in pairs["next_path"]]
        times = [0.0, *np.cumsum(pairs["dt_s"].astype(float)).tolist()]
        out.append(Sequence(str(name), frames, times, implied_start=True))
    return out


def validation_sequences(
    data_root: Path | str, manifest: pd.DataFrame | None = None, long_side: int | None = DEFAULT_LONG_SIDE
) -> list[Sequence]:
    """The validation paintings of a pipeline data root: ``keyframes/<video>/`` of the held-out videos of
    ``manifest`` (default: the latest ``training_dataset`` manifest, ``training_dataset/latest.json``)."""
    import json

    layout = DataRoot(data_root)
    if manifest is None:
        latest = layout.latest_dataset_path
        if not latest.is_file():
            raise FileNotFoundError(f"{latest} missing; materialize training_dataset first (or pass the manifest)")
        manifest = pd.read_parquet(json.loads(latest.read_text())["manifest"])
    videos = sorted(manifest.loc[manifest["split"] == "val", "video_id"].unique())
    if not videos:
        raise ValueError(f"{layout.root}: the training dataset holds out no painting; raise its val_fraction")
    return [load_ground_truth(layout.images_dir("keyframes", v), long_side=long_side) for v in videos]
