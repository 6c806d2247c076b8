"""Importer of the paper's released data layout as already-curated keyframe sequences.

The authors' release (``sample_data/train/rgb/<name>/``) holds one folder per painting with keyframes
named ``{index}_{m:ss}.jpg`` (e.g. ``10_3:21.jpg``: the 10th keyframe, 3 min 21 s into the video) and a
``last_aligned_frame_inv.json`` that maps the target frame's name (the finished painting I_T) to the
ordered list of the other keyframes' names::

    {"10_3:21": ["1_0:15", "2_0:40", ..., "9_2:43"]}

Their processed outputs (``lpips/<name>/<cur>.jpg``, ``text/<name>/<cur>.json``) are not read here.
"""

from __future__ import annotations

import itertools
import json
import re
from dataclasses import dataclass
from pathlib import Path

from training.data.catalog import id_for_name

ORDER_FILE = "last_aligned_frame_inv.json"
IMAGE_EXTENSIONS = (".jpg", ".jpeg", ".png")

_FRAME_NAME = re.compile(r"^(\d+)_(\d+(?::\d+){1,2})$")


@dataclass(frozen=True)
class OfficialSequence:
    """One painting of the released layout: its keyframes in time order, the target I_T last."""

    name: str
    keyframes: list[tuple[int, Path]]
    target: Path


def _strip_image_extension(name: str) -> str:
    lower = name.lower()
    for ext in IMAGE_EXTENSIONS:
        if lower.endswith(ext):
            return name[: -len(ext)]
    return name


def _clock_to_ms(clock: str, name: str) -> int:
    """``m:ss`` (minutes may exceed 59) or ``h:mm:ss`` -> milliseconds."""
    parts = [int(p) for p in clock.split(":")]
    if any(p >= 60 for p in parts[1:]):
        raise ValueError(f"{name!r}: seconds and minutes after the first field must be below 60 (m:ss or h:mm:ss)")
    seconds = 0
    for part in parts:
        seconds = seconds * 60 + part
    return seconds * 1000


def parse_frame_name(name: str) -> tuple[int, int]:
    """``"10_3:21"`` or ``"10_3:21.jpg"`` -> ``(10, 201000)``: the keyframe index and its time in ms.

    The time is ``m:ss`` (minutes may exceed 59, e.g. ``75:04``) or ``h:mm:ss``.
    """
    stem = _strip_image_extension(Path(name).name)
    match = _FRAME_NAME.match(stem)
    if match is None:
        raise ValueError(
            f"{name!r} is not a keyframe name of the released layout: expected '<index>_<m:ss>' or "
            "'<index>_<h:mm:ss>' with an optional .jpg/.png extension, e.g. '10_3:21.jpg'"
        )
    return int(match.group(1)), _clock_to_ms(match.group(2), name)


def _frame_files(folder: Path) -> dict[str, Path]:
    """Keyframe files of a folder by their name without extension (files that are not keyframes are ignored)."""
    files: dict[str, Path] = {}
    for path in sorted(folder.iterdir()):
        if not path.is_file() or path.suffix.lower() not in IMAGE_EXTENSIONS:
            continue
        stem = _strip_image_extension(path.name)
        if not _FRAME_NAME.match(stem):
            continue
        if stem in files:
            raise ValueError(f"{path}: two files for keyframe {stem!r} ({files[stem].name}); keep one of them")
        files[stem] = path
    return files


def _is_sequence_folder(folder: Path) -> bool:
    return (folder / ORDER_FILE).is_file() or bool(_frame_files(folder))


