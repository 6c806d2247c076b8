"""Scheduled retraining: weekly, and only when the dataset changed since the models were last trained."""

import dagster as dg

from assets.dataset import usable_videos
from pipelines.jobs import TRAINING_MODELS, train_models_job
from pipelines.resources import StorageResource
from training.dataset import indexed_dataset_version


def trained_versions(instance: dg.DagsterInstance) -> dict[str, str | None]:
    """Dataset version each model was last trained on (None: never trained)."""
    out: dict[str, str | None] = {}
    for model in TRAINING_MODELS:
        event = instance.get_latest_materialization_event(dg.AssetKey(model))
        entry = event.asset_materialization.metadata.get("dataset_version") if event else None
        out[model] = str(entry.value) if entry is not None else None
    return out


@dg.schedule(
    job=train_models_job,
    cron_schedule="0 3 * * 1",  # Mondays 03:00: after a week of new videos, when the machine is quiet
    default_status=dg.DefaultScheduleStatus.RUNNING,
    description="Weekly retraining, launched only when the labelled data's version differs from the version "
    "any model was last trained on.",
)
def retrain_schedule(context: dg.ScheduleEvaluationContext, storage: StorageResource):
    # The videos training_dataset would use (not those whose latest per-video check failed): the same version.
    videos, _ = usable_videos(context.instance, storage.root)
    if not videos:
        return dg.SkipReason(f"no labelled video under {storage.root} passes its checks; nothing to train on")
    try:
        # training_dataset's version with its default split, from the per-video versions stored when each
        # video's labels were materialized: a tick opens no video's tables or images (10 000 videos, 60 s).
        version = indexed_dataset_version(storage.root, videos)
    except ValueError as exc:  # e.g. no labelled pair yet: training would fail the same way
        return dg.SkipReason(f"dataset not ready: {exc}")
    stale = [m for m, v in trained_versions(context.instance).items() if v != version]
    if not stale:
        return dg.SkipReason(f"every model is trained on dataset version {version}")
    context.log.info(f"dataset version {version}; retraining because {', '.join(stale)} are on another version")
    return dg.RunRequest(run_key=f"retrain-{version}", tags={"inverse-painting/dataset_version": version})
