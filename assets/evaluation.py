"""[evaluation] reconstructions (every method on every validation painting) and benchmark (scores in MLflow).

``reconstructions`` generates; ``benchmark`` scores what it generated, so metrics can be recomputed (another
distance backend, FID weights that arrived later) without repainting. Step counts come from the train split of
the dataset (:class:`evaluation.budget.StepBudget`), recorded in ``reconstructions.json`` for ``benchmark``.
Extra ground-truth folders are painted and scored as groups of their own (:mod:`evaluation.groups`); the
groups are recorded in ``reconstructions.json`` too, so ``benchmark`` scores what was painted.
"""

import json
from dataclasses import replace
from typing import Literal
from urllib.parse import quote

import dagster as dg
import pandas as pd
from pydantic import Field

from assets.dataset import read_latest, training_dataset
from assets.metadata import table_metadata
from assets.training import mask_generator, renderer, text_generator
from evaluation.benchmark_runner import EXPERIMENT as BENCHMARK_EXPERIMENT
from evaluation.benchmark_runner import BenchmarkResult
from evaluation.budget import RELEASED_MAX_UPDATES, UPDATE_FACTOR, StepBudget
from evaluation.comparison import distance_label
from evaluation.groups import (
    VAL_GROUP,
    Group,
    benchmark_groups,
    extra_groups,
    groups_markdown,
    groups_summary,
    metrics_finite,
    saved_groups,
    saved_reconstruction,
)
from evaluation.methods import ABLATIONS, OURS, Method, method_grid
from evaluation.metrics.fid import FID_WEIGHTS_URL
from evaluation.outputs import (
    read_reconstructions_index,
    reconstructions_index,
    saved_settings,
    write_benchmark_summary,
    write_reconstructions,
)
from evaluation.reconstruct import ReconstructConfig, load_registered_models
from evaluation.sequences import validation_sequences
from pipelines.resources import MLflowResource, StorageResource
from training.data.difference import make_backend
from training.device import resolve, runtime_params


class EvaluationConfig(dg.Config):
    dt_s: float | None = Field(
        default=None,
        gt=0,
        description="Δt of our method and the baselines, seconds. Unset: the mean Δt of the dataset's pairs "
        "(20 s on real footage, as in the paper; a few seconds on the demo's one-minute videos).",
    )
    dt_factors: list[float] = Field(
        default=[0.5, 1.5], description="Extra Δt runs of ours, as multiples of dt_s (the paper's 10 / 30 s at 20 s)."
    )
    ablations: list[str] = Field(default=list(ABLATIONS), description=f"Ablation codes: {', '.join(ABLATIONS)}.")
    baselines: list[str] = Field(
        default=["fade", "coarse-to-fine", "segment-reveal", "strokes"],
        description="Weight-free baselines; each makes round(mean duration of the training paintings / dt_s) "
        "keyframes (train split of the dataset), never as many as the painting it is scored on.",
    )
    num_inference_steps: int | None = Field(
        default=None,
        ge=1,
        description="Sampler steps S per canvas update. Unset: the renderer's own (App. A.4's 25 for the paper "
        "preset, 1 for the tiny preset's one-step renderer).",
    )
    update_factor: float = Field(
        default=UPDATE_FACTOR,
        gt=0,
        description="Cap of our updates: this many times the longest training painting's duration over Δt, at "
        f"most {RELEASED_MAX_UPDATES} (the released code's cap); the loop stops earlier by its own rules.",
    )
    distance: Literal["auto", "lpips", "colour-structure"] = "auto"
    device: Literal["auto", "cpu", "cuda"] = Field(
        default="auto",
        description="Where reconstructions runs the models: auto = CUDA when present, else the CPU. Logged as the "
        "`device` param; benchmark logs what reconstructions used (it paints nothing).",
    )
    dtype: Literal["auto", "fp32", "bf16", "fp16"] = Field(
        default="auto",
        description="Inference dtype of the models: auto = fp32 on the CPU, bf16 on CUDA (fp16 without bf16). "
        "Logged as the `dtype` param.",
    )
    fid_weights: str | None = Field(default=FID_WEIGHTS_URL, description="pytorch-fid Inception: path or URL.")
    seed: int = 0
    extra_ground_truth: list[str] = Field(
        default=[],
        description="Folders of real painting sequences never trained on, in the released layout "
        "({index}_{m:ss}.jpg), e.g. the paper's released sample: each is painted by reconstructions and scored "
        "by benchmark as its own table beside the validation split (benchmark reads the folders that "
        "reconstructions recorded).",
    )


