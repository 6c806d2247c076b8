"""The training dataset: every labelled pair of every curated video, split by painting, versioned by content.

Rows follow ``training.train.pair_dataset.MANIFEST_COLUMNS`` plus ``pair_id``, ``video_id`` and ``pair_index``.
The split is by painting (a video's pairs are all in one split, so validation paintings are never seen in
training) and deterministic: a painting's split depends only on its id (or on the ids named for
validation, e.g. the videos of a benchmark). The version is a hash of the manifest and of the bytes of every
file it references, so re-curating a video into identical files keeps the version and any change of an image,
mask or label changes it.
"""

from __future__ import annotations

import hashlib
from collections.abc import Sequence
from pathlib import Path
from typing import NamedTuple

import pandas as pd

from training.labels.auto import NO_LABELLER_FIX
from training.train.pair_dataset import MANIFEST_COLUMNS

MANIFEST_EXTRA = ("pair_id", "video_id", "pair_index")
FILE_COLUMNS = ("prev_path", "next_path", "target_path", "mt_path", "md_path", "mt_mask_path", "md_mask_path")


def labelled_videos(data_root: Path) -> list[str]:
    """Videos whose instruction labels, pairs and masks are all materialized."""
    root = Path(data_root)
    stems = [{p.stem for p in (root / a).glob("*.parquet")} for a in ("instruction_labels", "frame_pairs")]
    masks = {p.stem for p in (root / "difference_masks").glob("*.parquet")}
    return sorted(stems[0] & stems[1] & masks)


def validation_paintings(video_ids: list[str], val_fraction: float, val_paintings: Sequence[str] = ()) -> set[str]:
    """The paintings held out for validation: ``val_paintings`` when given, else the ``val_fraction`` share
    with the smallest id hashes.

    Named paintings must be among ``video_ids`` and leave one for training (ValueError naming the problem).
    By fraction, at least one painting is held out when there are two or more, and at least one is kept for
    training; adding a video never moves another video across the split unless the held-out count grows.
    """
    if not 0 <= val_fraction < 1:
        raise ValueError(f"val_fraction must be in [0, 1), got {val_fraction}")
    ids = sorted(set(video_ids))
    if val_paintings:
        named = set(val_paintings)
        unknown = sorted(named - set(ids))
        if unknown:
            raise ValueError(
                f"validation_paintings {unknown} are not labelled videos; name them among the known ids "
                f"({', '.join(ids) or 'none yet'}) or materialize their per-video chain first"
            )
        if named == set(ids):
            raise ValueError(
                f"validation_paintings holds out every labelled video ({', '.join(ids)}); leave at least one "
                "for training"
            )
        return named
    if len(ids) < 2 or val_fraction == 0:
        return set()
    count = min(max(1, round(val_fraction * len(ids))), len(ids) - 1)
    ranked = sorted(ids, key=lambda v: hashlib.sha256(v.encode()).hexdigest())
    return set(ranked[:count])


class Manifest(NamedTuple):
    table: pd.DataFrame  # the labelled pairs (MANIFEST_EXTRA + MANIFEST_COLUMNS)
    pending: list[str]  # pair ids left out: no label yet (auto backend without an answer, nobody corrected them)


def build_manifest(
    data_root: Path, video_ids: list[str], val_fraction: float = 0.2, val_paintings: Sequence[str] = ()
) -> Manifest:
    """One row per labelled pair of ``video_ids`` (MANIFEST_COLUMNS + pair_id, video_id, pair_index), and the
    ids of the pending pairs left out (training on them would teach the text generator an empty answer).

    The split follows :func:`validation_paintings`: exactly ``val_paintings`` when given, else ``val_fraction``.
    Raises ValueError when no pair is labelled, or when no labelled pair is left for training.
    """
    root = Path(data_root)
    held_out = validation_paintings(video_ids, val_fraction, val_paintings)
    frames = []
    for video in sorted(video_ids):
        pairs = pd.read_parquet(root / "frame_pairs" / f"{video}.parquet")
        masks = pd.read_parquet(root / "difference_masks" / f"{video}.parquet")
        labels = pd.read_parquet(root / "instruction_labels" / f"{video}.parquet")
        joined = pairs.merge(
            masks[["pair_index", "mt_path", "md_path", "mt_mask_path", "md_mask_path"]], on="pair_index", how="inner"
        ).merge(labels[["pair_index", "pair_id", "text"]], on="pair_index", how="inner")
        if len(joined) != len(pairs):
            raise ValueError(
                f"{video}: {len(pairs)} pairs but only {len(joined)} have masks and labels; re-materialize "
                "difference_masks and instruction_labels for this video"
            )
        frames.append(joined.assign(video_id=video, painting=video, split="val" if video in held_out else "train"))
    if not frames:
        raise ValueError(
            f"{root}: no video has instruction labels yet; materialize the per-video chain (process_videos) first"
        )
    everything = pd.concat(frames, ignore_index=True)
    labelled = everything["text"].notna() & everything["text"].astype("string").str.strip().ne("")
    pending = everything.loc[~labelled, "pair_id"].tolist()
    manifest = everything[labelled].copy()
    fix = f"to fix: {NO_LABELLER_FIX}; then re-materialize instruction_labels"
    if manifest.empty:
        raise ValueError(f"none of the {len(pending)} pairs of {len(frames)} video(s) is labelled yet; {fix}")
    if not manifest["split"].eq("train").any():
        raise ValueError(
            f"every labelled pair belongs to a validation painting ({', '.join(sorted(held_out))}) and "
            f"{len(pending)} pairs are pending; {fix}, or hold out fewer paintings"
        )
    manifest["text"] = manifest["text"].astype(str)
    table = manifest[[*MANIFEST_EXTRA, *MANIFEST_COLUMNS]].sort_values(["video_id", "pair_index"], ignore_index=True)
    return Manifest(table, pending)


def dataset_version(manifest: pd.DataFrame) -> str:
    """Content hash of the manifest and of every file it references (16 hex digits)."""
    digest = hashlib.sha256()
    table = manifest[[*MANIFEST_EXTRA, *MANIFEST_COLUMNS]].astype(str)
    digest.update(pd.util.hash_pandas_object(table, index=False).values.tobytes())
    files = sorted({str(p) for column in FILE_COLUMNS for p in manifest[column]})
    for name in files:
        digest.update(name.encode())
        with open(name, "rb") as handle:
            for block in iter(lambda: handle.read(1 << 20), b""):
                digest.update(block)
    return digest.hexdigest()[:16]
