"""Consecutive keyframe pairs (I_{t-1}, I_t) of one video, starting from the white canvas (paper Sec. 3.2)."""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import pandas as pd

PAIR_COLUMNS = ["pair_index", "prev_t_ms", "next_t_ms", "prev_path", "next_path", "target_path", "dt_s"]


def white_canvas(size: tuple[int, int]) -> np.ndarray:
    """Pure white RGB uint8 image of ``size`` = (width, height): the state before the first stroke (I_0)."""
    width, height = (int(v) for v in size)
    if width <= 0 or height <= 0:
        raise ValueError(f"white_canvas needs a positive (width, height), got {size!r}")
    return np.full((height, width, 3), 255, np.uint8)


def make_pairs(keyframes: Sequence[tuple[int, str]], target_path: str, white_path: str) -> pd.DataFrame:
    """Consecutive keyframe pairs including (white canvas -> first keyframe).

    ``keyframes`` are ``(t_ms, path)`` in time order, the last being the target I_T. The white canvas
    sits at t = 0 ms, so the first keyframe must be later than 0 ms. Columns: ``pair_index`` (0..),
    ``prev_t_ms`` (0 for the white canvas), ``next_t_ms``, ``prev_path``, ``next_path``, ``target_path``,
    ``dt_s`` (seconds of video time, > 0). Raises ValueError naming the problem for fewer than one
    keyframe or for times that do not strictly increase.
    """
    if len(keyframes) < 1:
        raise ValueError(
            "make_pairs needs at least one keyframe (the target I_T); got none. Check the keyframes stage: "
            "every frame may have been dropped (see its table of dropped frames and reasons)."
        )
    times = [int(t) for t, _ in keyframes]
    if times[0] <= 0:
        raise ValueError(
            f"the first keyframe is at t_ms={times[0]}, but t_ms=0 is the white canvas I_0 (before the first "
            "stroke): keyframe times must be > 0. A curated video gave no clean keyframe after its first frame: "
            "it is too short or sampled too sparsely; sample more often (curate --sample-every, sampled_frames."
            "sample_every_s) or use a longer video. An imported sequence: its first keyframe must be after 0:00"
        )
    for k in range(1, len(times)):
        if times[k] <= times[k - 1]:
            raise ValueError(
                f"keyframe times must strictly increase: keyframe {k} is at t_ms={times[k]} after "
                f"t_ms={times[k - 1]}; sort the keyframes by time and drop duplicates"
            )
    prev = [(0, white_path), *((int(t), str(p)) for t, p in keyframes[:-1])]
    rows = [
        {
            "pair_index": index,
            "prev_t_ms": prev_t,
            "next_t_ms": int(next_t),
            "prev_path": prev_path,
            "next_path": str(next_path),
            "target_path": target_path,
            "dt_s": (int(next_t) - prev_t) / 1000.0,
        }
        for index, ((prev_t, prev_path), (next_t, next_path)) in enumerate(zip(prev, keyframes, strict=True))
    ]
    frame = pd.DataFrame(rows, columns=PAIR_COLUMNS)
    return frame.astype({"pair_index": "int64", "prev_t_ms": "int64", "next_t_ms": "int64", "dt_s": "float64"})
