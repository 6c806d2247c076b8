"""The training dataset: every labelled pair of every curated video, split by painting, versioned by content.

Rows follow ``training.train.pair_dataset.MANIFEST_COLUMNS`` plus ``pair_id``, ``video_id`` and ``pair_index``.
The split is by painting (a video's pairs are all in one split, so validation paintings are never seen in
training) and deterministic: a painting's split depends only on its id (or on the ids named for
validation, e.g. the videos of a benchmark). The version is a hash of each video's content version (its
manifest rows and the bytes of every file they reference) and of the split, so re-curating a video into
identical files keeps the version and any change of an image, mask or label changes it. Each video's content
version is also stored when its labels are materialized (``record_video_version``), so the retraining schedule
computes the version of thousands of videos without opening their files (``indexed_dataset_version``).
"""

from __future__ import annotations

import hashlib
import os
import sqlite3
from collections.abc import Iterable, Iterator, Mapping, Sequence
from contextlib import contextmanager
from pathlib import Path
from typing import NamedTuple

import pandas as pd

from training.data_root import DataRoot
from training.labels.auto import NO_LABELLER_FIX
from training.train.pair_dataset import MANIFEST_COLUMNS

MANIFEST_EXTRA = ("pair_id", "video_id", "pair_index")
FILE_COLUMNS = ("prev_path", "next_path", "target_path", "mt_path", "md_path", "mt_mask_path", "md_mask_path")


def labelled_videos(data_root: Path) -> list[str]:
    """Videos whose instruction labels, pairs and masks are all materialized."""
    layout = DataRoot(data_root)
    stems = [{p.stem for p in layout.asset_dir(a).glob("*.parquet")} for a in ("instruction_labels", "frame_pairs")]
    masks = {p.stem for p in layout.asset_dir("difference_masks").glob("*.parquet")}
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
    frames = [
        video_pairs(root, video).assign(split="val" if video in held_out else "train") for video in sorted(video_ids)
    ]
    if not frames:
        raise ValueError(
            f"{root}: no video has instruction labels yet; materialize the per-video chain (process_videos) first"
        )
    manifest, pending = _labelled_rows(pd.concat(frames, ignore_index=True))
    _check_trainable(
        labelled=len(manifest),
        pending=len(pending),
        videos=len(frames),
        has_train=manifest["split"].eq("train").any(),
        held_out=held_out,
    )
    table = manifest[[*MANIFEST_EXTRA, *MANIFEST_COLUMNS]].sort_values(["video_id", "pair_index"], ignore_index=True)
    return Manifest(table, pending)


def video_pairs(data_root: Path, video: str) -> pd.DataFrame:
    """Every pair of one video joined with its masks and label (labelled or pending), without the split.

    Raises ValueError when a pair lacks its masks or label (the per-video tables are out of step).
    """
    layout = DataRoot(data_root)
    pairs = pd.read_parquet(layout.table_path("frame_pairs", video))
    masks = pd.read_parquet(layout.table_path("difference_masks", video))
    labels = pd.read_parquet(layout.table_path("instruction_labels", video))
    joined = pairs.merge(
        masks[["pair_index", "mt_path", "md_path", "mt_mask_path", "md_mask_path"]], on="pair_index", how="inner"
    ).merge(labels[["pair_index", "pair_id", "text"]], on="pair_index", how="inner")
    if len(joined) != len(pairs):
        raise ValueError(
            f"{video}: {len(pairs)} pairs but only {len(joined)} have masks and labels; re-materialize "
            "difference_masks and instruction_labels for this video"
        )
    return joined.assign(video_id=video, painting=video)


def _labelled_rows(pairs: pd.DataFrame) -> tuple[pd.DataFrame, list[str]]:
    """The labelled pairs (text as str) and the ids of the pending ones."""
    labelled = pairs["text"].notna() & pairs["text"].astype("string").str.strip().ne("")
    rows = pairs[labelled].copy()
    rows["text"] = rows["text"].astype(str)
    return rows, pairs.loc[~labelled, "pair_id"].tolist()


def _check_trainable(labelled: int, pending: int, videos: int, has_train: bool, held_out: set[str]) -> None:
    fix = f"to fix: {NO_LABELLER_FIX}; then re-materialize instruction_labels"
    if not labelled:
        raise ValueError(f"none of the {pending} pairs of {videos} video(s) is labelled yet; {fix}")
    if not has_train:
        raise ValueError(
            f"every labelled pair belongs to a validation painting ({', '.join(sorted(held_out))}) and "
            f"{pending} pairs are pending; {fix}, or hold out fewer paintings"
        )


