"""Ground-truth groups of the benchmark: the validation split, and each extra folder of real paintings.

Every group is painted and scored on its own (its own table, its own MLflow parent run), so held-out studio
paintings and, say, the paper's released sample are reported side by side, never averaged together.

Layout under an asset's folder (``reconstructions/``, ``benchmark/``): the validation split at the root, as
without extra groups, and each extra group in ``<group>/`` (same layout inside). A group is named after its
painting (``load_ground_truth`` reads one painting per folder), prefixed ``official-`` when that name is
already taken by a validation painting, a method (its folder sits beside the groups') or ``val``.
"""

from __future__ import annotations

from collections.abc import Callable, Collection
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from evaluation.artifacts import write_frames
from evaluation.benchmark_runner import BenchmarkResult, Progress, ReconstructFn, run_benchmark
from evaluation.methods import OURS, Method
from evaluation.reconstruct import Models, ReconstructConfig, Reconstruction, reconstruct
from evaluation.sequences import DEFAULT_LONG_SIDE, Sequence, load_generated, load_ground_truth
from training.data.difference import DistanceBackend

VAL_GROUP = "val"
EXTRA_PREFIX = "official-"


@dataclass(frozen=True)
class Group:
    """Paintings scored together: the validation split (``folder`` None) or one extra ground-truth folder."""

    name: str
    paintings: list[Sequence]
    folder: Path | None = None

    @property
    def source(self) -> str:
        return str(self.folder) if self.folder is not None else "validation split"

    def record(self) -> dict[str, Any]:
        """The group as stored in ``reconstructions.json``."""
        return {
            "name": self.name,
            "folder": str(self.folder) if self.folder is not None else None,
            "paintings": [p.name for p in self.paintings],
        }


def group_dir(root: Path, group: str) -> Path:
    """Where a group's files go under an asset's folder: the root for the validation split, else ``<group>/``."""
    return root if group == VAL_GROUP else root / group


def load_extra(folder: str | Path, name: str | None = None, long_side: int | None = DEFAULT_LONG_SIDE) -> Sequence:
    """The one painting of an extra ground-truth folder (released layout), renamed to ``name`` when given."""
    try:
        seq = load_ground_truth(folder, long_side=long_side)
    except (OSError, ValueError) as exc:
        raise ValueError(
            f"extra_ground_truth {folder}: {exc}. Point it at one painting's folder in the released layout "
            "({index}_{m:ss}.jpg keyframes, optional last_aligned_frame_inv.json) or remove it from "
            "extra_ground_truth, then materialize reconstructions again"
        ) from exc
    return replace(seq, name=name) if name else seq


def extra_groups(
    folders: Collection[str | Path], taken: Collection[str], long_side: int | None = DEFAULT_LONG_SIDE
) -> list[Group]:
    """One group per extra folder, loaded now so that a bad path fails before anything is painted.

    ``taken``: names in use beside the groups (validation paintings, methods); a painting named like one
    of them is prefixed ``official-``. Two folders of the same name raise ValueError naming both.
    """
    reserved = {VAL_GROUP, *taken}
    by_name: dict[str, Path] = {}  # extra painting's own name -> its folder
    groups: list[Group] = []
    for folder in folders:
        path = Path(folder).expanduser().resolve()  # recorded for benchmark, whatever its working directory
        seq = load_extra(path, long_side=long_side)
        if seq.name in by_name:
            raise ValueError(
                f"extra_ground_truth {path} and {by_name[seq.name]} are both named {seq.name!r}; rename a folder"
            )
        by_name[seq.name] = path
        name = f"{EXTRA_PREFIX}{seq.name}" if seq.name in reserved else seq.name
        if name in reserved or name in {g.name for g in groups}:
            raise ValueError(f"extra_ground_truth {path}: the name {name!r} is taken too; rename the folder")
        groups.append(Group(name, [replace(seq, name=name)], path))
    return groups


def saved_groups(
    index: dict[str, Any], validation: list[Sequence], long_side: int | None = DEFAULT_LONG_SIDE
) -> list[Group]:
    """The groups ``reconstructions`` painted (its index), with the validation split's ground truth given."""
    if "groups" not in index:
        raise ValueError("reconstructions.json predates ground-truth groups; materialize reconstructions again")
    groups = []
    for entry in index["groups"]:
        if entry["name"] == VAL_GROUP:
            groups.append(Group(VAL_GROUP, validation))
        else:
            paintings = [load_extra(entry["folder"], name, long_side) for name in entry["paintings"]]
            groups.append(Group(entry["name"], paintings, Path(entry["folder"])))
    return groups


