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
from pydantic import Field

from assets.dataset import read_latest, training_dataset
from pipelines.resources import MLflowResource, StorageResource
from training.data.images import read_rgb
from training.data.previews import markdown_image
from training.experiment_tracking import REGISTERED_MODELS, TrackedRun
from training.models.presets import Preset, get_preset
from training.plots import loss_curve_png
from training.train.result import TrainResult

EXPERIMENT = "inverse-painting/training"
TRAINING_KIND = {"inverse-painting/kind": "training"}
# which way the logged training metrics improve (lr, epoch, grad_norm describe the run; no better side)
LOWER_IS_BETTER = {"loss": True}
HPARAM_FIELDS = ("steps", "lr", "batch_size")  # TrainConfig fields that default to the preset's
EXPERIMENT_DESCRIPTION = (
    "One run per trained model (text_generator, mask_generator, renderer), from the Dagster training assets. "
    "Params: the hyper-parameters the run used (the preset's where the config left them unset), the dataset "
    "version; metric `loss` per step (lower is better; tags `metric_direction.<metric>`). Each run logs its model "
    "as an MLflow pyfunc (signature, input example) registered as `text-generator`, `mask-generator` or `renderer`."
)


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
    init: Literal["pretrained", "random"] = Field(
        default="pretrained",
        description="paper preset: start from the pretrained weights (hub ids or local copies), or build the same "
        "architectures from their configs with random weights (nothing downloaded; for throughput and memory "
        "runs, not for results). The tiny preset is random-initialised either way.",
    )
    device: Literal["auto", "cpu", "cuda"] = Field(
        default="auto", description="Where to train: auto = CUDA when present, else the CPU. Logged resolved."
    )
    dtype: Literal["auto", "fp32", "bf16", "fp16"] = Field(
        default="auto",
        description="Compute dtype: mixed precision over float32 weights for the mask generator and renderer "
        "(fp32 = none), the weights' dtype for the text generator. auto: fp32 on the CPU; on CUDA bf16 (fp16 "
        "without bf16) for the diffusion models and the preset's for the text generator. Logged resolved.",
    )
    save_optimizer_state: bool = Field(
        default=False,
        description="Checkpoints also hold the optimizer state, for an exact resume (the paper-scale renderer: "
        "~7 GB of weights + ~14 GB of AdamW moments each). Without it a resume keeps the weights and the step "
        "and starts a fresh optimizer (logged as result.resumed_optimizer_state).",
    )
    keep_checkpoints: int = Field(default=2, ge=1, description="How many of the newest checkpoints are kept.")
    processes: int = Field(
        default=1,
        ge=1,
        description="Training processes on this machine (torchrun launched through Dagster Pipes; on CUDA one per "
        "GPU, on the CPU gloo); batch_size is per process. 1: trains in the Dagster run's process. The mask "
        "generator and renderer only: the text generator's trainer has no multi-process path. Several machines: "
        "see pipelines/distributed_training.py.",
    )


# fields added after runs were made: left out of the hash at their defaults, so those runs' folders still resume
_HASH_OPTIONAL = {
    "init": "pretrained",
    "device": "auto",
    "dtype": "auto",
    "save_optimizer_state": False,
    "processes": 1,
}


def _config_hash(config: TrainConfig) -> str:
    # keep_checkpoints never changes what is trained: a changed retention resumes the same run
    dump = {k: v for k, v in config.model_dump().items() if k != "keep_checkpoints" and _HASH_OPTIONAL.get(k, ...) != v}
    return hashlib.sha256(json.dumps(dump, sort_keys=True).encode()).hexdigest()[:8]


def _placement(config: TrainConfig) -> tuple[str, str, dict]:
    """(device, accelerate mixed_precision, the resolved ``device`` / ``dtype`` params) of a diffusers model."""
    from training.device import mixed_precision, resolve_device, resolve_dtype, runtime_params

    device = resolve_device(config.device)
    dtype = resolve_dtype(config.dtype, device)
    return str(device), mixed_precision(dtype), runtime_params(device, dtype)