# The per-video part of a manifest row: the split is the dataset's, not the video's.
CONTENT_COLUMNS = tuple(c for c in (*MANIFEST_EXTRA, *MANIFEST_COLUMNS) if c != "split")


def content_version(rows: pd.DataFrame) -> str:
    """Content hash of one video's labelled manifest rows and of the bytes of every file they reference.

    The same value whichever way the rows were gathered (one video's tables, or a slice of a whole manifest):
    rows are ordered by pair index and compared as text.
    """
    digest = hashlib.sha256()
    table = rows[list(CONTENT_COLUMNS)].sort_values("pair_index", ignore_index=True).astype(str)
    digest.update(pd.util.hash_pandas_object(table, index=False).values.tobytes())
    for name in sorted({str(p) for column in FILE_COLUMNS for p in rows[column]}):
        digest.update(name.encode())
        with open(name, "rb") as handle:
            for block in iter(lambda: handle.read(1 << 20), b""):
                digest.update(block)
    return digest.hexdigest()[:16]


def combine_versions(versions: Mapping[str, str], val_videos: Iterable[str]) -> str:
    """The dataset version: a hash of the sorted (video id, content version) pairs and of the validation videos.

    ``versions`` holds the videos with at least one labelled pair; ``val_videos`` those of them held out.
    """
    digest = hashlib.sha256()
    for video in sorted(versions):
        digest.update(f"{video}\t{versions[video]}\n".encode())
    digest.update(("val\t" + "\t".join(sorted(set(val_videos)))).encode())
    return digest.hexdigest()[:16]


def dataset_version(manifest: pd.DataFrame) -> str:
    """Content version of a manifest (16 hex digits): :func:`combine_versions` over the :func:`content_version`
    of each video's rows (the manifest's rows and the bytes of every file they reference) and its split.

    Equal to :func:`indexed_dataset_version` of the same videos and split settings, which reads stored
    per-video versions instead of the files.
    """
    return combine_versions(*_manifest_versions(manifest))


def _manifest_versions(manifest: pd.DataFrame) -> tuple[dict[str, str], list[str]]:
    """Each video's content version, and the validation videos, of a manifest."""
    versions = {str(video): content_version(rows) for video, rows in manifest.groupby("video_id", sort=True)}
    return versions, manifest.loc[manifest["split"] == "val", "video_id"].astype(str).tolist()


# Stored per-video content versions: the retraining schedule's tick must not read every video's tables and
# images (10 000 videos would not fit Dagster's 60 s tick), so instruction_labels (the last per-video asset)
# records each video's version in DataRoot.content_versions_path when it materializes, and a tick only reads this index.
# A stored version is used while these per-video tables are the files it was computed from (inode, size and
# mtime unchanged: every asset rewrites its table with its images, by rename); otherwise it is recomputed.
SIGNATURE_TABLES = ("keyframes", "frame_pairs", "difference_masks", "instruction_labels")


class VideoVersion(NamedTuple):
    version: str  # content_version of the labelled rows ("" when none is labelled)
    labelled: int  # labelled pairs: a video with none is not in the dataset
    pending: int


def tables_signature(data_root: Path, video: str) -> str:
    """Identity of a video's per-video tables (inode, size, mtime of each; ``-`` for a missing one), by stat."""
    layout, parts = DataRoot(data_root), []
    for asset in SIGNATURE_TABLES:
        try:
            st = os.stat(layout.table_path(asset, video))
        except FileNotFoundError:
            parts.append("-")
        else:
            parts.append(f"{st.st_ino}:{st.st_size}:{st.st_mtime_ns}")
    return ",".join(parts)


@contextmanager
def _index(data_root: Path) -> Iterator[sqlite3.Connection]:
    path = DataRoot(data_root).content_versions_path
    path.parent.mkdir(parents=True, exist_ok=True)
    # SQLite serialises concurrent writers (partitions materialized in parallel); wait rather than fail.
    connection = sqlite3.connect(path, timeout=60)
    try:
        with connection:
            connection.execute(
                "CREATE TABLE IF NOT EXISTS video_versions (video_id TEXT PRIMARY KEY, version TEXT NOT NULL, "
                "labelled INTEGER NOT NULL, pending INTEGER NOT NULL, signature TEXT NOT NULL)"
            )
        yield connection
    except sqlite3.DatabaseError as exc:
        raise ValueError(
            f"{path}: the per-video version index cannot be used ({exc}); delete it, the next schedule tick or "
            "training_dataset rebuilds it from the per-video tables"
        ) from exc
    finally:
        connection.close()


