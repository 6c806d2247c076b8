"""[curate] group: keyframes — clean frames with new paint, the target I_T, and why others were dropped."""

import dataclasses
from collections.abc import Iterator
from typing import Literal

import dagster as dg
import pandas as pd
from pydantic import Field

from assets.ingest import canvas_frames
from assets.metadata import check_result, stop_on_failed_checks
from pipelines.partition_lock import hold_partition
from pipelines.partitions import videos_partitions
from pipelines.resources import ModelsResource, StorageResource
from training.data.grounding_dino import weights_available
from training.data.hand_detector import GroundingOccluderDetector
from training.data.images import read_rgb
from training.data.keyframe_outputs import keyframes_outputs, write_keyframes
from training.data.keyframes import KeyframeConfig, KeyframeSelection, select_keyframes
from training.data.previews import markdown_image, table_strip
from training.data.quality_gates import MIN_KEYFRAMES, enough_keyframes, target_exists
from training.data.table_readers import LazyFrames, corners_array, table_surrounds


class KeyframesConfig(dg.Config):
    occluder_backend: Literal["auto", "temporal", "grounding_dino"] = Field(
        default="auto",
        description="grounding_dino: 'hand. paintbrush.' boxes over the canvas; temporal: weight-free (a change "
        "that does not persist is an occluder, plus a skin-colour cue; and, where canvas_frames wrote surrounds, "
        "an arm crossing the canvas border); auto: grounding_dino when its weights are local.",
    )
    min_change: float | None = Field(
        default=None, description="Fraction of the canvas that must carry new paint since the last keyframe."
    )
    min_interval_s: float | None = Field(
        default=None,
        description="Minimum video seconds between keyframes; unset: the video's duration / keyframes_per_video.",
    )
    keyframes_per_video: int | None = Field(
        default=None,
        ge=1,
        description="Space keyframes so that about this many fit the video (min_interval_s = duration / N); unset: "
        "the paper's density whatever the video's length (duration / 30: 18 s on a 9-minute video, 2.5 s on a "
        "75-s time-lapse), fewer where fewer changes exist.",
    )


def grounding_occlusion(storage: StorageResource, models: ModelsResource, video_id: str, batch: int = 8) -> list[bool]:
    """Per canvas frame: does a Grounding DINO hand/paintbrush box overlap the canvas (in the source frame)?"""
    sampled = pd.read_parquet(storage.table_path("sampled_frames", video_id))
    geometry = pd.read_parquet(storage.table_path("canvas_geometry", video_id))
    detector = GroundingOccluderDetector(model=models.grounding_dino, device=models.device)
    corners = [corners_array(cell) for cell in geometry["corners"]]
    with_canvas = [i for i, c in enumerate(corners) if c is not None]
    flags = [False] * len(corners)  # frames without a canvas are dropped as "no_canvas" anyway
    for start in range(0, len(with_canvas), batch):
        chunk = with_canvas[start : start + batch]
        images = [read_rgb(sampled["path"].iloc[i]) for i in chunk]
        for i, flag in zip(chunk, detector.occluded(images, [corners[i] for i in chunk]), strict=True):
            flags[i] = flag
    return flags


