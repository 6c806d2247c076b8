"""The comparison of methods: who beats whom on which metric, and the table as Markdown."""

from __future__ import annotations

from collections.abc import Sequence as Seq
from typing import Any

import numpy as np
import pandas as pd

from evaluation.metrics.score import LOWER_IS_BETTER, METRICS
from training.data.difference import DistanceBackend, is_true_lpips

CURVE_METRICS = ("distance", "iou", "ddc", "dts")  # the four the targets compare (FID needs weights)
LABELS = {"iou": "IoU", "ddc": "DDC", "dts": "DTS (min)", "fid": "FID"}  # the distance: distance_label()


def head_to_head(table: pd.DataFrame, method: str = "ours", metrics: Seq[str] = CURVE_METRICS) -> dict[str, list[str]]:
    """For every other method of the table, the metrics on which ``method`` is strictly better."""
    rows = table.set_index("method")
    if method not in rows.index:
        return {}
    mine = rows.loc[method]
    out: dict[str, list[str]] = {}
    for other, row in rows.drop(index=method).iterrows():
        better = []
        for m in metrics:
            a, b = mine[m], row[m]
            if pd.isna(a) or pd.isna(b):
                continue
            if (float(a) < float(b)) if LOWER_IS_BETTER[m] else (float(a) > float(b)):
                better.append(m)
        out[str(other)] = better
    return out


def head_to_head_markdown(table: pd.DataFrame, distance: DistanceBackend, method: str = "ours") -> str:
    """One line per other method: where ``method`` is better, of the four metrics the targets compare."""
    labels = {**LABELS, "distance": distance_label(distance)}
    lines = []
    for other, better in head_to_head(table, method).items():
        named = ", ".join(labels[m] for m in better) or "none"
        lines.append(f"- {method} vs {other}: better on {len(better)} of {len(CURVE_METRICS)} ({named})")
    return "\n".join(lines)


def _fmt(value: Any) -> str:
    if value is None or (isinstance(value, float) and np.isnan(value)):
        return "n/a"
    return f"{value:.4g}" if isinstance(value, float) else str(value)


def distance_label(distance: DistanceBackend) -> str:
    """What the perceptual-distance numbers are called: "LPIPS" only when they are; other backends (or LPIPS
    on a random backbone) go by their name."""
    return "LPIPS" if is_true_lpips(distance.name) else f"D ({distance.name})"


def comparison_markdown(table: pd.DataFrame, distance: DistanceBackend, fid_note: str) -> str:
    """Methods as rows, metrics as columns (arrow = better direction, best in bold), backends in a footer."""
    cols = list(METRICS)
    labels = {**LABELS, "distance": distance_label(distance)}
    header = ["method", "Δt (s)", *[f"{labels[m]} {'↓' if LOWER_IS_BETTER[m] else '↑'}" for m in cols]]
    best = {}
    for m in cols:
        values = table[m].astype(float)
        if values.notna().any():
            best[m] = values.min() if LOWER_IS_BETTER[m] else values.max()
    lines = ["| " + " | ".join(header) + " |", "|" + "---|" * len(header)]
    for row in table.itertuples(index=False):
        cells = [row.method, f"{row.dt_s:g}"]
        for m in cols:
            v = getattr(row, m)
            text = _fmt(None if pd.isna(v) else float(v))
            cells.append(f"**{text}**" if m in best and not pd.isna(v) and float(v) == best[m] else text)
        lines.append("| " + " | ".join(cells) + " |")
    paintings = int(table["paintings"].max()) if len(table) else 0
    lines += [
        "",
        f"Mean over {paintings} painting(s); FID over the pooled frames. Perceptual distance D: {distance.name} "
        f"(mask threshold α = {distance.threshold:g}). FID: {fid_note}.",
    ]
    return "\n".join(lines) + "\n"
