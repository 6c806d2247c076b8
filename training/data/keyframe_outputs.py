"""What the curate stage writes per video: the kept keyframes (the paper's naming), their table, the dropped table.

The same outputs come from a curation (:func:`write_keyframes`) or from already-curated frames such as the
paper's released sequences (:func:`write_imported_keyframes`). The folder is staged and swapped in whole, the
tables renamed into place (training/data/storage.py).
"""

from __future__ import annotations

import shutil
from pathlib import Path

import pandas as pd

from training.data.keyframes import KeyframeSelection
from training.data.storage import atomic_dir, write_parquet
from training.data.table_readers import LazyFrames
from training.data_root import KEYFRAMES, DataRoot


def keyframe_name(index: int, t_ms: int) -> str:
    """The paper's released naming, `{index}_{m:ss}.jpg` (index from 1, the target last)."""
    seconds = t_ms // 1000
    return f"{index}_{seconds // 60}:{seconds % 60:02d}.jpg"


def keyframes_outputs(layout: DataRoot, video_id: str) -> list[Path]:
    """What the keyframes step writes for a video: the folder, its table, the dropped-frames table."""
    return [
        layout.images_dir(KEYFRAMES, video_id),
        layout.table_path(KEYFRAMES, video_id),
        layout.dropped_table_path(video_id),
    ]


def write_keyframe_tables(
    layout: DataRoot, video_id: str, kept_rows: list[dict], dropped_rows: list[dict]
) -> tuple[pd.DataFrame, pd.DataFrame]:
    """keyframes/<id>.parquet (t_ms, path, is_target) and keyframes/<id>.dropped.parquet (t_ms, reason, detail)."""
    kept = pd.DataFrame(kept_rows, columns=["t_ms", "path", "is_target"])
    dropped = pd.DataFrame(dropped_rows, columns=["t_ms", "reason", "detail"]).astype({"t_ms": "int64"})
    write_parquet(kept, layout.table_path(KEYFRAMES, video_id))
    write_parquet(dropped, layout.dropped_table_path(video_id))
    return kept, dropped


def write_keyframes(
    layout: DataRoot, video_id: str, frames: LazyFrames, selection: KeyframeSelection
) -> tuple[pd.DataFrame, pd.DataFrame, dict[int, str]]:
    """Copy the kept frames under keyframes/<id>/ and write both tables; return them and t_ms -> path."""
    target_dir = layout.images_dir(KEYFRAMES, video_id)
    index_of = {t: i for i, t in enumerate(frames.t_ms)}
    rows, path_of = [], {}
    with atomic_dir(target_dir) as tmp:
        for number, t_ms in enumerate(selection.kept_t_ms, start=1):
            name = keyframe_name(number, t_ms)
            shutil.copyfile(frames.paths[index_of[t_ms]], tmp / name)  # no second JPEG encoding
            path_of[t_ms] = str(target_dir / name)
            rows.append({"t_ms": t_ms, "path": path_of[t_ms], "is_target": t_ms == selection.target_t_ms})
    dropped_rows = [{"t_ms": d.t_ms, "reason": d.reason, "detail": d.detail} for d in selection.decisions if not d.kept]
    kept, dropped = write_keyframe_tables(layout, video_id, rows, dropped_rows)
    return kept, dropped, path_of


def write_imported_keyframes(layout: DataRoot, video_id: str, frames: list[tuple[int, Path]]) -> Path:
    """The keyframes outputs of already-curated ``(t_ms, file)`` frames (the last is the target): copies under
    their own names, the table, an empty dropped table; returns the table's path."""
    folder = layout.images_dir(KEYFRAMES, video_id)
    rows = []
    with atomic_dir(folder) as tmp:
        for number, (t_ms, source) in enumerate(frames, start=1):
            shutil.copyfile(source, tmp / source.name)
            rows.append({"t_ms": t_ms, "path": str(folder / source.name), "is_target": number == len(frames)})
    write_keyframe_tables(layout, video_id, rows, dropped_rows=[])  # curated upstream: nothing dropped here
    return layout.table_path(KEYFRAMES, video_id)
