"""The `nearest` auto-labelling backend: k nearest corrected pairs in a standardised feature space.

Weight-free: a user without a GPU corrects a few videos and lets this label the rest.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Sequence

import numpy as np

from training.labels.features import FEATURE_GROUPS

MODEL_ID = "nearest-v1"


def group_weights(groups: dict[str, float] | None = None) -> np.ndarray:
    """Per-feature weights giving every feature group the same total weight (times `groups[name]`).

    Without this, the 10-bin LBP histogram would outvote the single area feature.
    """
    groups = groups or {}
    weights = []
    for name, names in FEATURE_GROUPS.items():
        weights += [groups.get(name, 1.0) / np.sqrt(len(names))] * len(names)
    return np.array(weights)


class NearestLabeller:
    """k-NN with distance-weighted votes (weight 1 / (d + eps)); features standardised on the fit set."""

    backend = "nearest"
    model_id = MODEL_ID

    def __init__(self, k: int = 5, weights: np.ndarray | None = None, eps: float = 1e-6) -> None:
        if k < 1:
            raise ValueError(f"k must be >= 1, got {k}")
        self.k = k
        self.weights = group_weights() if weights is None else np.asarray(weights, np.float64)
        self.eps = eps
        self._x: np.ndarray | None = None

    def fit(self, features: np.ndarray, labels: Sequence[str]) -> NearestLabeller:
        x = np.asarray(features, np.float64)
        if x.ndim != 2 or len(x) != len(labels) or len(x) == 0:
            raise ValueError(
                f"fit needs an (n, d) feature array and n labels with n >= 1; got {x.shape} and {len(labels)} "
                "labels. Correct at least one pair (labels import) before using the nearest backend."
            )
        if x.shape[1] != len(self.weights):
            raise ValueError(f"features have {x.shape[1]} columns, the weights {len(self.weights)}")
        if any(not isinstance(t, str) or not t.strip() for t in labels):
            raise ValueError("every training label must be a non-empty string")
        self.mean = x.mean(0)
        std = x.std(0)
        self.std = np.where(std > 1e-12, std, 1.0)  # a constant feature carries no information
        self._x = self._scale(x)
        self.labels = list(labels)
        return self

    def _scale(self, x: np.ndarray) -> np.ndarray:
        return (x - self.mean) / self.std * self.weights

    def predict(self, features: np.ndarray) -> list[str]:
        if self._x is None:
            raise RuntimeError("NearestLabeller.predict called before fit")
        q = self._scale(np.atleast_2d(np.asarray(features, np.float64)))
        dist = np.sqrt(((q[:, None, :] - self._x[None, :, :]) ** 2).sum(-1))
        k = min(self.k, len(self._x))
        out = []
        for row in dist:
            votes: dict[str, float] = defaultdict(float)
            for j in np.argsort(row, kind="stable")[:k]:
                votes[self.labels[j]] += 1.0 / (row[j] + self.eps)
            # ties: the label seen first among the nearest wins (max is stable over insertion order)
            out.append(max(votes, key=votes.__getitem__))
        return out
