"""What the evaluation stage stores: the painted reconstructions with their index, and the benchmark's summary.

``reconstructions/`` holds every method's frames (:func:`evaluation.groups.paint_groups`) and
``reconstructions.json``, the index ``benchmark`` reads to score those frames with the settings they were painted
with, without repainting. The folder is staged and swapped in whole, so an index always describes the frames
beside it (training/data/storage.py).
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import asdict
from pathlib import Path
from typing import Any

from evaluation.benchmark_runner import Progress
from evaluation.budget import StepBudget
from evaluation.groups import Group, paint_groups
from evaluation.methods import Method
from evaluation.reconstruct import Models, ReconstructConfig
from training.data.difference import DistanceBackend
from training.data.storage import atomic_dir, atomic_path
from training.data_root import RECONSTRUCTIONS_INDEX, DataRoot

INDEX = RECONSTRUCTIONS_INDEX


def reconstructions_index(
    dataset_version: str,
    model_versions: Mapping[str, Any],
    settings: ReconstructConfig,
    runtime: Mapping[str, str],
    groups: list[Group],
) -> dict[str, Any]:
    """The index of a reconstructions run before painting: dataset and model versions, the settings benchmark
    needs to log the same parameters (``runtime``: the resolved ``device``/``dtype``), the step budget, the groups."""
    if settings.budget is None:
        raise ValueError("reconstructions need a step budget from the training split (ReconstructConfig.budget)")
    return {
        "dataset_version": dataset_version,
        "models": dict(model_versions),
        "settings": {
            "num_inference_steps": settings.num_inference_steps,
            "update_factor": settings.update_factor,
            **runtime,
        },
        "budget": asdict(settings.budget),
        "groups": [g.record() for g in groups],
    }


def write_reconstructions(
    layout: DataRoot,
    index: dict[str, Any],
    groups: list[Group],
    methods: list[Method],
    models: Models | None,
    distance: DistanceBackend,
    settings: ReconstructConfig,
    seed: int = 0,
    progress: Progress | None = None,
) -> dict[str, Any]:
    """Paint every method on every group into ``reconstructions/`` (replacing it whole), with ``index`` and each
    method's entry (``methods``) as ``reconstructions/reconstructions.json``; returns the index written."""
    written = dict(index)
    with atomic_dir(layout.reconstructions_dir) as tmp:
        written["methods"] = paint_groups(
            groups, methods, models, distance, tmp, settings, seed=seed, progress=progress
        )
        (tmp / INDEX).write_text(json.dumps(written, indent=2))
    return written


def read_reconstructions_index(layout: DataRoot) -> dict[str, Any]:
    """``reconstructions/reconstructions.json``; FileNotFoundError/ValueError naming it and the fix."""
    path = layout.reconstructions_index_path
    fix = "materialize reconstructions again"
    try:
        index = json.loads(path.read_text())
    except FileNotFoundError:
        raise FileNotFoundError(f"{path} is missing; {fix}") from None
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as err:
        raise ValueError(f"{path}: cannot be read ({err}); {fix}") from None
    if not isinstance(index, dict) or "methods" not in index:
        raise ValueError(f"{path}: not a reconstructions index (no `methods`); {fix}")
    return index


def saved_settings(index: Mapping[str, Any]) -> ReconstructConfig:
    """The settings ``reconstructions`` painted with, as recorded in its index."""
    if "budget" not in index:
        raise ValueError(f"{INDEX} predates step budgets; materialize reconstructions again")
    return ReconstructConfig(**index["settings"], budget=StepBudget(**index["budget"]))


def write_benchmark_summary(layout: DataRoot, summary: Mapping[str, Any]) -> Path:
    """``benchmark/summary.json``: per ground-truth group, its source and which metrics ours wins."""
    path = layout.benchmark_summary_path
    with atomic_path(path) as tmp:
        tmp.write_text(json.dumps({"groups": summary}, indent=2))
    return path
