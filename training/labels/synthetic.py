"""The `synthetic` auto-labelling backend: the studio's own layer labels (synthetic videos only)."""

from __future__ import annotations

import json
from pathlib import Path

TRUTH_SUFFIX = ".truth.json"


def find_truth(video_path: Path | str) -> Path | None:
    """The studio's `<stem>.truth.json` beside the video (symlinks followed), or None for other videos."""
    real = Path(video_path).resolve()
    candidate = real.with_name(real.stem + TRUTH_SUFFIX)
    return candidate if candidate.is_file() else None


def load_truth(path: Path | str) -> dict:
    try:
        truth = json.loads(Path(path).read_text(encoding="utf-8"))
    except (OSError, json.JSONDecodeError) as exc:
        raise ValueError(f"{path}: not a readable studio truth file ({exc}); regenerate the synthetic video") from exc
    if not isinstance(truth, dict) or not isinstance(truth.get("layers"), list):
        raise ValueError(f"{path}: truth file has no 'layers' list; regenerate the synthetic video")
    return truth


def synthetic_label(truth: dict, prev_t_ms: int, next_t_ms: int) -> str | None:
    """Label of the layer painted most in (prev_t_ms, next_t_ms]; ties go to the later layer.

    A layer's painting span is [start_ms, end_ms]; its share of the interval is the overlap length
    (a layer painted in an instant, start == end, counts as a tiny positive overlap when inside).
    Returns None when no layer is painted in the interval.
    """
    if next_t_ms <= prev_t_ms:
        raise ValueError(f"interval ({prev_t_ms}, {next_t_ms}] is empty; next_t_ms must exceed prev_t_ms")
    best: tuple[float, int, str] | None = None
    for layer in truth["layers"]:
        start, end = float(layer["start_ms"]), float(layer["end_ms"])
        overlap = min(end, next_t_ms) - max(start, prev_t_ms)
        if overlap < 0 or (overlap == 0 and not (start == end and prev_t_ms < start <= next_t_ms)):
            continue
        key = (max(overlap, 1e-3), int(layer["index"]), str(layer["label"]))
        if best is None or key[:2] > best[:2]:
            best = key
    return None if best is None else best[2]
