"""The benchmark: every method on every validation painting, scored, compared, and tracked in MLflow.

Layout under ``out_dir``::

    <method>/<painting>/001.png … (Î_1 … Î_K), <method>/<painting>.mp4, <method>/plots/*.png,
    <method>/scores.csv (per painting), comparison.csv, comparison.md

MLflow (when a tracker is given): one parent run per benchmark holding the comparison table (also its
description), one child run per method (tag ``mlflow.parentRunId``, same experiment, so the compare view lines
the methods up) with params (method, Δt, ablations, distance and FID backends, dataset and model versions, the
step budget from the training split with each method's step count or cap: ``baseline_steps``, ``max_updates``),
the aggregated metrics (a missing FID is never logged as a number: ``fid_unavailable_reason`` says why) and
artifacts: the video and distance-curve plot of every painting, the slope histogram of the distance curves
(supplement Fig. 1b) and, for our methods, the time map of every painting (Fig. 10).

The perceptual distance is ``distance`` in the code and goes by its backend wherever users read it (MLflow
metrics, CSV columns, summaries: :func:`evaluation.metrics.score.public_name`): ``lpips`` only for the paper's
LPIPS, ``distance_colour_structure`` for the weight-free stand-in. The experiment says which way each metric
improves (tags ``metric_direction.<metric>``, and its description).
"""

from __future__ import annotations

import time
from collections.abc import Callable
from collections.abc import Sequence as Seq
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from evaluation.artifacts import time_map_png, write_frames, write_video
from evaluation.comparison import CURVE_METRICS, comparison_markdown, distance_label, head_to_head_markdown
from evaluation.curves import curve_slopes, distance_curve, time_map
from evaluation.methods import Method
from evaluation.metrics.fid import FID_WEIGHTS_URL, load_fid_or_reason
from evaluation.metrics.score import (
    LOWER_IS_BETTER,
    METRICS,
    aggregate,
    json_ready,
    public_name,
    public_names,
    score_sequence,
)
from evaluation.reconstruct import Models, ReconstructConfig, Reconstruction, reconstruct
from evaluation.sequences import Sequence
from training.data.difference import DistanceBackend
from training.data.storage import atomic_path
from training.experiment_tracking import TrackedRun, Tracker
from training.plots import curves_png, histogram_png

EXPERIMENT = "inverse-painting/benchmark"
COMPARISON_CSV = "comparison.csv"  # the comparison table under out_dir, as a sheet
COMPARISON_MD = "comparison.md"  # and as Markdown (the parent run's description)
EXPERIMENT_DESCRIPTION = (
    "The benchmark (docs/ARCHITECTURE.md §5): per ground-truth group a parent run `benchmark` / `benchmark:<group>` "
    "with the comparison table, and a child run per method; select a parent's child runs and Compare.\n\n"
    "Metrics, better direction (tags `metric_direction.<metric>`):\n"
    "- `lpips` (the paper's LPIPS) or `distance_<backend>` (the weight-free stand-in, e.g. "
    "`distance_colour_structure`; never called LPIPS): mean perceptual distance to the real frames, lower is better\n"
    "- `iou`: overlap of the painted regions with the real ones, higher is better\n"
    "- `ddc`: distance-curve difference, lower is better\n"
    "- `dts`: duration difference in minutes, lower is better\n"
    "- `fid`: FID of the frames (only with the Inception weights), lower is better\n\n"
    "Parent runs hold the same numbers as `<method>.<metric>`, same directions."
)
Progress = Callable[[str], None]
ReconstructFn = Callable[..., Reconstruction]


# ------------------------------------------------------------------------------------------ result
@dataclass
class BenchmarkResult:
    table: pd.DataFrame  # one row per method: method, kind, dt_s, ablate, metrics, paintings, seconds
    per_painting: pd.DataFrame  # one row per (method, painting)
    out_dir: Path
    csv_path: Path
    markdown_path: Path
    markdown: str
    parent_run_id: str | None = None
    child_run_ids: dict[str, str] = field(default_factory=dict)
    seconds: float = 0.0
    distance_backend: str = ""  # the distance's backend: its metric's user-facing name, public_name()

    def public_name(self, metric: str) -> str:
        """The name users read ``metric`` under (``distance`` -> ``lpips`` or ``distance_<backend>``)."""
        return public_name(metric, self.distance_backend)

    def wins_over_baselines(self, method: str = "ours", metrics: Seq[str] = CURVE_METRICS) -> dict[str, bool]:
        """Per metric (code names: ``distance``, ``iou`` …): does ``method`` beat every baseline (strictly, in the
        metric's direction)?"""
        table = self.table.set_index("method")
        base = table[table["kind"] == "baseline"]
        if base.empty:
            raise ValueError("no baseline in the benchmark to compare with")
        out = {}
        for m in metrics:
            ours, others = table.loc[method, m], base[m].astype(float)
            if pd.isna(ours) or others.isna().any():
                continue
            out[m] = bool((ours < others).all() if LOWER_IS_BETTER[m] else (ours > others).all())
        return out


