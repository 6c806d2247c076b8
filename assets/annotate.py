"""[annotate] group: frame pairs and their difference masks M_t = D(I_t, I_{t-1}), M_d = D(I_T, I_{t-1})."""

from collections.abc import Iterator
from typing import Literal

import dagster as dg
import pandas as pd
from pydantic import Field

from assets.curate import keyframes
from assets.metadata import check_result, stop_on_failed_checks, table_metadata
from pipelines.partition_lock import hold_partition
from pipelines.partitions import videos_partitions
from pipelines.resources import StorageResource
from training.data.difference import make_backend
from training.data.pair_outputs import DIFFERENCE_MASKS, FRAME_PAIRS, write_difference_masks, write_frame_pairs
from training.data.previews import MAX_PREVIEW_WIDTH, frame_strip, markdown_image
from training.data.quality_gates import masks_nonempty


@dg.asset(
    partitions_def=videos_partitions,
    group_name="annotate",
    kinds={"parquet"},
    deps=[keyframes],
    description="Consecutive keyframe pairs (white canvas -> first keyframe included) with Δt in video seconds.",
)
def frame_pairs(context: dg.AssetExecutionContext, storage: StorageResource) -> dg.MaterializeResult:
    video_id = context.partition_key
    layout = storage.layout
    hold_partition(context, storage, layout.images_dir(FRAME_PAIRS, video_id), layout.table_path(FRAME_PAIRS, video_id))
    path, pairs = write_frame_pairs(pd.read_parquet(layout.table_path("keyframes", video_id)), layout, video_id)
    return dg.MaterializeResult(
        metadata={
            "path": dg.MetadataValue.path(str(path)),
            "pairs": len(pairs),
            "mean_dt_s": float(pairs["dt_s"].mean()),
            "pairs_table": table_metadata(pairs[["pair_index", "prev_t_ms", "next_t_ms", "dt_s"]]),
        }
    )


class DifferenceConfig(dg.Config):
    backend: Literal["auto", "lpips", "colour-structure"] = Field(
        default="auto",
        description="lpips: AlexNet v0.1 spatial at α = 0.2 (Sec. 3.2.2); colour-structure: weight-free map with "
        "its threshold calibrated on the synthetic studio; auto: lpips when its weights are local.",
    )
    batch_size: int = Field(
        default=16, ge=1, description="Image pairs per call (M_t and M_d interleaved: a call shares its images)."
    )


@dg.asset(
    partitions_def=videos_partitions,
    group_name="annotate",
    kinds={"parquet"},
    deps=[frame_pairs],
    check_specs=[
        dg.AssetCheckSpec(
            "masks_nonempty",
            asset="difference_masks",
            blocking=True,
            description="At least 80 % of the pairs have a non-empty change mask M_t. Blocking: on a failure the "
            "run stops for this video and training_dataset leaves it out. To fix: empty masks mean consecutive "
            "keyframes look the same to the distance D; raise keyframes.min_change or min_interval_s, or check "
            "the backend's threshold (`mt_preview`).",
        )
    ],
    description="Soft difference maps (8-bit PNG, value×255) and binary masks at the backend's threshold for "
    "M_t = D(I_t, I_{t-1}) and M_d = D(I_T, I_{t-1}).",
)
def difference_masks(
    context: dg.AssetExecutionContext, config: DifferenceConfig, storage: StorageResource
) -> Iterator[dg.MaterializeResult]:
    video_id = context.partition_key
    layout = storage.layout
    hold_partition(
        context, storage, layout.images_dir(DIFFERENCE_MASKS, video_id), layout.table_path(DIFFERENCE_MASKS, video_id)
    )
    pairs = pd.read_parquet(layout.table_path(FRAME_PAIRS, video_id))
    backend = make_backend(config.backend)
    context.log.info(f"difference backend: {backend.name}, threshold {backend.threshold}")
    written = write_difference_masks(pairs, backend, layout, video_id, batch_size=config.batch_size)
    table, path, previews = written.table, written.table_path, written.previews
    checks = [check_result("masks_nonempty", masks_nonempty(int((table["mt_area"] > 0).sum()), len(table)))]
    yield dg.MaterializeResult(
        metadata={
            "path": dg.MetadataValue.path(str(path)),
            "backend": backend.name,
            "threshold": backend.threshold,
            "mean_mt_area": float(table["mt_area"].mean()),
            "mean_md_area": float(table["md_area"].mean()),
            "mt_preview": dg.MetadataValue.md(
                markdown_image(
                    frame_strip(previews, [f"M_{i + 1}" for i in range(len(previews))], max_width=MAX_PREVIEW_WIDTH),
                    alt="M_t",
                )
            ),
        },
        check_results=checks,
    )
    stop_on_failed_checks(video_id, checks)
