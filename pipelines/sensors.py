"""Sensors: new files in the videos folder become partitions and are processed; runs whose process died
are marked failed so that the run queue moves."""

import dagster as dg

from pipelines.jobs import PROCESS_VIDEOS
from pipelines.partitions import videos_partitions
from pipelines.resources import StorageResource
from pipelines.settings import load_settings
from pipelines.stale_runs import fail_stale_runs
from training.data.catalog import new_video_ids, scan_videos


@dg.sensor(
    job_name=PROCESS_VIDEOS,
    minimum_interval_seconds=30,
    default_status=dg.DefaultSensorStatus.RUNNING,
    description="Registers each new file in `<data root>/videos` as a `videos` partition and requests its "
    "processing with the data root's settings (`<data root>/settings/process_videos.yaml`, read at every tick).",
)
def new_videos_sensor(context: dg.SensorEvaluationContext, storage: StorageResource) -> dg.SensorResult | dg.SkipReason:
    catalog = scan_videos(storage.videos_dir)
    for path, reason in catalog.skipped.items():
        context.log.warning(f"skipped {path}: {reason}")
    known = set(context.instance.get_dynamic_partitions(videos_partitions.name))
    new = new_video_ids(catalog, known)
    if not new:
        return dg.SkipReason(f"no new videos in {storage.videos_dir} ({len(catalog.videos)} known)")
    # Read at every tick (not when the code location loaded): a settings file written since is used.
    settings = load_settings(storage.root)
    context.log.info(f"registering {len(new)} new videos: {', '.join(new[:10])}{' ...' if len(new) > 10 else ''}")
    return dg.SensorResult(
        dynamic_partitions_requests=[videos_partitions.build_add_request(new)],
        # run_key: a partition deleted and re-added by hand is processed again only on request.
        run_requests=[dg.RunRequest(partition_key=key, run_key=key, run_config=settings) for key in new],
    )


@dg.sensor(
    minimum_interval_seconds=60,
    default_status=dg.DefaultSensorStatus.RUNNING,
    description="Marks failed every STARTED run whose process is gone (killed with SIGKILL, a reboot): such a run "
    "would stay STARTED forever, and the one-training-at-a-time limit would keep every later training queued.",
)
def stale_runs_sensor(context: dg.SensorEvaluationContext) -> dg.SkipReason:
    failed = fail_stale_runs(context.instance)
    for run in failed:
        context.log.warning(f"run {run.run_id} ({run.job_name}) {run.message}")
    if not failed:
        return dg.SkipReason("every STARTED run still has its process")
    return dg.SkipReason(
        f"marked {len(failed)} runs failed whose process was gone: {', '.join(r.run_id for r in failed)}"
    )
