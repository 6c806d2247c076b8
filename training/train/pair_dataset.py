"""Training pairs from a manifest table (one row per (I_{t-1}, I_t) pair), resized to the model resolution.

Manifest columns: prev_path, next_path, target_path, mt_path, md_path (soft maps), mt_mask_path,
md_mask_path (binary masks at α), dt_s, text, painting, split. Relative paths are resolved against
``root``. Decoded tensors are cached in memory (the tiny preset's data is small; pass cache=False at scale).
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import torch

from training.data.images import read_gray, read_rgb
from training.models.frozen_encoders import images_to_tensor, masks_to_tensor

MANIFEST_COLUMNS = (
    "prev_path",
    "next_path",
    "target_path",
    "mt_path",
    "md_path",
    "mt_mask_path",
    "md_mask_path",
    "dt_s",
    "text",
    "painting",
    "split",
)


def check_manifest(manifest: pd.DataFrame) -> None:
    missing = [c for c in MANIFEST_COLUMNS if c not in manifest.columns]
    if missing:
        raise ValueError(f"training manifest lacks columns {missing}; it needs {list(MANIFEST_COLUMNS)}")


class PairDataset:
    """Rows of one split as tensors: images (3,R,R) in [-1,1], binary masks (1,R,R) in [0,1], dt_s, text."""

    def __init__(
        self,
        manifest: pd.DataFrame,
        resolution: int,
        split: str | None = "train",
        root: Path | str | None = None,
        cache: bool = True,
    ) -> None:
        check_manifest(manifest)
        rows = manifest if split is None else manifest[manifest["split"] == split]
        if rows.empty:
            raise ValueError(
                f"training manifest has no rows with split == {split!r} (splits: {sorted(manifest['split'].unique())})"
            )
        self.rows = rows.reset_index(drop=True)
        self.resolution = int(resolution)
        self.root = Path(root) if root is not None else None
        self._cache: dict[int, dict] | None = {} if cache else None

    def __len__(self) -> int:
        return len(self.rows)

    def _path(self, value: str) -> Path:
        p = Path(value)
        if not p.is_absolute() and self.root is not None:
            p = self.root / p
        if not p.exists():
            raise FileNotFoundError(f"manifest references {p}, which does not exist; rebuild the training dataset")
        return p

    def __getitem__(self, i: int) -> dict:
        if self._cache is not None and i in self._cache:
            return self._cache[i]
        row = self.rows.iloc[i]
        r = self.resolution
        item = {
            "prev": images_to_tensor(read_rgb(self._path(row.prev_path)), r)[0],
            "next": images_to_tensor(read_rgb(self._path(row.next_path)), r)[0],
            "target": images_to_tensor(read_rgb(self._path(row.target_path)), r)[0],
            "mt": masks_to_tensor(read_gray(self._path(row.mt_mask_path)) > 127, r)[0],
            "md": masks_to_tensor(read_gray(self._path(row.md_mask_path)) > 127, r)[0],
            "dt_s": float(row.dt_s),
            "text": str(row.text),
        }
        if self._cache is not None:
            self._cache[i] = item
        return item

    def batch(self, indices: np.ndarray | list[int]) -> dict:
        items = [self[int(i)] for i in indices]
        out = {k: torch.stack([it[k] for it in items]) for k in ("prev", "next", "target", "mt", "md")}
        out["dt_s"] = torch.tensor([it["dt_s"] for it in items], dtype=torch.float32)
        out["text"] = [it["text"] for it in items]
        return out
