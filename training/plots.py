"""Plots written as PNG files (loss curves, distance curves), for MLflow artifacts and Dagster metadata."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from pathlib import Path

import matplotlib

matplotlib.use("Agg")  # files only; never needs a display

import matplotlib.pyplot as plt

from training.data.storage import atomic_path


def _save(fig, path: Path) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    with atomic_path(path) as tmp:
        fig.savefig(tmp, format="png", dpi=100, bbox_inches="tight")
    plt.close(fig)
    return path


def loss_curve_png(losses: Sequence[tuple[int, float]], path: Path, title: str = "training loss") -> Path:
    """Loss per step (and a moving average when there are many steps)."""
    steps, values = zip(*losses, strict=True)
    fig, ax = plt.subplots(figsize=(6, 3.2))
    ax.plot(steps, values, lw=0.8, alpha=0.5 if len(values) > 20 else 1.0, label="loss")
    if len(values) > 20:
        window = max(5, len(values) // 20)
        smooth = [
            sum(values[max(0, k - window + 1) : k + 1]) / len(values[max(0, k - window + 1) : k + 1])
            for k in range(len(values))
        ]
        ax.plot(steps, smooth, lw=1.6, label=f"mean of {window}")
        ax.legend()
    ax.set_xlabel("step")
    ax.set_ylabel("loss")
    ax.set_title(title)
    ax.grid(alpha=0.3)
    return _save(fig, path)


def curves_png(
    curves: Mapping[str, tuple[Sequence[float], Sequence[float]]], path: Path, xlabel: str, ylabel: str, title: str
) -> Path:
    """Several named (x, y) curves on one axis."""
    fig, ax = plt.subplots(figsize=(6, 3.2))
    for name, (x, y) in curves.items():
        ax.plot(x, y, lw=1.4, label=name)
    ax.set_xlabel(xlabel)
    ax.set_ylabel(ylabel)
    ax.set_title(title)
    ax.grid(alpha=0.3)
    ax.legend(fontsize=8)
    return _save(fig, path)


def histogram_png(values: Mapping[str, Sequence[float]], path: Path, xlabel: str, title: str, bins: int = 30) -> Path:
    """Overlaid histograms of named samples."""
    fig, ax = plt.subplots(figsize=(6, 3.2))
    for name, sample in values.items():
        ax.hist(list(sample), bins=bins, alpha=0.5, label=name)
    ax.set_xlabel(xlabel)
    ax.set_ylabel("count")
    ax.set_title(title)
    ax.legend(fontsize=8)
    return _save(fig, path)