@dg.asset(
    partitions_def=videos_partitions,
    group_name="curate",
    kinds={"parquet"},
    deps=[canvas_frames],
    check_specs=[
        dg.AssetCheckSpec(
            "enough_keyframes",
            asset="keyframes",
            blocking=True,
            description=f"At least {MIN_KEYFRAMES} keyframes were kept. Blocking: on a failure the run stops for "
            "this video and training_dataset leaves it out. To fix: check the data root's settings "
            "(`settings/process_videos.yaml`) and the `dropped` counts; sample more often "
            "(sampled_frames.sample_every_s), lower keyframes.min_interval_s or min_change, or raise "
            "keyframes_per_video.",
        ),
        dg.AssetCheckSpec(
            "target_exists",
            asset="keyframes",
            blocking=True,
            description="A clean frame of the finished painting (the target I_T) was found. Blocking: on a failure "
            "the run stops for this video and training_dataset leaves it out. To fix: look at the dropped frames "
            "(`dropped_preview`, `keyframes/<id>.dropped.parquet`): every late frame occluded, or the video ends "
            "before the painting is finished; trim or replace the video.",
        ),
    ],
    description="Clean keyframes in time order (the last is the target I_T), named `{index}_{m:ss}.jpg` as in the "
    "paper's release; every dropped frame with its reason in `keyframes/<id>.dropped.parquet`.",
)
def keyframes(
    context: dg.AssetExecutionContext, config: KeyframesConfig, storage: StorageResource, models: ModelsResource
) -> Iterator[dg.MaterializeResult]:
    video_id = context.partition_key
    layout = storage.layout
    hold_partition(context, storage, *keyframes_outputs(layout, video_id))
    table = pd.read_parquet(storage.table_path("canvas_frames", video_id))
    frames = LazyFrames(table)
    duration = float(pd.read_parquet(storage.table_path("source_video", video_id))["duration_s"].iloc[0])
    settings = KeyframeConfig.for_duration(duration, config.keyframes_per_video)
    overrides = {"min_change": config.min_change, "min_interval_s": config.min_interval_s}
    settings = dataclasses.replace(settings, **{k: v for k, v in overrides.items() if v is not None})
    context.log.info(f"keyframe settings: min_change {settings.min_change}, min_interval_s {settings.min_interval_s}")

    backend = config.occluder_backend
    if backend == "auto":
        backend = "grounding_dino" if weights_available(models.grounding_dino) else "temporal"
        context.log.info(f"occluder backend auto -> {backend}")
    occluded = grounding_occlusion(storage, models, video_id) if backend == "grounding_dino" else None
    surrounds = table_surrounds(table) if occluded is None else None
    if occluded is None and surrounds is None:
        context.log.info("canvas_frames has no surrounds (surround_margin 0): the canvas test decides alone")
    selection = select_keyframes(frames, settings, occluded=occluded, surrounds=surrounds)

    kept, dropped, path_of = write_keyframes(layout, video_id, frames, selection)
    verdicts = [enough_keyframes(len(kept)), target_exists(path_of.get(selection.target_t_ms))]
    reasons = dropped["reason"].value_counts().to_dict()
    kept_rows = kept.to_dict("records")
    dropped_rows = [
        {"t_ms": t, "path": frames.paths[i], "caption": reason}
        for i, (t, reason) in enumerate(zip(frames.t_ms, _reasons(selection), strict=True))
        if reason and frames.paths[i]
    ]
    metadata = {
        "path": dg.MetadataValue.path(str(layout.table_path("keyframes", video_id))),
        "keyframes": len(kept),
        "occluder_backend": selection.backend,
        "min_interval_s": settings.min_interval_s,
        "target_t_ms": selection.target_t_ms,
        "completion_t_ms": selection.completion_t_ms,
        "mean_interval_s": float(kept["t_ms"].diff().mean() / 1000) if len(kept) > 1 else 0.0,
        "dropped": dg.MetadataValue.json({str(k): int(v) for k, v in reasons.items()}),
        "kept_preview": dg.MetadataValue.md(markdown_image(table_strip(kept_rows, count=10), alt="kept")),
    }
    if dropped_rows:
        metadata["dropped_preview"] = dg.MetadataValue.md(
            markdown_image(table_strip(dropped_rows, count=6), alt="dropped")
        )
    checks = [check_result(name, v) for name, v in zip(["enough_keyframes", "target_exists"], verdicts, strict=True)]
    yield dg.MaterializeResult(metadata=metadata, check_results=checks)
    stop_on_failed_checks(video_id, checks)


def _reasons(selection: KeyframeSelection) -> list[str | None]:
    return [decision.reason for decision in selection.decisions]
