"""The code location: `dagster dev` in the repository root loads `defs` from here."""

import os

import dagster as dg
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


def build_definitions(data_root: str | None = None) -> dg.Definitions:
    """Definitions on a data root (default: $INVERSE_PAINTING_DATA_ROOT or ./data).

    The data root's settings (``settings/process_videos.yaml``, pipelines/settings.py) are process_videos'
    default run config; a malformed file stops the code location with an error naming the file and the fix.
    """
    storage = StorageResource(data_root=data_root or default_data_root())
    settings = load_settings(storage.root)
    mlflow = MLflowResource(
        storage=storage,
        tracking_uri=os.environ.get("MLFLOW_TRACKING_URI"),
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
        # One process per run, every step in it: the default executor's process per step re-imports the code
        # location (~12 s each) for steps of seconds, and training holds the whole machine anyway.
        executor=dg.in_process_executor,
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