def _tiny_root(storage: StorageResource) -> Path:
    return storage.layout.tiny_base_dir


def _preset(storage: StorageResource, name: str, init: str = "pretrained") -> Preset:
    return get_preset(name, tiny_root=_tiny_root(storage), init=init)


def _train_and_register(
    context: dg.AssetExecutionContext,
    config: TrainConfig,
    storage: StorageResource,
    mlflow: MLflowResource,
    hparams: dict,
    train: Callable[[dict, Path, Callable[[int, dict], None]], TrainResult],
) -> dg.MaterializeResult:
    """Shared body of the three training assets: dataset, run, loss curve, logged and registered model, metadata.

    ``hparams``: the hyper-parameters the run uses (config values, else the preset's), logged as params.
    ``train(latest, out_dir, log)`` trains and returns the model's ``TrainResult``; its ``summary()`` is logged as
    ``result.*`` params and shown in the metadata.
    """
    from training.mlflow_models import model_description, save_pyfunc, version_description

    asset = context.asset_key.to_user_string()
    latest = read_latest(storage)
    out_dir = storage.layout.models_dir(asset) / f"{latest['version']}-{_config_hash(config)}"
    losses: list[tuple[int, float]] = []
    mlflow.tracker().describe_experiment(EXPERIMENT, EXPERIMENT_DESCRIPTION, LOWER_IS_BETTER)
    with mlflow.start_run(context, EXPERIMENT) as run:
        # steps / lr / batch_size are logged as used (hparams), the other settings as set (unset ones left out)
        settings = {k: v for k, v in config.model_dump().items() if v is not None and k not in HPARAM_FIELDS}
        run.log_params({"model": asset, "dataset_version": latest["version"], **settings, **hparams})
        run.set_tags({"dataset_version": latest["version"], **TRAINING_KIND})

        def log(step: int, metrics: dict) -> None:
            run.log_metrics({k: float(v) for k, v in metrics.items() if isinstance(v, int | float)}, step=step)
            if "loss" in metrics:
                losses.append((step, float(metrics["loss"])))
                context.log.info(f"{asset} step {step}: loss {metrics['loss']:.4f}")

        result = train(latest, out_dir, log)
        facts = result.summary()
        run.log_params({f"result.{k}": v for k, v in facts.items()})
        metadata = _curve(run, losses, out_dir)
        folder = Path(result.model_dir)
        model_id = run.log_model(
            asset,
            lambda dest, spec: save_pyfunc(asset, folder, dest, spec),
            model_type=asset,
            params={"dataset_version": latest["version"], **hparams},
        )
        name = REGISTERED_MODELS[asset]
        version = run.register_model(
            name,
            model_id,
            tags={"dataset_version": latest["version"]},
            description=version_description(asset, latest["version"], run.run_id, {**hparams, **facts}),
            model_description=model_description(asset),
        )
        context.log.info(f"registered {name} version {version} (logged model {model_id}) from {folder}")
    return dg.MaterializeResult(
        metadata={
            "path": dg.MetadataValue.path(str(folder)),
            "dataset_version": latest["version"],
            "registered_model": name,
            "model_version": version,
            "mlflow_model_uri": f"models:/{name}/{version}",
            **hparams,  # then the result: "steps" is the steps done (a time budget may stop early)
            **facts,
            **metadata,
            **mlflow.run_metadata(run),
        }
    )


def _curve(run: TrackedRun, losses: list[tuple[int, float]], out_dir: Path) -> dict:
    """The loss curve as a picture (MLflow artifact and Dagster metadata) and the last loss."""
    if not losses:
        return {}
    path = loss_curve_png(losses, out_dir / "loss_curve.png")
    run.log_artifact(path, "plots")
    return {
        "final_loss": losses[-1][1],
        "loss_curve": dg.MetadataValue.md(markdown_image(read_rgb(path), alt="training loss")),
        "loss_curve_path": dg.MetadataValue.path(str(path)),
    }


