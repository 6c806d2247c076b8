"""Jobs: the per-video processing job that the sensor, the demo and backfills launch."""

import dagster as dg

# Groups whose assets are partitioned per video; each later stage adds its group here.
PER_VIDEO_GROUPS = ("ingest", "curate", "annotate")

process_videos_job = dg.define_asset_job(
    name="process_videos",
    selection=dg.AssetSelection.groups(*PER_VIDEO_GROUPS),
    description="Every per-video asset for one video partition.",
)

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
