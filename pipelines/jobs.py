"""Jobs: the per-video processing job that the sensor, the demo and backfills launch."""

from typing import Any

import dagster as dg

# Groups whose assets are partitioned per video; each later stage adds its group here.
PER_VIDEO_GROUPS = ("ingest", "curate", "annotate")

PROCESS_VIDEOS = "process_videos"


def process_videos_job_for(run_config: dict[str, Any] | None = None):
    """The per-video job; ``run_config`` (a data root's settings, pipelines/settings.py) is its default run
    config: what the UI's launchpad shows and launches."""
    return dg.define_asset_job(
        name=PROCESS_VIDEOS,
        selection=dg.AssetSelection.groups(*PER_VIDEO_GROUPS),
        config=run_config or None,
        description="Every per-video asset for one video partition, with the data root's settings "
        "(`settings/process_videos.yaml` under the data root) as the default run config.",
    )


# Without settings: for its name, and for code that needs no data root.
process_videos_job = process_videos_job_for()

# Run tag that dagster.yaml's tag_concurrency_limits caps at one run: trainings never share the machine.
TRAINING_TAGS = {"inverse-painting/kind": "training"}
TRAINING_MODELS = ("text_generator", "mask_generator", "renderer")

train_models_job = dg.define_asset_job(
    name="train_models",
    selection=dg.AssetSelection.assets("training_dataset", *TRAINING_MODELS),
    tags=TRAINING_TAGS,
    description="Rebuild the training dataset from every labelled video, then train the three models.",
)

evaluate_models_job = dg.define_asset_job(
    name="evaluate_models",
    selection=dg.AssetSelection.assets("reconstructions", "benchmark"),
    description="Paint every validation painting with every method (ours, ablations, baselines) and score them.",
)
