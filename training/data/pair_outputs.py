"""What the annotate stage writes per video: the keyframe pairs with their white canvas, and the difference maps.

Image folders are staged and swapped in whole, tables renamed into place (training/data/storage.py).
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import pandas as pd

from training.data.difference import DistanceBackend, binarize, distance_maps, mean_distance, to_soft_png
from training.data.images import read_rgb, write_image
from training.data.pairs import make_pairs, white_canvas
from training.data.storage import atomic_dir, write_parquet
from training.data_root import DataRoot

FRAME_PAIRS = "frame_pairs"
DIFFERENCE_MASKS = "difference_masks"
WHITE = "white.png"  # under frame_pairs/<video_id>/: I_0 at the target's size


def write_frame_pairs(keyframes: pd.DataFrame, layout: DataRoot, video_id: str) -> tuple[Path, pd.DataFrame]:
    """Consecutive pairs of ``keyframes`` (its table: ``t_ms, path, is_target``), white canvas first.

    Writes ``frame_pairs/<id>/white.png`` (white at the target's size) and ``frame_pairs/<id>.parquet``;
    returns the table's path and the pairs. ValueError when the keyframes hold no target I_T.
    """
    if not keyframes["is_target"].any():
        raise ValueError(f"{video_id}: keyframes has no target I_T; see the keyframes asset check target_exists")
    target_path = str(keyframes.loc[keyframes["is_target"], "path"].iloc[-1])
    height, width = read_rgb(target_path).shape[:2]
    folder = layout.images_dir(FRAME_PAIRS, video_id)
    with atomic_dir(folder) as tmp:
        write_image(tmp / WHITE, white_canvas((width, height)))
    frames = list(keyframes[["t_ms", "path"]].itertuples(index=False, name=None))
    pairs = make_pairs(frames, target_path, str(folder / WHITE))
    return write_parquet(pairs, layout.table_path(FRAME_PAIRS, video_id)), pairs


def pair_images(pairs: pd.DataFrame) -> Iterator[tuple[np.ndarray, np.ndarray]]:
    """(I_t, I_{t-1}) then (I_T, I_{t-1}) for every pair: M_t and M_d interleaved, one stream for batching."""
    target = read_rgb(pairs["target_path"].iloc[0])
    for prev_path, next_path in pairs[["prev_path", "next_path"]].itertuples(index=False):
        previous = read_rgb(prev_path)
        yield read_rgb(next_path), previous
        yield target, previous


@dataclass(frozen=True)
class WrittenMasks:
    """difference_masks of one video as written: its table's path, the table, the first few M_t maps (RGB)."""

    table_path: Path
    table: pd.DataFrame
    previews: list[np.ndarray] = field(default_factory=list)


def write_difference_masks(
    pairs: pd.DataFrame,
    backend: DistanceBackend,
    layout: DataRoot,
    video_id: str,
    batch_size: int = 16,
    previews: int = 6,
) -> WrittenMasks:
    """M_t = D(I_t, I_{t-1}) and M_d = D(I_T, I_{t-1}) of every pair of ``pairs`` (frame_pairs' table).

    Per pair and kind (``mt``, ``md``): ``<NNN>_<kind>.png``, the soft map (8-bit, value×255), and
    ``<NNN>_<kind>_mask.png``, binary at the backend's threshold, under ``difference_masks/<id>/``; the table
    ``difference_masks/<id>.parquet`` holds their paths, each mask's area and each map's mean, backend, threshold.
    """
    folder = layout.images_dir(DIFFERENCE_MASKS, video_id)
    rows: list[dict] = []
    shown: list[np.ndarray] = []
    maps = distance_maps(backend, pair_images(pairs), batch_size=batch_size)
    with atomic_dir(folder) as tmp:
        for index in pairs["pair_index"]:
            row: dict = {"pair_index": int(index)}
            for kind in ("mt", "md"):
                soft = next(maps)
                mask = binarize(soft, backend.threshold)
                write_image(tmp / f"{index:03d}_{kind}.png", to_soft_png(soft))
                write_image(tmp / f"{index:03d}_{kind}_mask.png", mask.astype(np.uint8) * 255)
                row |= {
                    f"{kind}_path": str(folder / f"{index:03d}_{kind}.png"),
                    f"{kind}_mask_path": str(folder / f"{index:03d}_{kind}_mask.png"),
                    f"{kind}_area": float(mask.mean()),
                    f"{kind}_mean": mean_distance(soft),
                }
                if kind == "mt" and len(shown) < previews:
                    shown.append(np.repeat(to_soft_png(soft)[:, :, None], 3, axis=2))
            rows.append(row)
    table = pd.DataFrame(rows).assign(backend=backend.name, threshold=backend.threshold)
    return WrittenMasks(write_parquet(table, layout.table_path(DIFFERENCE_MASKS, video_id)), table, shown)