# ------------------------------------------------------------------------------------------ the run
def _log_metrics(run: TrackedRun, summary: dict[str, Any], backend: str) -> None:
    numbers = {public_name(m, backend): summary[m] for m in METRICS if summary.get(m) is not None}
    numbers.update(paintings=summary["paintings"], seconds=summary["seconds"])
    run.log_metrics(numbers)
    if summary.get("fid") is None:
        run.set_tags({"fid_unavailable_reason": summary.get("fid_reason") or "unknown"})


def run_benchmark(
    paintings: list[Sequence],
    methods: list[Method],
    models: Models | None,
    distance: DistanceBackend,
    out_dir: Path | str,
    tracker: Tracker | None = None,
    experiment: str = EXPERIMENT,
    params: dict[str, Any] | None = None,
    fid_weights: str | Path | None = FID_WEIGHTS_URL,
    config: ReconstructConfig | None = None,
    seed: int = 0,
    progress: Progress | None = None,
    run_name: str = "benchmark",
    tags: dict[str, Any] | None = None,
    reconstruct_fn: ReconstructFn = reconstruct,
) -> BenchmarkResult:
    """Reconstruct, score and compare every method on every painting; see the module docstring.

    ``params``: dataset and model versions (logged on every run); ``config``: sampler steps and the step
    budget from the training split (baselines need one: their step count never comes from the painting
    scored); ``fid_weights``: pytorch-fid Inception checkpoint (path or URL read from the torch hub cache;
    None disables FID); ``reconstruct_fn`` has the signature of :func:`evaluation.reconstruct.reconstruct`
    (tests inject fakes).
    """
    started = time.perf_counter()
    config = config or ReconstructConfig()
    if not paintings:
        raise ValueError("no validation painting to benchmark; the dataset must hold out at least one painting")
    if not methods:
        raise ValueError("no method to benchmark")
    step_params = {m.name: config.step_params(m) for m in methods}  # fails before any run without a budget
    for what, names in (("painting", [p.name for p in paintings]), ("method", [m.name for m in methods])):
        if len(set(names)) != len(names):
            raise ValueError(f"duplicate {what} names {names}: every {what} needs its own folder and run")
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    say = progress or (lambda message: None)
    fid, fid_reason = load_fid_or_reason(fid_weights)
    fid_note = fid.name if fid is not None else f"unavailable ({fid_reason})"
    common = {
        "distance_backend": distance.name,
        "mask_threshold": distance.threshold,
        "fid_backend": fid.name if fid is not None else "none",
        "paintings": ",".join(p.name for p in paintings),
        **config.params(),
        "seed": seed,
        **(params or {}),
    }
    if models is not None:
        common.update({f"model.{k}": v for k, v in models.versions.items()})
    if tracker is not None:
        directions = {public_name(m, distance.name): LOWER_IS_BETTER[m] for m in METRICS}
        tracker.describe_experiment(experiment, EXPERIMENT_DESCRIPTION, directions)
    parent = tracker.start_run(experiment, run_name, tags) if tracker is not None else None
    children: dict[str, str] = {}
    rows: list[dict[str, Any]] = []
    per_painting: list[dict[str, Any]] = []
    try:
        if parent is not None:
            baseline_steps = sorted({p["baseline_steps"] for p in step_params.values() if "baseline_steps" in p})
            parent.log_params(
                {
                    **common,
                    "methods": ",".join(m.name for m in methods),
                    "baseline_steps": ",".join(map(str, baseline_steps)) or "none",
                }
            )
        real_curves = {gt.name: distance_curve(gt, gt.target, distance) for gt in paintings}
        for method in methods:
            summary = _run_method(
                method, paintings, models, distance, out, config, seed, fid, fid_reason, real_curves, say,
                reconstruct_fn, per_painting,
            )  # fmt: skip
            rows.append(summary)
            if tracker is not None and parent is not None:
                method_params = {**common, **step_params[method.name]}
                children[method.name] = _track_method(tracker, experiment, parent, method, summary, method_params, tags)
        table = pd.DataFrame(rows)[
            ["method", "kind", "dt_s", "ablate", *METRICS, "paintings", "n_generated", "seconds", "fid_reason"]
        ]
        csv_path = out / COMPARISON_CSV
        with atomic_path(csv_path) as tmp:  # columns as users read them: the distance by its backend
            table.rename(columns={"distance": public_name("distance", distance.name)}).to_csv(tmp, index=False)
        markdown = comparison_markdown(table, distance, fid_note)
        if "ours" in set(table["method"]) and len(table) > 1:
            markdown += "\n" + head_to_head_markdown(table, distance) + "\n"
        md_path = out / COMPARISON_MD
        with atomic_path(md_path) as tmp:
            Path(tmp).write_text(markdown)
        scores = pd.DataFrame(per_painting)
        if parent is not None:
            parent.log_artifact(csv_path)
            parent.log_artifact(md_path)
            parent.log_metrics(
                {
                    f"{r['method']}.{public_name(m, distance.name)}": r[m]
                    for r in rows
                    for m in METRICS
                    if r.get(m) is not None
                }
            )
            parent.set_tags({"child_runs": len(children), "benchmark": "parent"})
            parent.set_description(markdown)
    except BaseException:
        if parent is not None:
            parent.end("FAILED")
        raise
    if parent is not None:
        parent.end("FINISHED")
    return BenchmarkResult(
        table,
        scores,
        out,
        csv_path,
        md_path,
        markdown,
        parent.run_id if parent is not None else None,
        children,
        time.perf_counter() - started,
        distance.name,
    )


