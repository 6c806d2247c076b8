"""The `synthetic` auto-labelling backend: the studio's own layer labels (synthetic videos only).

It stands in for a person correcting LLaVA's answer on the pair image (App. A.2), and a person names what
visibly changed most between the two keyframes. The truth file knows which layers were painted when, and each
layer's change mask (`layers[i]["mask"]`, the pixels that layer changed over its whole painting, written by
training.data.studio.video); the pair's M_t mask says which pixels changed in this pair. Together they give the
layer that changed most of what is seen to change (`synthetic_label`). Measured on the nearest-labeller
benchmark's 195 studio pairs, the visible rule names the layer whose strokes visibly changed most pixels (studio
re-rendered, later strokes hiding earlier ones, counted inside M_t) in 96 % of pairs; the painting-time rule,
kept for pairs without masks, in 83 %.
"""

from __future__ import annotations

import json
import warnings
from collections.abc import Sequence
from pathlib import Path

import cv2
import numpy as np

from training.data.images import read_gray

TRUTH_SUFFIX = ".truth.json"


LAYER_KEYS = ("label", "start_ms", "end_ms")  # what the synthetic backend reads of each truth layer


def find_truth(video_path: Path | str) -> Path | None:
    """The studio's `<stem>.truth.json` beside the video (symlinks followed), or None for other videos.

    A `<stem>.truth.json` in another format (a user's own annotations, another tool's) is not the studio's:
    it is ignored with a warning, so the video is labelled like any real one instead of failing.
    """
    real = Path(video_path).resolve()
    candidate = real.with_name(real.stem + TRUTH_SUFFIX)
    if not candidate.is_file():
        return None
    try:
        load_truth(candidate)
    except ValueError as exc:
        warnings.warn(f"ignoring {candidate}: not a studio truth file ({exc})", UserWarning, stacklevel=2)
        return None
    return candidate


def load_truth(path: Path | str) -> dict:
    try:
        truth = json.loads(Path(path).read_text(encoding="utf-8"))
    except (OSError, json.JSONDecodeError) as exc:
        raise ValueError(f"{path}: not a readable studio truth file ({exc}); regenerate the synthetic video") from exc
    if not isinstance(truth, dict) or not isinstance(truth.get("layers"), list):
        raise ValueError(f"{path}: truth file has no 'layers' list; regenerate the synthetic video")
    for layer in truth["layers"]:
        if not isinstance(layer, dict) or any(key not in layer for key in LAYER_KEYS):
            raise ValueError(
                f"{path}: every truth layer needs {', '.join(LAYER_KEYS)}; got {layer!r:.80}; regenerate the "
                "synthetic video"
            )
    return truth


def load_layer_masks(truth: dict, truth_path: Path | str) -> list[np.ndarray] | None:
    """Each layer's change mask (bool, canvas pixels), in `truth["layers"]` order; None when the truth has none.

    The studio writes `layers[i]["mask"]` relative to the folder of the truth file.
    """
    names = [layer.get("mask") for layer in truth["layers"]]
    if not names or any(not name for name in names):
        return None  # an older or hand-made truth file: the painting-time rule applies
    root = Path(truth_path).resolve().parent
    masks = []
    for name in names:
        path = root / name
        if not path.is_file():
            raise ValueError(f"{truth_path}: layer mask {path} is missing; regenerate the synthetic video")
        masks.append(read_gray(path) > 0)
    return masks


def _painted(layer: dict, prev_t_ms: int, next_t_ms: int) -> float | None:
    """Painting time of `layer` in (prev_t_ms, next_t_ms], or None when it is not painted there.

    A layer's painting span is [start_ms, end_ms]; a layer painted in an instant (start == end) inside the
    interval counts as a tiny positive time.
    """
    start, end = float(layer["start_ms"]), float(layer["end_ms"])
    overlap = min(end, next_t_ms) - max(start, prev_t_ms)
    if overlap < 0 or (overlap == 0 and not (start == end and prev_t_ms < start <= next_t_ms)):
        return None
    return max(overlap, 1e-3)


def synthetic_label(
    truth: dict,
    prev_t_ms: int,
    next_t_ms: int,
    changed: np.ndarray | None = None,
    layer_masks: Sequence[np.ndarray] | None = None,
) -> str | None:
    """Label of the layer whose change is largest and visible in the pair (prev_t_ms, next_t_ms]; None if none.

    Candidates are the layers painted in the interval (painting span [start_ms, end_ms] overlapping it).

    Visible rule (`changed`, the pair's binary M_t mask, and `layer_masks`, each layer's change mask, both
    given): going from the last-painted candidate to the first, each candidate claims the pixels of its
    change mask that lie inside `changed` and that no later candidate claimed (what is painted later lies on
    top, so that is what the pair shows there). The label is the candidate with the most claimed pixels. A
    person correcting the pair names what visibly changed most, which is not always the layer painted longest
    (a few minutes of birds change fewer pixels than one of grass). Layer masks are resized (nearest) to the
    M_t grid: both cover the whole canvas.

    Painting-time rule (no masks, a tie on claimed pixels, or no candidate claiming any pixel): the candidate
    painted longest in the interval; remaining ties go to the later layer.
    """
    if next_t_ms <= prev_t_ms:
        raise ValueError(f"interval ({prev_t_ms}, {next_t_ms}] is empty; next_t_ms must exceed prev_t_ms")
    layers = truth["layers"]
    candidates = [(i, t) for i, layer in enumerate(layers) if (t := _painted(layer, prev_t_ms, next_t_ms)) is not None]
    if not candidates:
        return None
    visible = dict.fromkeys((i for i, _ in candidates), 0)
    if changed is not None and layer_masks is not None:
        if len(layer_masks) != len(layers):
            raise ValueError(f"{len(layer_masks)} layer masks for {len(layers)} truth layers; reload the truth")
        region = np.asarray(changed) > 0
        free = region.copy()
        for i, _ in sorted(candidates, key=lambda c: (float(layers[c[0]]["start_ms"]), int(layers[c[0]]["index"])))[
            ::-1
        ]:
            own = _on_grid(layer_masks[i], region.shape) & free
            visible[i] = int(own.sum())
            free &= ~own
    best = max(candidates, key=lambda c: (visible[c[0]], c[1], int(layers[c[0]]["index"])))
    return str(layers[best[0]]["label"])


def _on_grid(mask: np.ndarray, shape: tuple[int, ...]) -> np.ndarray:
    mask = np.asarray(mask) > 0
    if mask.shape == shape:
        return mask
    return cv2.resize(mask.astype(np.uint8), (shape[1], shape[0]), interpolation=cv2.INTER_NEAREST) > 0
