"""The code location: `dagster dev` in the repository root loads `defs` from here."""

import os
from pathlib import Path

import dagster as dg
import yaml
from dagster._core.storage.defs_state.base import set_defs_state_storage

from assets.annotate import difference_masks, frame_pairs
from assets.curate import keyframes
from assets.dataset import training_dataset
from assets.evaluation import benchmark, reconstructions
from assets.ingest import canvas_frames, canvas_geometry, sampled_frames, source_video
from assets.labels import auto_labels, instruction_labels, label_corrections
from assets.training import mask_generator, renderer, text_generator
from pipelines.jobs import PROCESS_VIDEOS, evaluate_models_job, process_videos_job_for, train_models_job
from pipelines.resources import MLflowResource, ModelsResource, StorageResource, default_data_root
from pipelines.schedules import retrain_schedule
from pipelines.sensors import new_videos_sensor, stale_runs_sensor
from pipelines.settings import config_classes, load_settings, settings_path, validate_settings
from training.data_root import tracking_uri_override

# Where each step of a run executes: the deployment picks it (deploy/README.md); unset, the one-machine default.
EXECUTOR_ENV = "INVERSE_PAINTING_EXECUTOR"
EXECUTORS = ("in_process", "celery", "k8s")
DEPLOY_DIR = Path(__file__).resolve().parents[1] / "deploy"
# The executor config shared with the workers: `dagster-celery worker start -y deploy/celery.yaml` reads the same file.
EXECUTOR_CONFIG_FILES = {"celery": DEPLOY_DIR / "celery.yaml", "k8s": DEPLOY_DIR / "k8s_executor.yaml"}


def executor_config(name: str) -> dict:
    """The ``execution.config`` block of ``deploy/<executor>.yaml``; ValueError naming the file when malformed."""
    path = EXECUTOR_CONFIG_FILES[name]
    try:
        config = (yaml.safe_load(path.read_text(encoding="utf-8")) or {})["execution"]["config"]
    except (OSError, yaml.YAMLError, KeyError, TypeError) as error:
        raise ValueError(
            f"{path}: cannot read the {name} executor's config ({error}); it must hold `execution: config: {{...}}` "
            "as in the checkout (git checkout -- deploy/)"
        ) from error
    return dict(config)


def executor_from_env() -> dg.ExecutorDefinition:
    """The executor ``$INVERSE_PAINTING_EXECUTOR`` names (default ``in_process``).

    ``celery``: each step is a task for the Celery workers (``pip install -e '.[cluster]'``), configured from
    deploy/celery.yaml (broker and result backend from the environment); ``k8s``: each step is a Kubernetes Job
    (dagster-k8s' k8s_job_executor, deploy/k8s_executor.yaml; the run launcher's settings come from the instance).
    """
    name = os.environ.get(EXECUTOR_ENV, "").strip() or "in_process"
    if name == "in_process":
        # One process per run, every step in it: the default executor's process per step re-imports the code
        # location (~12 s each) for steps of seconds, and training holds the whole machine anyway.
        return dg.in_process_executor
    if name not in EXECUTORS:
        raise ValueError(f"{EXECUTOR_ENV}={name!r}: choose one of {', '.join(EXECUTORS)} (unset: in_process)")
    try:
        if name == "celery":
            from dagster_celery import celery_executor as executor
        else:
            from dagster_k8s import k8s_job_executor as executor
    except ImportError as error:
        raise ValueError(
            f"{EXECUTOR_ENV}={name} needs the cluster extra: pip install -e '.[cluster]' ({error})"
        ) from error
    return executor.configured(executor_config(name), name=executor.name)


def build_definitions(data_root: str | None = None) -> dg.Definitions:
    """Definitions on a data root (default: $INVERSE_PAINTING_DATA_ROOT or ./data).

    The data root's settings (``settings/process_videos.yaml``, pipelines/settings.py) are process_videos'
    default run config; a malformed file stops the code location with an error naming the file and the fix.
    """
    storage = StorageResource(data_root=data_root or default_data_root())
    settings = load_settings(storage.root)
    mlflow = MLflowResource(
        storage=storage,
        tracking_uri=tracking_uri_override(),
        ui_url=os.environ.get("INVERSE_PAINTING_MLFLOW_UI", "http://127.0.0.1:5000"),
    )
    defs = dg.Definitions(
        assets=[
            source_video,
            sampled_frames,
            canvas_geometry,
            canvas_frames,
            keyframes,
            frame_pairs,
            difference_masks,
            auto_labels,
            label_corrections,
            instruction_labels,
            training_dataset,
            text_generator,
            mask_generator,
            renderer,
            reconstructions,
            benchmark,
        ],
        jobs=[process_videos_job_for(settings), train_models_job, evaluate_models_job],
        schedules=[retrain_schedule],
        sensors=[new_videos_sensor, stale_runs_sensor],
        resources={"storage": storage, "mlflow": mlflow, "models": ModelsResource()},
        executor=executor_from_env(),
    )
    # The repository is built here, with no Dagster instance current: Dagster 1.13's DagsterInstance.__exit__
    # disposes the instance but leaves its definitions-state storage current in this thread, and a later first
    # build of a repository (resolve_job_def, a run) then fails once that instance is garbage-collected
    # ("Attempted to resolve undefined DagsterInstance weakref"). This code location keeps no definitions state.
    with set_defs_state_storage(None):
        defs.get_repository_def()
    if settings:
        job = defs.resolve_job_def(PROCESS_VIDEOS)
        validate_settings(job, settings, settings_path(storage.root), config_classes(defs.assets or []))
    return defs


defs = build_definitions()