def _dt(config: EvaluationConfig, manifest: pd.DataFrame) -> float:
    return float(config.dt_s) if config.dt_s else round(float(manifest["dt_s"].mean()), 1)


def _methods(config: EvaluationConfig, dt_s: float) -> list[Method]:
    dts = (dt_s, *(round(dt_s * f, 2) for f in config.dt_factors))
    grid = method_grid(dts=dts, ablations=tuple(config.ablations), baselines=tuple(config.baselines), dt_s=dt_s)
    # the full model at the main Δt is "ours" whatever that Δt is (method_grid names it so only at 20 s)
    return [replace(grid[0], name=OURS), *grid[1:]]


@dg.asset(
    group_name="evaluation",
    kinds={"pytorch"},
    deps=[training_dataset, text_generator, mask_generator, renderer],
    description="Every method (ours, its Δt variants and ablations, the weight-free baselines) painted on every "
    "validation painting and on every extra ground-truth folder (a group each), from the newest registered models.",
)
def reconstructions(
    context: dg.AssetExecutionContext, config: EvaluationConfig, storage: StorageResource, mlflow: MLflowResource
) -> dg.MaterializeResult:
    latest = read_latest(storage)
    manifest = pd.read_parquet(latest["manifest"])
    paintings = validation_sequences(storage.root, manifest)
    dt_s = _dt(config, manifest)
    methods = _methods(config, dt_s)
    # extra folders load before the models, so a bad path fails before anything is painted
    taken = [*(p.name for p in paintings), *(m.name for m in methods)]
    groups = [Group(VAL_GROUP, paintings), *extra_groups(config.extra_ground_truth, taken)]
    budget = StepBudget.from_manifest(manifest, source=f"dataset {latest['version']}")
    device, dtype = resolve(config.device, config.dtype)
    runtime = runtime_params(device, dtype)  # resolved, as logged: "cuda" / "bf16", never "auto"
    settings = ReconstructConfig(
        num_inference_steps=config.num_inference_steps, budget=budget, update_factor=config.update_factor, **runtime
    )
    models = load_registered_models(mlflow.resolved_tracking_uri(), device=str(device), dtype=runtime["dtype"])
    distance = make_backend(config.distance)
    layout = storage.layout
    index = reconstructions_index(latest["version"], models.versions, settings, runtime, groups)
    index = write_reconstructions(
        layout, index, groups, methods, models, distance, settings, seed=config.seed, progress=context.log.info
    )
    rows = [
        {
            "method": m["method"],
            "dt_s": m["dt_s"],
            **{f"steps_{g}": sum(p["steps"] for p in painted.values()) for g, painted in m["groups"].items()},
        }
        for m in index["methods"]
    ]
    return dg.MaterializeResult(
        metadata={
            "path": dg.MetadataValue.path(str(layout.reconstructions_dir)),
            "dataset_version": latest["version"],
            "dt_s": dt_s,
            "step_budget": budget.source,
            "budget_mean_duration_s": round(budget.mean_duration_s, 2),
            "budget_max_duration_s": round(budget.max_duration_s, 2),
            "baseline_steps": budget.baseline_steps(dt_s),
            "max_updates": settings.steps_cap(dt_s),
            "paintings": ", ".join(p.name for p in paintings),
            "groups": table_metadata(
                pd.DataFrame(
                    [{"group": g.name, "ground_truth": g.source, "paintings": len(g.paintings)} for g in groups]
                )
            ),
            "methods": table_metadata(pd.DataFrame(rows)),
            "distance_backend": distance.name,
            **runtime,
        }
    )


