"""[ingest] group: per-video assets from the raw file to rectified canvas frames."""

from collections.abc import Iterator
from pathlib import Path
from typing import Literal

import dagster as dg
import numpy as np
import pandas as pd
from pydantic import Field

from assets.metadata import check_result, stop_on_failed_checks
from pipelines.partition_lock import hold_partition
from pipelines.partitions import videos_partitions
from pipelines.resources import MLflowResource, ModelsResource, StorageResource
from training.data.canvas import CanvasDetector
from training.data.canvas.contour import ContourCanvasDetector
from training.data.canvas.paper_detector import GroundingCanvasDetector
from training.data.canvas.tracking import CanvasObservation, track_canvas
from training.data.catalog import find_video
from training.data.frame_outputs import CANVAS_FRAMES, SAMPLED_FRAMES, write_canvas_frames, write_sampled_frames
from training.data.grounding_dino import weights_available
from training.data.images import encode_image, read_rgb
from training.data.keyframes.border import SURROUND_LONG_SIDE, SURROUND_MARGIN
from training.data.previews import (
    MAX_PREVIEW_WIDTH,
    draw_quads,
    frame_strip,
    markdown_image,
    spread,
    table_strip,
    video_thumbnails,
)
from training.data.probe import VideoError, probe_video
from training.data.quality_gates import canvas_found
from training.data.storage import write_bytes, write_parquet
from training.data.table_readers import iter_table_frames


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
    table = storage.table_path("source_video", video_id)
    thumbnails = storage.images_dir("source_video", video_id) / "thumbnails.jpg"
    hold_partition(context, storage, table, thumbnails)
    path = find_video(storage.videos_dir, video_id)
    probe = probe_video(path)
    context.log.info(
        f"{video_id}: {probe.duration_s:.1f} s, {probe.fps:.2f} fps, {probe.width}x{probe.height}, {probe.codec}"
    )

    write_parquet(pd.DataFrame([{"video_id": video_id, **probe.as_dict()}]), table)
    shots = video_thumbnails(path, count=6)
    strip = frame_strip([image for _, image in shots], [f"{t:.1f} s" for t, _ in shots], max_width=MAX_PREVIEW_WIDTH)
    strip_path = write_bytes(encode_image(strip), thumbnails)

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


class SampledFramesConfig(dg.Config):
    sample_every_s: float = Field(
        default=2.0,
        gt=0,
        description="Video seconds between sampled frames. Keyframe filtering then keeps ~1 in 10 on real footage "
        "(the paper's ~20-25 s between keyframes); the 60 s demo videos use 1.0.",
    )


@dg.asset(
    partitions_def=videos_partitions,
    group_name="ingest",
    kinds={"video", "parquet"},
    deps=[source_video],
    description="Frames decoded every sample_every_s seconds (streamed) as JPEG, with a table t_ms, path, sha.",
)
def sampled_frames(
    context: dg.AssetExecutionContext, config: SampledFramesConfig, storage: StorageResource
) -> dg.MaterializeResult:
    video_id = context.partition_key
    layout = storage.layout
    hold_partition(
        context, storage, layout.images_dir(SAMPLED_FRAMES, video_id), layout.table_path(SAMPLED_FRAMES, video_id)
    )
    video = find_video(layout.videos_dir, video_id)
    written = write_sampled_frames(video, layout, video_id, config.sample_every_s, progress=context.log.info)
    return dg.MaterializeResult(
        metadata={
            "path": dg.MetadataValue.path(str(written.table_path)),
            "frames": len(written.rows),
            "sample_every_s": config.sample_every_s,
            "preview": dg.MetadataValue.md(markdown_image(table_strip(written.rows, count=8), alt=video_id)),
        }
    )


class CanvasConfig(dg.Config):
    backend: Literal["auto", "contour", "grounding_dino"] = Field(
        default="auto",
        description="grounding_dino: Grounding DINO 'canvas. painting.' + SAM (weights from the models resource); "
        "contour: weight-free OpenCV quadrilateral detection; auto: grounding_dino when its weights are local.",
    )
    redetect_every: int | None = Field(
        default=None,
        ge=1,
        description="Also re-run the detector every N sampled frames (catches a canvas moved on the easel while "
        "the camera stays still). Default: 5 for contour (cheap); grounding_dino only on camera moves (~30 s per "
        "frame with SAM on a CPU).",
    )


def quads_preview(frames: pd.DataFrame, observations: list[CanvasObservation], count: int = 6) -> np.ndarray:
    """A few sampled frames with the canvas quad drawn on them."""
    picks = spread(len(observations), count)
    images = [draw_quads(read_rgb(frames["path"].iloc[i]), observations[i].corners) for i in picks]
    return frame_strip(images, [f"{observations[i].t_ms / 1000:.1f} s" for i in picks], max_width=MAX_PREVIEW_WIDTH)


def canvas_detector(backend: str, models: ModelsResource, log) -> CanvasDetector:
    if backend == "auto":
        backend = "grounding_dino" if weights_available(models.grounding_dino) else "contour"
        log.info(f"canvas backend auto -> {backend}")
    if backend == "contour":
        return ContourCanvasDetector()
    sam = Path(models.sam_checkpoint) if models.sam_checkpoint else None
    return GroundingCanvasDetector(
        model=models.grounding_dino, sam_checkpoint=sam, sam_model_type=models.sam_model_type, device=models.device
    )


