"""[training] text_generator, mask_generator, renderer: one MLflow run each, resumable, registered in MLflow.

Each model trains into ``<data root>/models/<asset>/<dataset version>-<config hash>/``; a run that is killed
and launched again with the same dataset and config resumes from the last checkpoint there.
"""

import hashlib
import json
from collections.abc import Callable
from pathlib import Path
from typing import Literal

import dagster as dg
import pandas as pd
from pydantic import Field

from assets.dataset import read_latest, training_dataset
from pipelines.resources import MLflowResource, StorageResource
from training.models.presets import Preset, get_preset
from training.plots import loss_curve_png
from training.tracking import REGISTERED_MODELS, TrackedRun

EXPERIMENT = "inverse-painting/training"
TRAINING_KIND = {"inverse-painting/kind": "training"}


class TrainConfig(dg.Config):
    preset: Literal["tiny", "paper"] = Field(
        default="tiny",
        description="paper: SD-1.5 / RealisticVision / CLIP / LLaVA-1.5-7B weights (hub ids or local paths) and App. A "
        "hyper-parameters; tiny: the same classes at CPU size, trained from scratch.",
    )
    steps: int | None = Field(default=None, ge=1, description="Optimizer steps (epochs for the text generator).")
    lr: float | None = Field(default=None, gt=0, description="Learning rate; unset keeps the preset's.")
    batch_size: int | None = Field(default=None, ge=1, description="Batch size; unset keeps the preset's.")
    seed: int = 0
    time_budget_s: float | None = Field(
        default=None, gt=0, description="Stop (after a checkpoint) once this much wall time has passed."
    )


def _config_hash(config: TrainConfig) -> str:
    return hashlib.sha256(json.dumps(config.model_dump(), sort_keys=True).encode()).hexdigest()[:8]


def _preset(storage: StorageResource, name: str) -> Preset:
    return get_preset(name, tiny_root=storage.asset_dir("models") / "tiny-base")


def _train_and_register(
    context: dg.AssetExecutionContext,
    config: TrainConfig,
    storage: StorageResource,
    mlflow: MLflowResource,
    train: Callable[[dict, Path, Callable[[int, dict], None]], dict],
) -> dg.MaterializeResult:
    """Shared body of the three training assets: dataset, run, loss curve, registration, metadata."""
    asset = context.asset_key.to_user_string()
    latest = read_latest(storage)
    out_dir = storage.asset_dir("models") / asset / f"{latest['version']}-{_config_hash(config)}"
    losses: list[tuple[int, float]] = []
    with mlflow.start_run(context, EXPERIMENT) as run:
        run.log_params({"model": asset, "dataset_version": latest["version"], **config.model_dump()})
        run.set_tags({"dataset_version": latest["version"], **TRAINING_KIND})

        def log(step: int, metrics: dict) -> None:
            run.log_metrics({k: float(v) for k, v in metrics.items() if isinstance(v, int | float)}, step=step)
            if "loss" in metrics:
                losses.append((step, float(metrics["loss"])))
                context.log.info(f"{asset} step {step}: loss {metrics['loss']:.4f}")

        summary = train(latest, out_dir, log)
        run.log_params({f"result.{k}": v for k, v in summary.items() if k != "model_dir"})
        metadata = _curve(run, losses, out_dir)
        tags = {"dataset_version": latest["version"]}
        version = run.register_model(REGISTERED_MODELS[asset], Path(summary["model_dir"]), tags)
        context.log.info(f"registered {REGISTERED_MODELS[asset]} version {version} from {summary['model_dir']}")
    return dg.MaterializeResult(
        metadata={
            "path": dg.MetadataValue.path(str(summary["model_dir"])),
            "dataset_version": latest["version"],
            "registered_model": REGISTERED_MODELS[asset],
            "model_version": version,
            **{k: v for k, v in summary.items() if k != "model_dir" and isinstance(v, int | float | str)},
            **metadata,
            **mlflow.run_metadata(run),
        }
    )


def _curve(run: TrackedRun, losses: list[tuple[int, float]], out_dir: Path) -> dict:
    if not losses:
        return {}
    path = loss_curve_png(losses, out_dir / "loss_curve.png")
    run.log_artifact(path, "plots")
    return {"final_loss": losses[-1][1], "loss_curve": dg.MetadataValue.path(str(path))}


@dg.asset(
    group_name="training",
    kinds={"pytorch", "mlflow"},
    deps=[training_dataset],
    op_tags=TRAINING_KIND,
    description="g_text: LLaVA-1.5 + LoRA (paper) or the tiny LLaVA trained in full, on the conversation JSON.",
)
def text_generator(
    context: dg.AssetExecutionContext, config: TrainConfig, storage: StorageResource, mlflow: MLflowResource
) -> dg.MaterializeResult:
    from training.text_generator import train_text_generator

    def train(latest: dict, out_dir: Path, log: Callable[[int, dict], None]) -> dict:
        result = train_text_generator(
            Path(latest["conversations"]),
            config.preset,
            out_dir,
            epochs=config.steps,
            lr=config.lr,
            batch_size=config.batch_size,
            seed=config.seed,
            log=log,
        )
        return {
            "model_dir": result.path,
            "steps": result.steps,
            "resumed_from_step": result.resumed_from_step,
            "train_seconds": round(result.train_seconds, 1),
        }

    return _train_and_register(context, config, storage, mlflow, train)


def _diffusion_trainer(config: TrainConfig, storage: StorageResource, train_fn: Callable):
    """The ``train`` callback of a diffusers-based model (mask generator, renderer): same data, same result."""

    def train(latest: dict, out_dir: Path, log: Callable[[int, dict], None]) -> dict:
        result = train_fn(
            pd.read_parquet(latest["manifest"]),
            _preset(storage, config.preset),
            out_dir,
            steps=config.steps,
            lr=config.lr,
            batch_size=config.batch_size,
            seed=config.seed,
            log=log,
            time_budget_s=config.time_budget_s,
        )
        return {
            "model_dir": result.model_dir,
            "steps": result.steps,
            "resumed_from_step": result.resumed_from,
            "train_seconds": round(result.seconds, 1),
        }

    return train


@dg.asset(
    group_name="training",
    kinds={"pytorch", "mlflow"},
    deps=[training_dataset],
    op_tags=TRAINING_KIND,
    description="g_mask: UNet on [E(I_T), E(I_{t-1}), M_d] with text + time tokens, BCE on M_t (Eq. 3).",
)
def mask_generator(
    context: dg.AssetExecutionContext, config: TrainConfig, storage: StorageResource, mlflow: MLflowResource
) -> dg.MaterializeResult:
    from training.train.mask_generator import train_mask_generator

    train = _diffusion_trainer(config, storage, train_mask_generator)
    return _train_and_register(context, config, storage, mlflow, train)


@dg.asset(
    group_name="training",
    kinds={"pytorch", "mlflow"},
    deps=[training_dataset],
    op_tags=TRAINING_KIND,
    description="Renderer: g_u + ReferenceNet g_r + g_f + g_t + g_c, noise-prediction loss (Eq. 1), 10 % dropout "
    "of each condition.",
)
def renderer(
    context: dg.AssetExecutionContext, config: TrainConfig, storage: StorageResource, mlflow: MLflowResource
) -> dg.MaterializeResult:
    from training.train.renderer import train_renderer

    return _train_and_register(context, config, storage, mlflow, _diffusion_trainer(config, storage, train_renderer))