def paint_groups(
    groups: list[Group],
    methods: list[Method],
    models: Models | None,
    distance: DistanceBackend,
    out_dir: Path,
    config: ReconstructConfig,
    seed: int = 0,
    reconstruct_fn: ReconstructFn = reconstruct,
    progress: Progress | None = None,
) -> list[dict[str, Any]]:
    """Every method on every painting of every group, frames in ``group_dir(out_dir, group)/<method>/<painting>/``.

    Returns the index entry of each method: its params, step count or cap, and per group and painting the
    steps, texts, stop reason and seconds.
    """
    say = progress or (lambda message: None)
    entries = []
    for method in methods:
        entry: dict[str, Any] = {
            **method.params(),
            **config.step_params(method),
            "ablate": sorted(method.ablate),
            "groups": {},
        }
        for group in groups:
            painted = entry["groups"][group.name] = {}
            for gt in group.paintings:
                rec = reconstruct_fn(method, gt, models, distance, seed=seed, config=config)
                write_frames(rec.sequence.recorded(), group_dir(out_dir, group.name) / method.name / gt.name)
                painted[gt.name] = {
                    "steps": len(rec.sequence.frames) - 1,
                    "texts": rec.texts,
                    "stop_reason": rec.stop_reason,
                    "seconds": round(rec.seconds, 2),
                }
        say(f"{method.name}: {sum(len(g.paintings) for g in groups)} paintings painted in {len(groups)} group(s)")
        entries.append(entry)
    return entries


def saved_reconstruction(folder: Path, index: dict[str, Any], group: str) -> ReconstructFn:
    """A ``reconstruct`` stand-in that reads what ``paint_groups`` stored for ``group`` instead of painting."""
    entries = {m["method"]: m for m in index["methods"]}

    def load(
        method: Method,
        gt: Sequence,
        models: Models | None,
        distance: DistanceBackend,
        seed: int = 0,
        config: ReconstructConfig | None = None,
    ) -> Reconstruction:
        info = entries[method.name]["groups"][group][gt.name]
        seq = load_generated(
            group_dir(folder, group) / method.name / gt.name, method.dt_s, size=gt.size, name=method.name
        )
        return Reconstruction(seq, texts=info["texts"], stop_reason=info["stop_reason"], seconds=info["seconds"])

    return load


def benchmark_groups(
    groups: list[Group],
    methods: list[Method],
    distance: DistanceBackend,
    out_dir: Path,
    reconstruct_fn_for: Callable[[str], ReconstructFn],
    params: dict[str, Any] | None = None,
    tags: dict[str, Any] | None = None,
    **options: Any,
) -> dict[str, BenchmarkResult]:
    """:func:`run_benchmark` once per group: output in ``group_dir(out_dir, group)``, MLflow parent run
    ``benchmark`` (validation split) or ``benchmark:<group>``, every run tagged ``group``.

    ``reconstruct_fn_for(group)`` gives the group's reconstruct function; ``options`` go to ``run_benchmark``.
    """
    results = {}
    for group in groups:
        results[group.name] = run_benchmark(
            group.paintings,
            methods,
            None,
            distance,
            group_dir(out_dir, group.name),
            params={**(params or {}), "ground_truth": group.source},
            run_name="benchmark" if group.name == VAL_GROUP else f"benchmark:{group.name}",
            tags={**(tags or {}), "group": group.name},
            reconstruct_fn=reconstruct_fn_for(group.name),
            **options,
        )
    return results


def wins(result: BenchmarkResult) -> dict[str, bool]:
    """Per metric (user-facing names: ``lpips`` or ``distance_<backend>``, ``iou`` …), whether ours beats every
    baseline; empty when the group lacks ours or any baseline."""
    table = result.table
    comparable = (table["kind"] == "baseline").any() and OURS in set(table["method"])
    won = result.wins_over_baselines(OURS) if comparable else {}
    return {result.public_name(m): w for m, w in won.items()}


def metrics_finite(table: pd.DataFrame) -> bool:
    """The distance, IoU, DDC and DTS present and finite for every method of a comparison table."""
    numeric = table[["distance", "iou", "ddc", "dts"]].astype(float).to_numpy()
    return bool(np.isfinite(numeric).all())


def groups_markdown(groups: list[Group], results: dict[str, BenchmarkResult]) -> str:
    """Every group's comparison table under a heading naming the group and its ground truth."""
    parts = []
    for group in groups:
        names = ", ".join(p.name for p in group.paintings)
        parts.append(f"### {group.name}: {group.source} ({names})\n\n{results[group.name].markdown}")
    return "\n".join(parts)


def groups_summary(groups: list[Group], results: dict[str, BenchmarkResult]) -> dict[str, dict[str, Any]]:
    """Per group: its ground truth, paintings, ours' wins over every baseline, MLflow parent run and files."""
    return {
        g.name: {
            "ground_truth": g.source,
            "paintings": [p.name for p in g.paintings],
            "wins_over_every_baseline": wins(results[g.name]),
            "mlflow_parent_run_id": results[g.name].parent_run_id,
            "comparison": str(results[g.name].csv_path),
            "seconds": round(results[g.name].seconds, 2),
        }
        for g in groups
    }
