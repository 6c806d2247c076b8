"""Alpha fade from the white canvas to the target: the order-free reference every method should beat."""

from __future__ import annotations

import numpy as np


def fade(target: np.ndarray, n_steps: int, seed: int = 0) -> list[np.ndarray]:
    """Î_k = (1 − k/K)·white + (k/K)·target for k = 1..K (deterministic; ``seed`` is unused)."""
    del seed
    base = np.full(target.shape, 255.0)
    out = []
    for k in range(1, n_steps + 1):
        a = k / n_steps
        out.append(np.clip(np.rint((1 - a) * base + a * target.astype(np.float64)), 0, 255).astype(np.uint8))
    out[-1] = target.copy()
    return out