def record_video_version(data_root: Path, video: str) -> VideoVersion:
    """Compute one video's content version from its tables and files and store it in the index.

    Raises ValueError when the video's tables are out of step (see :func:`video_pairs`), lack a column or name
    a file that is gone; its entry is then removed, so a later reader recomputes rather than trusting it.
    """
    signature = tables_signature(data_root, video)  # before reading: a table rewritten meanwhile reads as stale
    try:
        rows, pending = _labelled_rows(video_pairs(data_root, video))
        version = content_version(rows) if len(rows) else ""
    except (ValueError, KeyError, OSError) as exc:  # out of step, a column or a file missing
        with _index(data_root) as index, index:
            index.execute("DELETE FROM video_versions WHERE video_id = ?", (video,))
        if isinstance(exc, ValueError):
            raise
        raise ValueError(
            f"{video}: its frame_pairs, difference_masks and instruction_labels tables cannot be joined into "
            f"training pairs ({type(exc).__name__}: {exc}); re-materialize them for this video"
        ) from exc
    entry = VideoVersion(version, len(rows), len(pending))
    store_video_versions(data_root, {video: (entry, signature)})
    return entry


def store_video_versions(data_root: Path, entries: Mapping[str, tuple[VideoVersion, str]]) -> None:
    """Store videos' versions with the :func:`tables_signature` of the tables they were computed from, in one
    transaction."""
    with _index(data_root) as index, index:
        index.executemany(
            "INSERT OR REPLACE INTO video_versions VALUES (?, ?, ?, ?, ?)",
            [(video, *entry, signature) for video, (entry, signature) in entries.items()],
        )


def video_versions(data_root: Path, video_ids: Iterable[str]) -> dict[str, VideoVersion]:
    """Each video's content version: the stored one while its tables are unchanged (a stat per table, no
    file opened), else recomputed and stored (a data root from before the index, a table rewritten outside
    instruction_labels' run)."""
    videos = sorted(set(video_ids))
    with _index(data_root) as index:
        stored = {row[0]: row[1:] for row in index.execute("SELECT * FROM video_versions")}
    out: dict[str, VideoVersion] = {}
    for video in videos:
        row = stored.get(video)
        if row is not None and row[3] == tables_signature(data_root, video):
            out[video] = VideoVersion(*row[:3])
        else:
            out[video] = record_video_version(data_root, video)
    return out


def versioned_manifest(
    data_root: Path, video_ids: list[str], val_fraction: float = 0.2, val_paintings: Sequence[str] = ()
) -> tuple[Manifest, str]:
    """:func:`build_manifest` and its :func:`dataset_version`, storing each video's content version as computed
    from its files: the index then agrees with what was built, even where a file changed without its table."""
    signatures = {video: tables_signature(data_root, video) for video in video_ids}  # before reading
    manifest = build_manifest(data_root, video_ids, val_fraction, val_paintings)
    table = manifest.table
    versions, val_videos = _manifest_versions(table)
    labelled = table["video_id"].value_counts()
    pending = pd.Series([str(p).rsplit("/", 1)[0] for p in manifest.pending], dtype=object).value_counts()
    store_video_versions(
        data_root,
        {
            video: (
                VideoVersion(versions.get(video, ""), int(labelled.get(video, 0)), int(pending.get(video, 0))),
                signatures[video],
            )
            for video in video_ids
        },
    )
    return manifest, combine_versions(versions, val_videos)


def indexed_dataset_version(
    data_root: Path, video_ids: list[str], val_fraction: float = 0.2, val_paintings: Sequence[str] = ()
) -> str:
    """The :func:`dataset_version` that ``build_manifest(data_root, video_ids, val_fraction, val_paintings)``
    would have, from the stored per-video versions; the same ValueErrors when no pair is labelled or none is
    left for training."""
    held_out = validation_paintings(video_ids, val_fraction, val_paintings)
    entries = video_versions(data_root, video_ids)
    if not entries:
        raise ValueError(
            f"{data_root}: no video has instruction labels yet; materialize the per-video chain (process_videos) first"
        )
    versions = {video: entry.version for video, entry in entries.items() if entry.labelled}
    _check_trainable(
        labelled=sum(e.labelled for e in entries.values()),
        pending=sum(e.pending for e in entries.values()),
        videos=len(entries),
        has_train=bool(set(versions) - held_out),
        held_out=held_out,
    )
    return combine_versions(versions, held_out & set(versions))