def _run_method(
    method: Method,
    paintings: list[Sequence],
    models: Models | None,
    distance: DistanceBackend,
    out: Path,
    config: ReconstructConfig,
    seed: int,
    fid: Any,
    fid_reason: str | None,
    real_curves: dict[str, tuple[np.ndarray, np.ndarray]],
    say: Progress,
    reconstruct_fn: ReconstructFn,
    per_painting: list[dict[str, Any]],
) -> dict[str, Any]:
    """Reconstruct and score one method on every painting; write its frames, videos and plots."""
    folder = out / method.name
    plots = folder / "plots"
    scores: list[dict[str, Any]] = []
    slopes_real, slopes_gen = [], []
    artifacts: list[tuple[Path, str]] = []
    started = time.perf_counter()
    for gt in paintings:
        t0 = time.perf_counter()
        rec = reconstruct_fn(method, gt, models, distance, seed=seed, config=config)
        seq = rec.sequence
        if seq.size != gt.size:
            raise RuntimeError(f"{method.name} on {gt.name}: frames are {seq.size}, the ground truth {gt.size}")
        write_frames(seq.recorded(), folder / gt.name)
        artifacts.append((write_video(seq.frames, folder / f"{gt.name}.mp4"), "videos"))
        s = score_sequence(gt, seq, distance, method.dt_s, fid, fid_reason)
        scores.append(s)
        row = json_ready(s)
        row.update(seconds=round(time.perf_counter() - t0, 3), stop_reason=rec.stop_reason, steps=len(seq.frames) - 1)
        if rec.texts:
            row["texts"] = " | ".join(rec.texts)
        per_painting.append(row)
        real_t, real_c = real_curves[gt.name]
        gen_t, gen_c = distance_curve(seq, gt.target, distance)
        slopes_real.append(curve_slopes(real_t, real_c))
        slopes_gen.append(curve_slopes(gen_t, gen_c))
        artifacts.append(
            (
                curves_png(
                    {"real": (real_t, real_c), method.name: (gen_t, gen_c)},
                    plots / f"distance_curve_{gt.name}.png",
                    "time (min)",
                    f"D̄(target, frame) [{distance.name}]",
                    f"{gt.name}: distance to the target",
                ),
                "plots",
            )
        )
        if method.kind == "ours":
            artifacts.append(
                (
                    time_map_png(
                        time_map(seq, distance),
                        len(seq.frames) - 1,
                        method.dt_s,
                        plots / f"time_map_{gt.name}.png",
                        f"{method.name} on {gt.name}\nwhen each pixel was last changed (> α)",
                    ),
                    "time_maps",
                )
            )
        say(f"{method.name} / {gt.name}: {len(seq.frames) - 1} steps, {row['seconds']:.1f} s, "
            f"{distance_label(distance)} {row['distance']:.3f} IoU {row['iou']:.3f} DDC {row['ddc']:.2f} "
            f"DTS {row['dts']:.2f}")  # fmt: skip
    slopes = {"real": np.concatenate(slopes_real), method.name: np.concatenate(slopes_gen)}
    artifacts.append(
        (
            histogram_png(
                slopes,
                plots / "slope_histogram.png",
                "slope of D̄(target, frame) between consecutive frames (per min)",
                f"{method.name}: distance-curve slopes",
                bins=np.histogram_bin_edges(np.concatenate(list(slopes.values())), 24),  # shared by both samples
            ),
            "plots",
        )
    )
    with atomic_path(folder / "scores.csv") as tmp:
        rows = [public_names(r, distance.name) for r in per_painting if r["method"] == method.name]
        pd.DataFrame(rows).to_csv(tmp, index=False)
    artifacts.append((folder / "scores.csv", ""))
    summary = aggregate(scores)
    summary.update(
        method=method.name,
        kind=method.kind,
        dt_s=method.dt_s,
        ablate=",".join(sorted(method.ablate)),
        seconds=round(time.perf_counter() - started, 3),
        artifacts=artifacts,
    )
    return summary


def _track_method(
    tracker: Tracker,
    experiment: str,
    parent: TrackedRun,
    method: Method,
    summary: dict[str, Any],
    params: dict[str, Any],
    tags: dict[str, Any] | None,
) -> str:
    child_tags = {**(tags or {}), "mlflow.parentRunId": parent.run_id, "method": method.name, "kind": method.kind}
    with tracker.start_run(experiment, method.name, child_tags) as child:
        child.log_params({**params, **method.params()})
        _log_metrics(child, summary, str(summary["distance_backend"]))
        for path, artifact_dir in summary["artifacts"]:
            child.log_artifact(path, artifact_dir or None)
        return child.run_id