def _order_from_json(folder: Path, files: dict[str, Path]) -> list[str]:
    path = folder / ORDER_FILE
    try:
        mapping = json.loads(path.read_text())
    except json.JSONDecodeError as exc:
        raise ValueError(f"{path}: not valid JSON ({exc}); it should map the target name to a list of names") from exc
    if not isinstance(mapping, dict) or len(mapping) != 1:
        raise ValueError(f"{path}: expected one entry {{target name: [other keyframe names in order]}}")
    [(target, others)] = list(mapping.items())
    if not isinstance(others, list) or not all(isinstance(n, str) for n in others):
        raise ValueError(f"{path}: the value of {target!r} must be a list of keyframe names")
    order = [_strip_image_extension(n) for n in [*others, target]]
    for stem in order:
        if stem not in files:
            raise ValueError(f"{folder / stem}: listed in {ORDER_FILE} but no .jpg/.png file of that name exists")
    seen: set[str] = set()
    for stem in order:
        if stem in seen:
            raise ValueError(f"{folder / stem}: listed twice in {path}")
        seen.add(stem)
    unlisted = sorted(set(files) - seen)
    if unlisted:
        raise ValueError(
            f"{files[unlisted[0]]}: a keyframe file not listed in {path} ({len(unlisted)} such file(s)); "
            "add it to the list or remove it"
        )
    return order


def _read_sequence(folder: Path) -> OfficialSequence:
    files = _frame_files(folder)
    if not files:
        raise ValueError(f"{folder}: no keyframe files named like '10_3:21.jpg'")
    parsed = {stem: parse_frame_name(stem) for stem in files}
    by_index: dict[int, str] = {}
    for stem, (index, _) in sorted(parsed.items()):
        if index in by_index:
            raise ValueError(f"{files[stem]}: keyframe index {index} is also used by {files[by_index[index]].name}")
        by_index[index] = stem
    if (folder / ORDER_FILE).is_file():
        order = _order_from_json(folder, files)
    else:
        order = [by_index[i] for i in sorted(by_index)]
    for prev, cur in itertools.pairwise(order):
        (i0, t0), (i1, t1) = parsed[prev], parsed[cur]
        if t1 <= t0:
            raise ValueError(f"{files[cur]}: time {cur!r} is not after the previous keyframe {prev!r}")
        if i1 <= i0:
            raise ValueError(f"{files[cur]}: index {i1} does not follow the previous keyframe's index {i0} ({prev!r})")
    keyframes = [(parsed[stem][1], files[stem]) for stem in order]
    return OfficialSequence(name=id_for_name(folder.name), keyframes=keyframes, target=keyframes[-1][1])


def _sequence_folders(root: Path) -> list[Path]:
    """Detect what ``root`` is: a folder holding ``rgb/``, the ``rgb`` folder itself, or one sequence folder."""
    if not root.is_dir():
        raise ValueError(
            f"{root}: not a folder; pass the folder holding rgb/<name>/, the rgb folder or one <name> folder"
        )
    if (root / "rgb").is_dir():
        root = root / "rgb"
    if _is_sequence_folder(root):
        return [root]
    subfolders = sorted(p for p in root.iterdir() if p.is_dir())
    sequences = [p for p in subfolders if _is_sequence_folder(p)]
    if sequences:
        return sequences
    splits = [p.name for p in subfolders if (p / "rgb").is_dir()]
    hint = f" It has split folders {splits}: pass one of them." if splits else ""
    raise ValueError(f"{root}: no keyframe sequences found (expected rgb/<name>/<index>_<m:ss>.jpg).{hint}")


def read_official_layout(root: Path) -> list[OfficialSequence]:
    """All sequences under ``root``, each validated, in folder-name order.

    Order comes from ``last_aligned_frame_inv.json`` when present (the target last), else from the
    keyframe index. Missing or unlisted files, duplicate indices and times that do not increase raise a
    ValueError naming the file.
    """
    sequences = [_read_sequence(folder) for folder in _sequence_folders(Path(root))]
    names: dict[str, Path] = {}
    for seq in sequences:
        folder = seq.target.parent
        if seq.name in names:
            raise ValueError(f"{folder}: its video id {seq.name!r} is also the id of {names[seq.name]}; rename one")
        names[seq.name] = folder
    return sequences
