"""[annotate] group: frame pairs and their difference masks M_t = D(I_t, I_{t-1}), M_d = D(I_T, I_{t-1})."""

from collections.abc import Iterator
from typing import Literal

import dagster as dg
import numpy as np
import pandas as pd
from pydantic import Field

from assets.curate import keyframes
from assets.metadata import check_result, stop_on_failed_checks, table_metadata
from pipelines.partition_lock import hold_partition
from pipelines.partitions import videos_partitions
from pipelines.resources import StorageResource
from training.data.difference import binarize, distance_maps, make_backend, mean_distance, to_soft_png
from training.data.images import read_rgb, write_image
from training.data.pairs import make_pairs, white_canvas
from training.data.previews import MAX_PREVIEW_WIDTH, frame_strip, markdown_image
from training.data.quality_gates import masks_nonempty
from training.data.storage import atomic_dir, write_parquet


@dg.asset(
    partitions_def=videos_partitions,
    group_name="annotate",
    kinds={"parquet"},
    deps=[keyframes],
    description="Consecutive keyframe pairs (white canvas -> first keyframe included) with Δt in video seconds.",
)
def frame_pairs(context: dg.AssetExecutionContext, storage: StorageResource) -> dg.MaterializeResult:
    video_id = context.partition_key
    hold_partition(
        context, storage, storage.images_dir("frame_pairs", video_id), storage.table_path("frame_pairs", video_id)
    )
    kept = pd.read_parquet(storage.table_path("keyframes", video_id))
    target_path = str(kept.loc[kept["is_target"], "path"].iloc[-1]) if kept["is_target"].any() else None
    if target_path is None:
        raise ValueError(f"{video_id}: keyframes has no target I_T; see the keyframes asset check target_exists")
    height, width = read_rgb(target_path).shape[:2]
    with atomic_dir(storage.images_dir("frame_pairs", video_id)) as tmp:
        white = write_image(tmp / "white.png", white_canvas((width, height)))
    white_path = str(storage.images_dir("frame_pairs", video_id) / white.name)
    pairs = make_pairs(list(kept[["t_ms", "path"]].itertuples(index=False, name=None)), target_path, white_path)
    path = write_parquet(pairs, storage.table_path("frame_pairs", video_id))
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


def _pair_images(pairs: pd.DataFrame) -> Iterator[tuple[np.ndarray, np.ndarray]]:
    """(I_t, I_{t-1}) then (I_T, I_{t-1}) for every pair: M_t and M_d interleaved, one stream for batching."""
    target = read_rgb(pairs["target_path"].iloc[0])
    for prev_path, next_path in pairs[["prev_path", "next_path"]].itertuples(index=False):
        previous = read_rgb(prev_path)
        yield read_rgb(next_path), previous
        yield target, previous


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
    folder = storage.images_dir("difference_masks", video_id)
    hold_partition(context, storage, folder, storage.table_path("difference_masks", video_id))
    pairs = pd.read_parquet(storage.table_path("frame_pairs", video_id))
    backend = make_backend(config.backend)
    context.log.info(f"difference backend: {backend.name}, threshold {backend.threshold}")
    rows, previews = [], []
    maps = distance_maps(backend, _pair_images(pairs), batch_size=config.batch_size)
    with atomic_dir(folder) as tmp:
        for index in pairs["pair_index"]:
            row: dict = {"pair_index": int(index)}
            for kind in ("mt", "md"):
                soft = next(maps)
                mask = binarize(soft, backend.threshold)
                write_image(tmp / f"{index:03d}_{kind}.png", to_soft_png(soft))
                write_image(tmp / f"{index:03d}_{kind}_mask.png", mask.astype(np.uint8) * 255)
                row |= {
                    f"{kind}_path": str(folder / f"{index:03d}_{kind}.png"),
                    f"{kind}_mask_path": str(folder / f"{index:03d}_{kind}_mask.png"),
                    f"{kind}_area": float(mask.mean()),
                    f"{kind}_mean": mean_distance(soft),
                }
                if kind == "mt" and len(previews) < 6:
                    previews.append(np.repeat(to_soft_png(soft)[:, :, None], 3, axis=2))
            rows.append(row)
    table = pd.DataFrame(rows).assign(backend=backend.name, threshold=backend.threshold)
    path = write_parquet(table, storage.table_path("difference_masks", video_id))
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