def _diffusion_hparams(config: TrainConfig, storage: StorageResource, model: str) -> dict:
    """steps, lr, batch_size the diffusers trainers use: the config's, else the preset's (App. A)."""
    from training.train.loop import preset_hparams

    steps, lr, batch_size = preset_hparams(
        _preset(storage, config.preset), None, model, config.steps, config.lr, config.batch_size
    )
    # device and dtype as resolved (cpu / fp32, not "auto"): they replace the config's values in the params
    return {"steps": steps, "lr": lr, "batch_size": batch_size, **_placement(config)[2]}


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
    from training.device import dtype_name, resolve_device, resolve_dtype
    from training.text_generator import get_preset as text_preset
    from training.text_generator import train_text_generator
    from training.text_generator.models import pick_dtype

    if config.processes > 1:
        raise ValueError(
            f"text_generator: processes={config.processes}, but its trainer runs in one process (no DDP path); "
            "set processes to 1 for the text generator (the mask generator and renderer train on several)"
        )
    # the text generator counts epochs (TrainConfig.steps) and logs its optimizer steps as result.steps
    device = resolve_device(config.device)
    # dtype auto keeps the preset's weights dtype (paper: bf16 on CUDA; always float32 on the CPU)
    weights = None if config.dtype == "auto" else str(resolve_dtype(config.dtype, device)).removeprefix("torch.")
    used = text_preset(config.preset).with_overrides(
        epochs=config.steps, lr=config.lr, batch_size=config.batch_size, dtype=weights
    )
    runtime = {"device": device.type, "dtype": dtype_name(pick_dtype(used.dtype, device))}
    hparams = {"epochs": used.epochs, "lr": used.lr, "batch_size": used.batch_size, **runtime}

    def train(latest: dict, out_dir: Path, log: Callable[[int, dict], None]) -> TrainResult:
        return train_text_generator(
            Path(latest["conversations"]),
            used,
            out_dir,
            seed=config.seed,
            log=log,
            device=str(device),
            save_optimizer_state=config.save_optimizer_state,
            keep_checkpoints=config.keep_checkpoints,
        )

    return _train_and_register(context, config, storage, mlflow, hparams, train)


def _diffusion_trainer(
    context: dg.AssetExecutionContext, config: TrainConfig, storage: StorageResource
) -> Callable[[dict, Path, Callable[[int, dict], None]], TrainResult]:
    """The ``train`` callback of a diffusers-based model (mask generator, renderer): one job, trained in the Dagster
    process (processes 1) or in ``config.processes`` processes (torchrun through Dagster Pipes,
    pipelines/distributed_training.py), with the same folder and resume."""
    from pipelines.distributed_training import TrainJob, run_distributed, train_in_process

    device, precision, _ = _placement(config)

    def train(latest: dict, out_dir: Path, log: Callable[[int, dict], None]) -> TrainResult:
        _preset(storage, config.preset, config.init)  # the tiny base is built here once, not by every process
        job = TrainJob(
            model=context.asset_key.to_user_string(),
            manifest=str(Path(latest["manifest"]).resolve()),
            preset=config.preset,
            tiny_root=str(_tiny_root(storage).resolve()),
            init=config.init,
            out_dir=str(out_dir.resolve()),
            steps=config.steps,
            lr=config.lr,
            batch_size=config.batch_size,
            seed=config.seed,
            time_budget_s=config.time_budget_s,
            device=device,
            mixed_precision=precision,
            save_optimizer_state=config.save_optimizer_state,
            keep_checkpoints=config.keep_checkpoints,
        )
        if config.processes > 1:
            return run_distributed(context, job, config.processes, log)
        return train_in_process(job, log)

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
    train = _diffusion_trainer(context, config, storage)
    hparams = _diffusion_hparams(config, storage, "mask")
    return _train_and_register(context, config, storage, mlflow, hparams, train)


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
    train = _diffusion_trainer(context, config, storage)
    hparams = _diffusion_hparams(config, storage, "renderer")
    return _train_and_register(context, config, storage, mlflow, hparams, train)
