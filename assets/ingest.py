"""[ingest] group: per-video assets from the raw file to rectified canvas frames."""

import dagster as dg
import pandas as pd

from pipelines.partitions import videos_partitions
from pipelines.resources import MLflowResource, StorageResource
from training.data.catalog import find_video
from training.data.previews import encode_image, frame_strip, markdown_image, video_thumbnails
from training.data.probe import probe_video
from training.data.storage import write_bytes, write_parquet


@dg.asset(
    partitions_def=videos_partitions,
    group_name="ingest",
    kinds={"video", "parquet"},
    description="Container facts of one input video (duration, fps, size, codec, sha256), thumbnails.",
)
def source_video(
    context: dg.AssetExecutionContext, storage: StorageResource, mlflow: MLflowResource
) -> dg.MaterializeResult:
    video_id = context.partition_key
    path = find_video(storage.videos_dir, video_id)
    probe = probe_video(path)
    context.log.info(
        f"{video_id}: {probe.duration_s:.1f} s, {probe.fps:.2f} fps, {probe.width}x{probe.height}, {probe.codec}"
    )

    table = storage.table_path("source_video", video_id)
    write_parquet(pd.DataFrame([{"video_id": video_id, **probe.as_dict()}]), table)
    shots = video_thumbnails(path, count=6)
    strip = frame_strip([image for _, image in shots], [f"{t:.1f} s" for t, _ in shots])
    strip_path = write_bytes(encode_image(strip), storage.images_dir("source_video", video_id) / "thumbnails.jpg")

    with mlflow.start_run(context, experiment="inverse-painting/ingest") as run:
        run.log_params({"video_id": video_id, **probe.as_dict()})
        run.log_artifact(strip_path)
        tracking = mlflow.run_metadata(run)

    return dg.MaterializeResult(
        metadata={
            "path": dg.MetadataValue.path(str(table)),
            "source": dg.MetadataValue.path(str(path)),
            "duration_s": probe.duration_s,
            "fps": probe.fps,
            "size": f"{probe.width}x{probe.height}",
            "codec": probe.codec,
            "sha256": probe.sha256,
            "thumbnails": dg.MetadataValue.md(markdown_image(strip, alt=video_id)),
            **tracking,
        },
        data_version=dg.DataVersion(probe.sha256),
    )
