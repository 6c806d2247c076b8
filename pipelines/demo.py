"""`inverse-painting demo`: synthetic videos in, every asset materialized, a summary out."""

from __future__ import annotations

import sys
from dataclasses import dataclass, field
from pathlib import Path

import dagster as dg
from tqdm import tqdm

from evaluation.studio import StudioConfig, generate_studio
from pipelines.definitions import build_definitions
from pipelines.instance import REPO_ROOT, prepare_environment
from pipelines.jobs import TRAINING_MODELS, evaluate_models_job, train_models_job
from pipelines.resources import MLflowResource, StorageResource
from pipelines.runner import ChainReport, register_videos, run_job, run_per_video_chain
from training.data.catalog import scan_videos

# The demo's videos compress a whole painting into about a minute (real footage: ~9 minutes), so
# frames are sampled denser and keyframes spaced closer than the defaults for real footage.
UNPARTITIONED_JOBS = (train_models_job.name, evaluate_models_job.name)
DEMO_SAMPLE_EVERY_S = 1.0
DEMO_KEYFRAMES_PER_VIDEO = 10
# Two of the six demo paintings are held out, so the benchmark averages over more than one painting.
DEMO_VAL_FRACTION = 0.34
# Wall-time cap (s) per tiny model, so the three train within 10 minutes on 2 CPU cores even when the
# machine is busy; on an idle machine the preset's steps (600 each) finish first.
DEMO_TRAIN_BUDGET_S = {"mask_generator": 200.0, "renderer": 300.0}


def evaluation_config(quick: bool = False) -> dict:
    """Run config of `evaluate_models` for the demo; ``quick`` (tests) caps our updates at the longest training
    painting's."""
    settings: dict = {"update_factor": 1.0 if quick else 1.5}
    return {"ops": {"reconstructions": {"config": settings}, "benchmark": {"config": {}}}}


def training_config(steps: int | None = None, val_fraction: float = DEMO_VAL_FRACTION) -> dict:
    """Run config of `train_models` for the demo: the tiny preset, each model within its time budget.

    ``steps`` caps every model's steps (epochs for the text generator), for quick checks.
    """
    ops: dict = {"training_dataset": {"config": {"val_fraction": val_fraction}}}
    for model in TRAINING_MODELS:
        model_config: dict = {"preset": "tiny"}
        if model in DEMO_TRAIN_BUDGET_S:
            model_config["time_budget_s"] = DEMO_TRAIN_BUDGET_S[model]
        if steps is not None:
            model_config["steps"] = steps
        ops[model] = {"config": model_config}
    return {"ops": ops}


def chain_config(sample_every_s: float | None = None, keyframes_per_video: int | None = None) -> dict:
    """Run config of the per-video chain; unset values keep the assets' defaults (for real footage)."""
    ops: dict = {}
    if sample_every_s is not None:
        ops["sampled_frames"] = {"config": {"sample_every_s": sample_every_s}}
    if keyframes_per_video is not None:
        ops["keyframes"] = {"config": {"keyframes_per_video": keyframes_per_video}}
    return {"ops": ops} if ops else {}


