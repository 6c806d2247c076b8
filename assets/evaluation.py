"""[evaluation] reconstructions (every method on every validation painting) and benchmark (scores in MLflow).

``reconstructions`` generates; ``benchmark`` scores what it generated, so metrics can be recomputed (another
distance backend, FID weights that arrived later) without repainting.
"""

import json
from dataclasses import replace
from pathlib import Path
from typing import Literal

import dagster as dg
import pandas as pd
from pydantic import Field

from assets.dataset import read_latest, training_dataset
from assets.metadata import table_metadata
from assets.training import mask_generator, renderer, text_generator
from evaluation.methods import ABLATIONS, OURS, Method, method_grid
from evaluation.metrics.fid import FID_WEIGHTS_URL
from evaluation.reconstruct import ReconstructConfig, Reconstruction, load_registered_models, reconstruct
from evaluation.runner import run_benchmark, validation_sequences, write_frames
from evaluation.sequences import Sequence, load_generated
from pipelines.resources import MLflowResource, StorageResource
from training.data.difference import make_backend
from training.data.storage import atomic_dir, atomic_path

INDEX = "reconstructions.json"


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
    baselines: list[str] = Field(default=["fade", "coarse-to-fine", "segment-reveal", "strokes"])
    num_inference_steps: int = Field(default=25, ge=1, description="Sampler steps S per canvas update.")
    step_margin: int | None = Field(
        default=3, ge=0, description="Cap updates at the ground truth's step count plus this margin (None: 50)."
    )
    distance: Literal["auto", "lpips", "colour-structure"] = "auto"
    fid_weights: str | None = Field(default=FID_WEIGHTS_URL, description="pytorch-fid Inception: path or URL.")
    seed: int = 0


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
    "validation painting, from the newest registered models.",
)
def reconstructions(
    context: dg.AssetExecutionContext, config: EvaluationConfig, storage: StorageResource, mlflow: MLflowResource
) -> dg.MaterializeResult:
    latest = read_latest(storage)
    manifest = pd.read_parquet(latest["manifest"])
    paintings = validation_sequences(storage.root, manifest)
    dt_s = _dt(config, manifest)
    methods = _methods(config, dt_s)
    models = load_registered_models(mlflow.resolved_tracking_uri())
    distance = make_backend(config.distance)
    settings = ReconstructConfig(num_inference_steps=config.num_inference_steps, step_margin=config.step_margin)
    folder = storage.asset_dir("reconstructions")
    index: dict = {"dataset_version": latest["version"], "models": models.versions, "methods": []}
    with atomic_dir(folder) as tmp:
        for method in methods:
            entry = {**method.params(), "ablate": sorted(method.ablate), "paintings": {}}
            for gt in paintings:
                rec = reconstruct(method, gt, models, distance, seed=config.seed, config=settings)
                write_frames(rec.sequence.recorded(), tmp / method.name / gt.name)
                entry["paintings"][gt.name] = {
                    "steps": len(rec.sequence.frames) - 1,
                    "texts": rec.texts,
                    "stop_reason": rec.stop_reason,
                    "seconds": round(rec.seconds, 2),
                }
            context.log.info(f"{method.name}: {len(paintings)} paintings painted")
            index["methods"].append(entry)
        (tmp / INDEX).write_text(json.dumps(index, indent=2))
    rows = [
        {"method": m["method"], "dt_s": m["dt_s"], "steps": sum(p["steps"] for p in m["paintings"].values())}
        for m in index["methods"]
    ]
    return dg.MaterializeResult(
        metadata={
            "path": dg.MetadataValue.path(str(folder)),
            "dataset_version": latest["version"],
            "dt_s": dt_s,
            "paintings": ", ".join(p.name for p in paintings),
            "methods": table_metadata(pd.DataFrame(rows)),
            "distance_backend": distance.name,
        }
    )


def _saved(folder: Path, index: dict):
    """A ``reconstruct`` stand-in that reads what ``reconstructions`` painted instead of painting again."""
    entries = {m["method"]: m for m in index["methods"]}

    def load(method: Method, gt: Sequence, models, distance, seed=0, config=None) -> Reconstruction:
        info = entries[method.name]["paintings"][gt.name]
        seq = load_generated(folder / method.name / gt.name, method.dt_s, size=gt.size, name=method.name)
        return Reconstruction(seq, texts=info["texts"], stop_reason=info["stop_reason"], seconds=info["seconds"])

    return load


@dg.asset(
    group_name="evaluation",
    kinds={"mlflow"},
    deps=[reconstructions],
    check_specs=[dg.AssetCheckSpec("metrics_finite", asset="benchmark")],
    description="LPIPS / IoU / DDC / DTS / FID of every method (ARCHITECTURE §5): one MLflow parent run with a "
    "child run per method (videos, distance curves, slope histograms, time maps) and the comparison table.",
)
def benchmark(
    context: dg.AssetExecutionContext, config: EvaluationConfig, storage: StorageResource, mlflow: MLflowResource
) -> dg.MaterializeResult:
    folder = storage.asset_dir("reconstructions")
    index = json.loads((folder / INDEX).read_text())
    manifest = pd.read_parquet(read_latest(storage)["manifest"])
    paintings = validation_sequences(storage.root, manifest)
    by_name = {m.name: m for m in _methods(config, _dt(config, manifest))}
    methods = [by_name[m["method"]] for m in index["methods"] if m["method"] in by_name]
    distance = make_backend(config.distance)
    out = storage.asset_dir("benchmark")
    result = run_benchmark(
        paintings,
        methods,
        None,
        distance,
        out,
        tracker=mlflow.tracker(),
        params={"dataset_version": index["dataset_version"], **{f"model.{k}": v for k, v in index["models"].items()}},
        fid_weights=config.fid_weights,
        seed=config.seed,
        progress=context.log.info,
        tags={"dagster.run_id": context.run.run_id, "dagster.asset_key": "benchmark"},
        reconstruct_fn=_saved(folder, index),
    )
    table = result.table
    numeric = table[["lpips", "iou", "ddc", "dts"]].astype(float)
    finite = bool(numeric.notna().all().all()) and bool(numeric.abs().lt(float("inf")).all().all())
    comparable = (table["kind"] == "baseline").any() and "ours" in set(table["method"])
    wins = result.wins_over_baselines() if comparable else {}
    with atomic_path(out / "summary.json") as tmp:
        tmp.write_text(json.dumps({"wins_over_every_baseline": wins, "seconds": result.seconds}, indent=2))
    experiment = mlflow.tracker().experiment_id("inverse-painting/benchmark")
    return dg.MaterializeResult(
        metadata={
            "path": dg.MetadataValue.path(str(result.csv_path)),
            "comparison": dg.MetadataValue.md(result.markdown),
            "ours_beats_every_baseline_on": ", ".join(m for m, won in wins.items() if won) or "none",
            "mlflow_parent_run_id": result.parent_run_id or "",
            "mlflow_compare": dg.MetadataValue.text(
                f"MLflow UI -> experiment {experiment} -> select the child runs of {result.parent_run_id} -> Compare"
            ),
        },
        check_results=[
            dg.AssetCheckResult(
                check_name="metrics_finite",
                passed=finite,
                description="LPIPS, IoU, DDC and DTS are finite for every method"
                if finite
                else "some metric is missing or infinite; see comparison.csv (a method may have produced no frame)",
            )
        ],
    )