@dg.asset(
    partitions_def=videos_partitions,
    group_name="ingest",
    kinds={"parquet"},
    deps=[sampled_frames],
    check_specs=[
        dg.AssetCheckSpec(
            "canvas_found_on_most_frames",
            asset="canvas_geometry",
            blocking=True,
            description="The canvas quadrilateral is found on at least 90 % of the sampled frames. Blocking: on a "
            "failure the run stops for this video and training_dataset leaves it out. To fix: look at the "
            "`preview` (quads drawn on frames); try the other `backend` (contour / grounding_dino), or trim the "
            "video to the part where the canvas is in view.",
        )
    ],
    description="Canvas quadrilateral per sampled frame (corners TL, TR, BR, BL in source pixels), "
    "detected once per stable camera segment and tracked between.",
)
def canvas_geometry(
    context: dg.AssetExecutionContext, config: CanvasConfig, storage: StorageResource, models: ModelsResource
) -> Iterator[dg.MaterializeResult]:
    video_id = context.partition_key
    hold_partition(context, storage, storage.table_path("canvas_geometry", video_id))
    frames = pd.read_parquet(storage.table_path("sampled_frames", video_id))
    detector = canvas_detector(config.backend, models, context.log)
    redetect = config.redetect_every or (5 if detector.name == "contour" else None)
    observations = list(track_canvas(iter_table_frames(frames), detector, redetect_every=redetect))
    table = pd.DataFrame(
        {
            "t_ms": [o.t_ms for o in observations],
            "corners": [None if o.corners is None else o.corners.tolist() for o in observations],
            "score": [o.score for o in observations],
            "segment": [o.segment for o in observations],
            "detected": [o.detected for o in observations],
            "backend": detector.name,
        }
    )
    path = write_parquet(table, storage.table_path("canvas_geometry", video_id))
    found = int(table["corners"].notna().sum())
    verdict = canvas_found(found, len(table))
    preview = quads_preview(frames, observations)
    checks = [check_result("canvas_found_on_most_frames", verdict)]
    yield dg.MaterializeResult(
        metadata={
            "path": dg.MetadataValue.path(str(path)),
            "backend": detector.name,
            "canvas_found_fraction": verdict.value,
            "segments": int(table["segment"].nunique()),
            "detector_calls": int(table["detected"].sum()),
            "preview": dg.MetadataValue.md(markdown_image(preview, alt=f"{video_id} canvas")),
        },
        check_results=checks,
    )
    stop_on_failed_checks(video_id, checks, no_canvas_message(storage, video_id) if found == 0 else None)


def no_canvas_message(storage: StorageResource, video_id: str) -> str:
    return (
        f"no canvas was found in any sampled frame of {find_video(storage.videos_dir, video_id)}; see the "
        "canvas_geometry preview, try another canvas backend, or remove the video."
    )


class CanvasFramesConfig(dg.Config):
    long_side: int = Field(default=512, ge=64, description="Long side of the rectified canvas in pixels.")
    surround_margin: float = Field(
        default=SURROUND_MARGIN,
        ge=0.0,
        le=1.0,
        description="Also rectify the canvas with this margin (share of its width and height) on every side, for "
        "the keyframes' arm test (an arm crossing the canvas border); 0 writes no surrounds.",
    )
    surround_long_side: int = Field(
        default=SURROUND_LONG_SIDE, ge=32, description="Long side of the surround images in pixels."
    )


@dg.asset(
    partitions_def=videos_partitions,
    group_name="ingest",
    kinds={"parquet"},
    deps=[canvas_geometry],
    description="Each sampled frame's canvas rectified by homography to one aspect-correct size per video.",
)
def canvas_frames(
    context: dg.AssetExecutionContext, config: CanvasFramesConfig, storage: StorageResource
) -> dg.MaterializeResult:
    video_id = context.partition_key
    layout = storage.layout
    hold_partition(
        context, storage, layout.images_dir(CANVAS_FRAMES, video_id), layout.table_path(CANVAS_FRAMES, video_id)
    )
    frames = pd.read_parquet(layout.table_path(SAMPLED_FRAMES, video_id))
    geometry = pd.read_parquet(layout.table_path("canvas_geometry", video_id))
    if geometry["corners"].isna().all():  # canvas_geometry stops the run before; this is a table written some other way
        raise VideoError(f"{video_id}: {no_canvas_message(storage, video_id)}")
    written = write_canvas_frames(
        frames, geometry, layout, video_id, config.long_side, config.surround_margin, config.surround_long_side
    )
    rows, size, around = written.rows, written.size, written.surround_size
    metadata = {
        "path": dg.MetadataValue.path(str(written.table_path)),
        "size": f"{size[0]}x{size[1]}",
        "frames": sum(r["path"] is not None for r in rows),
        "preview": dg.MetadataValue.md(markdown_image(table_strip(rows, count=8), alt=video_id)),
    }
    if around is not None:
        surrounds = [{"t_ms": r["t_ms"], "path": r["surround_path"]} for r in rows]
        metadata["surround_size"] = f"{around[0]}x{around[1]}"
        metadata["surround_preview"] = dg.MetadataValue.md(
            markdown_image(table_strip(surrounds, count=8), alt=f"{video_id} surrounds")
        )
    return dg.MaterializeResult(metadata=metadata)
