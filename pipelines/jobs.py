"""Jobs: the per-video processing job that the sensor, the demo and backfills launch."""

import dagster as dg

# Groups whose assets are partitioned per video; each later stage adds its group here.
PER_VIDEO_GROUPS = ("ingest", "curate", "annotate")

process_videos_job = dg.define_asset_job(
    name="process_videos",
    selection=dg.AssetSelection.groups(*PER_VIDEO_GROUPS),
    description="Every per-video asset for one video partition.",
)
