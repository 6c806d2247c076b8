"""The code location: `dagster dev` in the repository root loads `defs` from here."""

import os

import dagster as dg

from assets.annotate import difference_masks, frame_pairs
from assets.curate import keyframes
from assets.dataset import training_dataset
from assets.evaluation import benchmark, reconstructions
from assets.ingest import canvas_frames, canvas_geometry, sampled_frames, source_video
from assets.labels import auto_labels, instruction_labels, label_corrections
from assets.training import mask_generator, renderer, text_generator
from pipelines.jobs import evaluate_models_job, process_videos_job, train_models_job
from pipelines.resources import MLflowResource, ModelsResource, StorageResource, default_data_root
from pipelines.schedules import retrain_schedule
from pipelines.sensors import new_videos_sensor, stale_runs_sensor


def build_definitions(data_root: str | None = None) -> dg.Definitions:
    """Definitions on a data root (default: $INVERSE_PAINTING_DATA_ROOT or ./data)."""
    storage = StorageResource(data_root=data_root or default_data_root())
    mlflow = MLflowResource(
        storage=storage,
        tracking_uri=os.environ.get("MLFLOW_TRACKING_URI"),
        ui_url=os.environ.get("INVERSE_PAINTING_MLFLOW_UI", "http://127.0.0.1:5000"),
    )
    return dg.Definitions(
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
        jobs=[process_videos_job, train_models_job, evaluate_models_job],
        schedules=[retrain_schedule],
        sensors=[new_videos_sensor, stale_runs_sensor],
        resources={"storage": storage, "mlflow": mlflow, "models": ModelsResource()},
    )


defs = build_definitions()
