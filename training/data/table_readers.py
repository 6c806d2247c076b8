"""Turning the per-video Parquet tables back into the objects the processing functions take."""

from collections.abc import Iterator, Sequence
from typing import Any

import numpy as np
import pandas as pd

from training.data.frames import SampledFrame
from training.data.images import read_rgb
from training.data.keyframes import Surrounds


def corners_array(cell: Any) -> np.ndarray | None:
    """A `corners` cell (4 [x, y] pairs, as Parquet returns nested lists) -> (4, 2) float32, or None."""
    if cell is None or (isinstance(cell, float) and np.isnan(cell)):
        return None
    return np.array([np.asarray(point, dtype=np.float32) for point in cell], dtype=np.float32)


def iter_table_frames(table: pd.DataFrame) -> Iterator[SampledFrame]:
    """Frames of a `t_ms, path` table, loaded one at a time (memory does not grow with video length)."""
    for t_ms, path in table[["t_ms", "path"]].itertuples(index=False):
        yield SampledFrame(int(t_ms), read_rgb(path))


class LazyFrames(Sequence):
    """(t_ms, image or None) per row of a `t_ms, path` table; images are read when indexed."""

    def __init__(self, table: pd.DataFrame) -> None:
        self.t_ms = [int(t) for t in table["t_ms"]]
        self.images = LazyImages(table["path"].tolist())
        self.paths = self.images.paths

    def __len__(self) -> int:
        return len(self.t_ms)

    def __getitem__(self, index: int) -> tuple[int, np.ndarray | None]:  # type: ignore[override]
        return self.t_ms[index], self.images[index]


class LazyImages(Sequence):
    """The RGB image at each path (None where there is no path), read when indexed."""

    def __init__(self, paths: Sequence[Any]) -> None:
        self.paths = [p if isinstance(p, str) else None for p in paths]

    def __len__(self) -> int:
        return len(self.paths)

    def __getitem__(self, index: int) -> np.ndarray | None:  # type: ignore[override]
        path = self.paths[index]
        return read_rgb(path) if path else None


def table_surrounds(table: pd.DataFrame) -> Surrounds | None:
    """The surrounds of a `canvas_frames` table, or None when it has none (written with ``surround_margin`` 0,
    or before surrounds existed)."""
    if "surround_path" not in table or table["surround_path"].isna().all():
        return None
    return Surrounds(LazyImages(table["surround_path"].tolist()), float(table["surround_margin"].dropna().iloc[0]))
