"""All metrics of one painting (:func:`score_sequence`), their mean over paintings (:func:`aggregate`) and the
names users read them under (:func:`public_name`)."""

from __future__ import annotations

import re
from collections.abc import Mapping
from typing import Any

import numpy as np

from evaluation.metrics.ddc import DEFAULT_GRID_S, ddc_metric
from evaluation.metrics.distance import distance_metric
from evaluation.metrics.dts import dts_metric
from evaluation.metrics.fid import FidInception, fid_from_features
from evaluation.metrics.iou import iou_metric
from evaluation.sequences import Sequence
from training.data.difference import DistanceBackend, is_true_lpips

# "distance": mean perceptual distance D̄ to the real frames, the paper's LPIPS column when D is LPIPS
METRICS = ("distance", "iou", "ddc", "dts", "fid")
LOWER_IS_BETTER = {"distance": True, "iou": False, "ddc": True, "dts": True, "fid": True}
FEATURES_KEY = "fid_features"  # per-painting Inception features, pooled by aggregate(); not JSON


def distance_metric_name(backend_name: str) -> str:
    """What the distance is called where users read it (MLflow, CSV, JSON): ``lpips`` only when it is the paper's
    LPIPS, else ``distance_<backend>`` without the version (``colour-structure-v1`` -> ``distance_colour_structure``;
    the version is logged beside it as ``distance_backend``)."""
    if is_true_lpips(backend_name):
        return "lpips"
    stem = re.sub(r"-v\d+(\.\d+)*(?=-|$)", "", backend_name)
    return "distance_" + re.sub(r"[^0-9a-zA-Z]+", "_", stem).strip("_").lower()


def public_name(metric: str, backend_name: str) -> str:
    """A metric's user-facing name: the distance by its backend, the others as they are."""
    return distance_metric_name(backend_name) if metric == "distance" else metric


def public_names(row: Mapping[str, Any], backend_name: str) -> dict[str, Any]:
    """A row of scores (painting, method or table row) with the distance under its user-facing name."""
    return {public_name(k, backend_name): v for k, v in row.items()}


def _check_dt(generated: Sequence, dt: float) -> None:
    expected = [k * dt for k in range(len(generated.times_s))]
    if not np.allclose(generated.times_s, expected, rtol=0, atol=1e-6 * max(1.0, dt)):
        raise ValueError(
            f"{generated.name}: frame times {generated.times_s[:4]}… are not multiples of Δt = {dt} s; "
            "load it with load_generated(folder, dt) using the same Δt"
        )


def score_sequence(
    gt: Sequence,
    generated: Sequence,
    distance: DistanceBackend,
    dt: float,
    fid: FidInception | None = None,
    fid_reason: str | None = None,
    grid_s: float = DEFAULT_GRID_S,
) -> dict[str, Any]:
    """Metrics of one generated painting process against its ground truth.

    ``fid`` = a loaded :class:`FidInception` or None (then ``fid`` is None and ``fid_reason`` says why).
    The per-painting FID uses that painting's frames only (few samples: indicative); the benchmark's FID
    is :func:`aggregate`'s, over the pooled frames of all paintings. Implied white canvases are left out
    of FID: they are not frames of either method.
    """
    if not dt > 0:
        raise ValueError(f"Δt must be a positive number of seconds, got {dt}")
    _check_dt(generated, dt)
    result: dict[str, Any] = {
        "painting": gt.name,
        "method": generated.name,
        "distance": distance_metric(gt, generated, distance, dt),
        "iou": iou_metric(gt, generated, distance),
        "ddc": ddc_metric(gt, generated, distance, grid_s),
        "dts": dts_metric(gt, generated),
        "distance_backend": distance.name,
        "mask_threshold": float(distance.threshold),
        "dt_s": float(dt),
        "n_real": len(gt.recorded()),
        "n_generated": len(generated.recorded()),
        "duration_real_min": gt.duration_s / 60.0,
        "duration_generated_min": generated.duration_s / 60.0,
    }
    if fid is None:
        result.update(fid=None, fid_backend=None, fid_reason=fid_reason or "FID disabled (no Inception model)")
        return result
    features = (fid.features(gt.recorded()), fid.features(generated.recorded()))
    value = fid_from_features(*features)
    result.update(fid=value.value, fid_backend=fid.name, fid_reason=value.reason, **{FEATURES_KEY: features})
    return result


def json_ready(scores: dict[str, Any]) -> dict[str, Any]:
    """The scores without the feature arrays (for printing and logging)."""
    return {k: v for k, v in scores.items() if k != FEATURES_KEY}


def aggregate(per_painting: list[dict[str, Any]]) -> dict[str, Any]:
    """Mean of each metric over paintings; FID over the pooled frames of all paintings.

    All inputs must come from the same distance backend (numbers of different distances do not mix).
    """
    if not per_painting:
        raise ValueError("nothing to aggregate: no painting was scored")
    backends = {s["distance_backend"] for s in per_painting}
    if len(backends) != 1:
        raise ValueError(f"scores from different distance backends {sorted(backends)} cannot be averaged")
    out: dict[str, Any] = {m: float(np.mean([s[m] for s in per_painting])) for m in ("distance", "iou", "ddc", "dts")}
    out.update(
        distance_backend=backends.pop(),
        paintings=len(per_painting),
        n_real=int(sum(s["n_real"] for s in per_painting)),
        n_generated=int(sum(s["n_generated"] for s in per_painting)),
    )
    with_features = [s for s in per_painting if FEATURES_KEY in s]
    if len(with_features) != len(per_painting):
        reasons = {s.get("fid_reason") for s in per_painting if FEATURES_KEY not in s}
        out.update(fid=None, fid_backend=None, fid_reason="; ".join(sorted(r for r in reasons if r)))
        return out
    fid_backends = {s["fid_backend"] for s in with_features}
    if len(fid_backends) != 1:
        raise ValueError(f"FID features from different networks {sorted(fid_backends)} cannot be pooled")
    real = np.concatenate([s[FEATURES_KEY][0] for s in with_features])
    generated = np.concatenate([s[FEATURES_KEY][1] for s in with_features])
    value = fid_from_features(real, generated)
    out.update(fid=value.value, fid_backend=fid_backends.pop(), fid_reason=value.reason)
    return out
