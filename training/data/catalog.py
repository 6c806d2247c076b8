"""Which videos are in the videos folder, and the partition key (video id) of each."""

from __future__ import annotations

import hashlib
import re
import unicodedata
from dataclasses import dataclass
from pathlib import Path

VIDEO_EXTENSIONS = frozenset({".mp4", ".mov", ".m4v", ".mkv", ".webm", ".avi"})

_UNSAFE = re.compile(r"[^A-Za-z0-9_-]+")
# The longest name an asset writes from an id is the temporary file of `keyframes/<id>.dropped.parquet`
# (training/data/storage.py atomic_path: `.<name>.<8 random>.tmp.parquet`); a file name has at most 255 bytes.
# Longer ids could never be curated, so capping them changes no id that worked.
MAX_ID_LENGTH = 255 - len("..dropped.parquet.") - 8 - len(".tmp.parquet")  # 217


def _safe(text: str) -> str:
    return _UNSAFE.sub("_", text).strip("_-")


def _short_hash(text: str) -> str:
    # NFC: macOS spells "é" as e + combining accent in file names, Linux usually as one character.
    return hashlib.sha1(unicodedata.normalize("NFC", text).encode()).hexdigest()[:8]


def video_id_for(path: Path) -> str:
    """The video's partition key and its folder name under every asset, from the file name; never fails."""
    return id_for_name(path.stem)


def id_for_name(stem: str) -> str:
    """A partition key from a name (a video file's stem, an imported sequence's folder name); never fails.

    The name transliterated to ASCII (NFKD, accents dropped: ``Café`` -> ``Cafe``, ``ééé`` -> ``eee``), then
    its letters, digits, ``_`` and ``-``, other runs of characters as ``_`` (``My Painting (2).MP4`` ->
    ``My_Painting_2``); an ASCII name keeps the id it always had (ids are partition keys). Where nothing is
    left (``日本.mp4``) the id is ``video_`` + 8 hex digits of a hash of the name: the same name always gives
    the same id. Over MAX_ID_LENGTH characters the id is cut and that hash appended, so long names stay apart.
    """
    video_id = _safe(unicodedata.normalize("NFKD", stem).encode("ascii", "ignore").decode())
    if not video_id:
        return f"video_{_short_hash(stem)}"
    if len(video_id) > MAX_ID_LENGTH:
        return f"{video_id[: MAX_ID_LENGTH - 9].rstrip('_-')}_{_short_hash(stem)}"
    return video_id


@dataclass(frozen=True)
class VideoCatalog:
    """The videos found in a folder, keyed by video id, plus files that were skipped and why."""

    videos: dict[str, Path]
    skipped: dict[Path, str]


def scan_videos(videos_dir: Path) -> VideoCatalog:
    """Find video files in `videos_dir` (not recursive). Hidden and partial files are ignored.

    Two files whose names sanitise to the same id (``a b.mp4`` and ``a_b.mov``) cannot both be
    partitions: the first in sorted order wins and the other is reported as skipped.
    """
    videos: dict[str, Path] = {}
    skipped: dict[Path, str] = {}
    if not videos_dir.is_dir():
        return VideoCatalog(videos, skipped)
    for path in sorted(videos_dir.iterdir()):
        if path.name.startswith(".") or not path.is_file():
            continue
        if path.suffix.lower() not in VIDEO_EXTENSIONS:
            continue
        vid = video_id_for(path)
        if vid in videos:
            skipped[path] = f"{path.name} has the same video id '{vid}' as {videos[vid].name}; rename one of them"
            continue
        videos[vid] = path
    return VideoCatalog(videos, skipped)


def new_video_ids(catalog: VideoCatalog, known: set[str] | frozenset[str]) -> list[str]:
    """Ids present in the folder but not yet registered, in sorted order."""
    return sorted(set(catalog.videos) - set(known))


def find_video(videos_dir: Path, video_id: str) -> Path:
    """The file behind a partition key, with an error that says what to do when it is gone."""
    catalog = scan_videos(videos_dir)
    if video_id not in catalog.videos:
        raise FileNotFoundError(
            f"No video with id '{video_id}' in {videos_dir}: the file was moved or renamed. Put it back, "
            f"or delete the partition '{video_id}' in the Dagster UI (Assets > source_video > Partitions)."
        )
    return catalog.videos[video_id]
