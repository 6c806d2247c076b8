"""The `nearest` auto-labelling backend: nearest corrected labels in a metric learned from the corrections.

Weight-free: a user without a GPU corrects a few videos and lets this label the rest. Features are
standardised on the corrected pairs, then measured with the Mahalanobis distance of the pooled within-label
covariance (shrunk towards its mean variance, so a few dozen examples give a stable metric) inside the
subspace spanned by the label means. That metric stretches the features that tell labels apart (a mask's top
edge for "lake" vs "grass") and shrinks those that vary within a label (a painting's colour cast), which a
plain Euclidean k-NN over ~85 features cannot do with a few hundred examples.

`k=None` (the default) picks the nearest label mean, offset by the log of the label's share of the
corrections: shrinkage linear discriminant analysis. `k >= 1` votes among the k nearest corrected pairs
(weight 1 / (d + eps)) in the same metric.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Sequence

import numpy as np

MODEL_ID = "nearest-v4"
SHRINKAGE = 0.5  # chosen by leave-one-video-out cross-validation on the training half of the benchmark only


class NearestLabeller:
    """Nearest label mean (k=None) or k nearest corrected pairs in a learned, deterministic metric."""

    backend = "nearest"
    model_id = MODEL_ID

    def __init__(self, k: int | None = None, shrinkage: float = SHRINKAGE, eps: float = 1e-6) -> None:
        if k is not None and k < 1:
            raise ValueError(f"k must be None (nearest label mean) or >= 1, got {k}")
        if not 0.0 <= shrinkage <= 1.0:
            raise ValueError(f"shrinkage must lie in [0, 1], got {shrinkage}")
        self.k = k
        self.shrinkage = shrinkage
        self.eps = eps
        self._x: np.ndarray | None = None

    @property
    def describe(self) -> str:
        """`k=<k>` or `centroid`, for the model id recorded with every label."""
        return "centroid" if self.k is None else f"k={self.k}"

    def fit(self, features: np.ndarray, labels: Sequence[str]) -> NearestLabeller:
        x = np.asarray(features, np.float64)
        if x.ndim != 2 or len(x) != len(labels) or len(x) == 0:
            raise ValueError(
                f"fit needs an (n, d) feature array and n labels with n >= 1; got {x.shape} and {len(labels)} "
                "labels. Correct at least one pair (labels import) before using the nearest backend."
            )
        if any(not isinstance(t, str) or not t.strip() for t in labels):
            raise ValueError("every training label must be a non-empty string")
        if not np.isfinite(x).all():
            raise ValueError("training features contain NaN or infinity; recompute them (training.labels.features)")
        self.mean = x.mean(0)
        std = x.std(0)
        self.std = np.where(std > 1e-12, std, 1.0)  # a constant feature carries no information
        z = (x - self.mean) / self.std
        self.labels = list(labels)
        self.classes = sorted(set(self.labels))
        index = np.array([self.classes.index(t) for t in self.labels])
        means = np.stack([z[index == c].mean(0) for c in range(len(self.classes))])
        self.projection = self._metric(z - means[index], means, np.bincount(index) / len(z))
        self._x = z @ self.projection
        self.centroids = means @ self.projection
        self.log_prior = np.log(np.bincount(index) / len(z))
        return self

    def _metric(self, within: np.ndarray, means: np.ndarray, share: np.ndarray) -> np.ndarray:
        """(d, r) map into the whitened label-mean subspace (r <= number of labels - 1; identity-like if r = 0)."""
        n, d = within.shape
        cov = within.T @ within / max(n - len(means), 1)
        scale = np.trace(cov) / d
        if scale <= 1e-12:  # one example per label: no spread to learn from, keep the standardised space
            cov, scale = np.eye(d), 1.0
        cov = (1.0 - self.shrinkage) * cov + self.shrinkage * scale * np.eye(d)
        values, vectors = np.linalg.eigh(cov)
        whiten = vectors / np.sqrt(np.maximum(values, 1e-12 * values.max()))
        centred = (means - share @ means) @ whiten
        between = (centred * share[:, None]).T @ centred
        values, vectors = np.linalg.eigh(between)
        keep = values > 1e-10 * max(values.max(), 1e-300)
        if not keep.any():  # a single label: every direction is as good as any other
            return whiten
        return whiten @ vectors[:, keep]

    def predict(self, features: np.ndarray) -> list[str]:
        if self._x is None:
            raise RuntimeError("NearestLabeller.predict called before fit")
        q = (np.atleast_2d(np.asarray(features, np.float64)) - self.mean) / self.std @ self.projection
        if self.k is None:
            score = -0.5 * ((q[:, None, :] - self.centroids[None]) ** 2).sum(-1) + self.log_prior
            return [self.classes[i] for i in score.argmax(1)]  # ties: the label first in sorted order
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