@dataclass
class DemoSummary:
    data_root: Path
    dagster_home: Path
    tracking_uri: str
    generated: list[str] = field(default_factory=list)
    outputs: dict[str, list[tuple[str, str]]] = field(default_factory=dict)  # asset -> [(video id, path)]
    failures: dict[str, str] = field(default_factory=dict)
    comparison: str = ""  # the benchmark's Markdown table

    def commands(self) -> list[str]:
        bindir = Path(sys.executable).parent
        return [
            f"cd {REPO_ROOT} && DAGSTER_HOME={self.dagster_home} INVERSE_PAINTING_DATA_ROOT={self.data_root} "
            f"{bindir / 'dagster'} dev",
            f"{bindir / 'mlflow'} ui --backend-store-uri {self.tracking_uri}",
        ]

    def render(self) -> str:
        lines = [f"Data root: {self.data_root}", f"Dagster instance: {self.dagster_home}", ""]
        if self.generated:
            lines.append(f"Synthetic studio: generated {len(self.generated)} videos into {self.data_root / 'videos'}")
        for asset, produced in self.outputs.items():
            if produced and produced[0][0] in UNPARTITIONED_JOBS:
                lines.append(f"{asset}: materialized -> {produced[0][1]}")
                continue
            folder = Path(produced[0][1]).parent if produced else ""
            lines.append(f"{asset}: {len(produced)} partitions materialized -> {folder}")
        for key, error in self.failures.items():
            lines.append(f"FAILED {key}: {error}")
        if self.comparison:
            lines += ["", "Benchmark (validation paintings; also in MLflow, experiment inverse-painting/benchmark):"]
            lines += ["", self.comparison.strip()]
        lines += ["", "Browse the results:", *(f"  {c}" for c in self.commands())]
        return "\n".join(lines)


def ensure_demo_videos(videos_dir: Path, count: int, seed: int, config: StudioConfig) -> list[str]:
    """Generate the synthetic videos when the folder has no video yet; return the ids generated."""
    if scan_videos(videos_dir).videos:
        return []
    bar = tqdm(total=count, desc="synthetic studio", unit="video")

    def advance(done: int, total: int) -> None:
        bar.update(done - bar.n)

    made = generate_studio(videos_dir, count=count, seed=seed, config=config, progress=advance)
    bar.close()
    return [video.video_id for video in made]


def run_demo(
    data_root: Path,
    dagster_home: Path,
    count: int = 6,
    seed: int = 0,
    config: StudioConfig | None = None,
    train_steps: int | None = None,
) -> DemoSummary:
    prepare_environment(dagster_home, data_root)
    defs = build_definitions(str(data_root.resolve()))
    storage: StorageResource = defs.resources["storage"]
    mlflow: MLflowResource = defs.resources["mlflow"]
    summary = DemoSummary(storage.root, dagster_home.resolve(), mlflow.resolved_tracking_uri())
    summary.generated = ensure_demo_videos(storage.videos_dir, count, seed, config or StudioConfig())

    instance = dg.DagsterInstance.get()
    catalog = scan_videos(storage.videos_dir)
    register_videos(instance, list(catalog.videos))
    report = run_per_video_chain(
        defs,
        instance,
        list(catalog.videos),
        run_config=chain_config(DEMO_SAMPLE_EVERY_S, DEMO_KEYFRAMES_PER_VIDEO),
        tags={"inverse-painting/launched-by": "demo"},
    )
    summary.outputs, summary.failures = report.outputs, report.failures
    stages = [
        (train_models_job.name, training_config(train_steps)),
        (evaluate_models_job.name, evaluation_config(quick=train_steps is not None)),
    ]
    for job_name, run_config in stages:
        done = run_job(defs, instance, job_name, run_config, launched_by="demo")
        summary.outputs.update(done.outputs)
        summary.failures.update(done.failures)
        if done.failures:
            break  # evaluation needs trained models: report the first problem, not its consequences
    comparison = storage.asset_dir("benchmark") / "comparison.md"
    if "benchmark" in summary.outputs and comparison.is_file():
        summary.comparison = comparison.read_text()
    return summary


def evaluate(data_root: Path, dagster_home: Path, run_config: dict | None = None) -> tuple[ChainReport, str]:
    """Materialize `reconstructions` and `benchmark` of a data root with trained models; the table as Markdown."""
    prepare_environment(dagster_home, data_root)
    defs = build_definitions(str(data_root.resolve()))
    storage: StorageResource = defs.resources["storage"]
    report = run_job(defs, dg.DagsterInstance.get(), evaluate_models_job.name, run_config or {}, "benchmark")
    comparison = storage.asset_dir("benchmark") / "comparison.md"
    table = comparison.read_text() if "benchmark" in report.outputs and comparison.is_file() else ""
    return report, table
