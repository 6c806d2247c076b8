"""Which videos are in the videos folder, and the partition key (video id) of each."""

from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import Path

VIDEO_EXTENSIONS = frozenset({".mp4", ".mov", ".m4v", ".mkv", ".webm", ".avi"})

_UNSAFE = re.compile(r"[^A-Za-z0-9_-]+")


def video_id_for(path: Path) -> str:
    """Sanitised file stem: the video's partition key and its folder name under every asset."""
    stem = _UNSAFE.sub("_", path.stem).strip("_-")
    if not stem:
        raise ValueError(f"{path}: the file name has no usable characters; rename it (letters, digits, '_', '-')")
    return stem


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
        try:
            vid = video_id_for(path)
        except ValueError as err:
            skipped[path] = str(err)
            continue
        if vid in videos:
            skipped[path] = (
                f"{path.name} has the same video id '{vid}' as {videos[vid].name}; rename one of them"
            )
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