def _mlflow_links(mlflow: MLflowResource, experiment_id: str, results: dict[str, BenchmarkResult]) -> dict:
    """Per group, links to MLflow's compare view of its child runs and to its parent run (text without a UI URL)."""
    base = mlflow.ui_url or (mlflow.tracking_uri if (mlflow.tracking_uri or "").startswith("http") else None)
    links: dict = {}
    for group, result in results.items():
        if result.parent_run_id is None:
            continue
        suffix = "" if group == VAL_GROUP else f"_{group}"
        runs = json.dumps(list(result.child_run_ids.values()))
        compare = f"#/compare-runs?runs={quote(runs)}&experiments={quote(json.dumps([experiment_id]))}"
        parent = f"#/experiments/{experiment_id}/runs/{result.parent_run_id}"
        for key, fragment in ((f"mlflow_compare{suffix}", compare), (f"mlflow_parent_run{suffix}", parent)):
            if base:
                links[key] = dg.MetadataValue.url(f"{base.rstrip('/')}/{fragment}")
            else:
                ui = f"mlflow ui --backend-store-uri {mlflow.resolved_tracking_uri()}"
                links[key] = dg.MetadataValue.text(f"{ui}  ->  {fragment}")
    return links


@dg.asset(
    group_name="evaluation",
    kinds={"mlflow"},
    deps=[reconstructions],
    check_specs=[
        dg.AssetCheckSpec(
            "metrics_finite",
            asset="benchmark",
            description="Every metric of every method in every ground-truth group is a finite number. To fix: "
            "open the group's `comparison.csv`; a method with no score painted no frame (see the stop reasons "
            "in `reconstructions.json`), then materialize reconstructions and benchmark again.",
        )
    ],
    description="Perceptual distance (LPIPS with its weights, else the weight-free distance named after its "
    "backend) / IoU / DDC / DTS / FID of every method (ARCHITECTURE §5), per ground-truth group (the validation "
    "split, then each extra folder): one MLflow parent run per group with a child run per method (videos, "
    "distance curves, slope histograms, time maps) and the group's comparison table.",
)
def benchmark(
    context: dg.AssetExecutionContext, config: EvaluationConfig, storage: StorageResource, mlflow: MLflowResource
) -> dg.MaterializeResult:
    layout = storage.layout
    folder = layout.reconstructions_dir
    index = read_reconstructions_index(layout)
    manifest = pd.read_parquet(read_latest(storage)["manifest"])
    groups = saved_groups(index, validation_sequences(storage.root, manifest))
    by_name = {m.name: m for m in _methods(config, _dt(config, manifest))}
    methods = [by_name[m["method"]] for m in index["methods"] if m["method"] in by_name]
    out = layout.benchmark_dir
    distance = make_backend(config.distance)
    results = benchmark_groups(
        groups,
        methods,
        distance,
        out,
        reconstruct_fn_for=lambda group: saved_reconstruction(folder, index, group),
        params={"dataset_version": index["dataset_version"], **{f"model.{k}": v for k, v in index["models"].items()}},
        tags={"dagster.run_id": context.run.run_id, "dagster.asset_key": "benchmark"},
        tracker=mlflow.tracker(),
        fid_weights=config.fid_weights,
        config=saved_settings(index),
        seed=config.seed,
        progress=context.log.info,
    )
    summary = groups_summary(groups, results)
    write_benchmark_summary(layout, summary)
    unfinished = [g for g, result in results.items() if not metrics_finite(result.table)]
    experiment = mlflow.tracker().experiment_id(BENCHMARK_EXPERIMENT)
    return dg.MaterializeResult(
        metadata={
            "path": dg.MetadataValue.path(str(results[VAL_GROUP].csv_path)),
            "comparison": dg.MetadataValue.md(groups_markdown(groups, results)),
            "ours_beats_every_baseline_on": "; ".join(
                f"{g}: {', '.join(m for m, won in s['wins_over_every_baseline'].items() if won) or 'none'}"
                for g, s in summary.items()
            ),
            "distance_metric": results[VAL_GROUP].public_name("distance"),
            "mlflow_parent_run_id": results[VAL_GROUP].parent_run_id or "",
            **_mlflow_links(mlflow, experiment, results),
        },
        check_results=[
            dg.AssetCheckResult(
                check_name="metrics_finite",
                passed=not unfinished,
                description=f"{distance_label(distance)}, IoU, DDC and DTS are finite for every method of every group"
                if not unfinished
                else f"some metric is missing or infinite in group(s) {', '.join(unfinished)}; see their "
                "comparison.csv (a method may have produced no frame)",
            )
        ],
    )
