"""Adapter for any external method: a folder of its keyframes plus its Δt (Paint Transformer, Timecraft, SVD…)."""

from __future__ import annotations

from pathlib import Path

from evaluation.sequences import Sequence, load_generated


def external_sequence(folder: Path | str, dt: float, size: tuple[int, int], name: str | None = None) -> Sequence:
    """Î_1 … Î_K from ``folder`` (image files in natural name order), frame k at k·Δt, white Î_0 implied.

    ``size`` (w, h) is the ground truth's (``gt.size``): frames are resized to it so masks compare pixel
    by pixel. Methods that keep the canvas fixed and return more frames than keyframes (Paint Transformer's
    200 frames) are given with their own Δt (the paper: 2.8 s for Paint Transformer, 23.6 s for SVD and
    Timecraft).
    """
    return load_generated(folder, dt, size=size, name=name or Path(folder).name)
