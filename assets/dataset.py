"""[dataset] training_dataset: every labelled pair of every video, split by painting, versioned by content."""

import json
from collections.abc import Iterable
from pathlib import Path

import dagster as dg
import pandas as pd
from dagster._core.storage.asset_check_execution_record import AssetCheckExecutionRecordStatus
from pydantic import Field

from assets.annotate import difference_masks, frame_pairs
from assets.curate import keyframes
from assets.ingest import canvas_frames, canvas_geometry, sampled_frames, source_video
from assets.labels import auto_labels, instruction_labels
from assets.metadata import table_metadata
from pipelines.resources import StorageResource
from training.data.storage import atomic_dir, atomic_path, write_parquet
from training.dataset import labelled_videos, versioned_manifest
from training.labels.merge import most_frequent
from training.text_generator.conversations import build_conversation_json

PER_VIDEO_ASSETS = (
    source_video,
    sampled_frames,
    canvas_geometry,
    canvas_frames,
    keyframes,
    frame_pairs,
    difference_masks,
    auto_labels,
    instruction_labels,
)
LEFT_OUT_CHECK = "no_video_left_out"


def blocking_checks() -> list[dg.AssetCheckKey]:
    """The per-video checks whose failure stops a video (``blocking=True``; failed with ERROR severity)."""
    return [spec.key for asset in PER_VIDEO_ASSETS for spec in asset.check_specs if spec.blocking]


def failed_video_checks(instance: dg.DagsterInstance, video_ids: Iterable[str]) -> dict[str, list[str]]:
    """Video id -> ``asset:check`` of its blocking checks that failed (ERROR) on the asset's latest materialization
    for that video.

    A check result names the materialization it judged (Dagster records no partition on the check of a
    partitioned asset): the latest materialization of each video is looked up and its result read. A video
    processed again with settings that pass is used again; keyframes written by import-official carry no check.
    A few queries whatever the number of videos (the retraining schedule runs this on every tick): the latest
    materialization of every partition of each asset at once, and the failed evaluations of each check.
    """
    storage = instance.event_log_storage
    keys = blocking_checks()
    latest = {
        asset_key: storage.get_latest_storage_id_by_partition(asset_key, dg.DagsterEventType.ASSET_MATERIALIZATION)
        for asset_key in {key.asset_key for key in keys}
    }
    failed: dict[str, list[str]] = {}
    for key in keys:
        failed_targets = _failed_materializations(instance, key, set(latest[key.asset_key].values()))
        for video in video_ids:
            if latest[key.asset_key].get(video) in failed_targets:
                failed.setdefault(video, []).append(f"{key.asset_key.to_user_string()}:{key.name}")
    return {video: sorted(names) for video, names in failed.items()}


def _failed_materializations(instance: dg.DagsterInstance, key: dg.AssetCheckKey, current: set[int]) -> set[int]:
    """Storage ids among ``current`` (the latest materializations) whose evaluation of ``key`` failed with ERROR
    severity (a WARN failure counts as passed).

    Only failed evaluations are read (few, where most videos pass). The per-video checks are yielded with their
    asset's output (no check runs apart from it), so a materialization has one evaluation per check.
    """
    failed: set[int] = set()
    cursor = None
    while True:
        page = instance.event_log_storage.get_asset_check_execution_history(
            key, limit=1000, cursor=cursor, status={AssetCheckExecutionRecordStatus.FAILED}
        )
        for record in page:
            evaluation = record.event.asset_check_evaluation if record.event is not None else None
            target = evaluation.target_materialization_data if evaluation is not None else None
            if (
                target is not None
                and target.storage_id in current
                and evaluation.severity == dg.AssetCheckSeverity.ERROR
            ):
                failed.add(target.storage_id)
        if len(page) < 1000:
            return failed
        cursor = page[-1].id


def usable_videos(instance: dg.DagsterInstance, data_root: Path) -> tuple[list[str], dict[str, list[str]]]:
    """The labelled videos training may use, and those left out with their failed blocking checks.

    A video whose keyframes were re-made too few (a failed enough_keyframes) still has the pairs, masks and
    labels of an earlier run on disk: they no longer match its keyframes, so the video is left out.
    """
    labelled = labelled_videos(data_root)
    left_out = failed_video_checks(instance, labelled)
    return [v for v in labelled if v not in left_out], left_out


def left_out_text(left_out: dict[str, list[str]]) -> str:
    return "; ".join(f"{video} ({', '.join(checks)})" for video, checks in sorted(left_out.items()))


class DatasetConfig(dg.Config):
    val_fraction: float = Field(
        default=0.2, ge=0.0, lt=1.0, description="Share of paintings held out for validation (split by painting)."
    )
    validation_paintings: list[str] = Field(
        default=[],
        description="Paintings held out for validation by video id, e.g. the videos of a benchmark (val_fraction "
        "is then ignored); empty: the val_fraction rule.",
    )


def read_latest(storage: StorageResource) -> dict:
    """``{"version", "manifest", "conversations"}`` of the newest training dataset, with the fix when absent."""
    path = storage.layout.latest_dataset_path
    if not path.is_file():
        raise FileNotFoundError(f"{path}: no training dataset yet; materialize training_dataset first")
    return json.loads(path.read_text())


@dg.asset(
    group_name="dataset",
    kinds={"parquet"},
    deps=[frame_pairs, difference_masks, instruction_labels],
    check_specs=[
        dg.AssetCheckSpec(
            LEFT_OUT_CHECK,
            asset="training_dataset",
            description="No labelled video was left out. A video whose latest run failed a blocking per-video "
            "check (canvas_found_on_most_frames, enough_keyframes, target_exists, masks_nonempty) is left out: "
            "its pairs on disk may be from an earlier run. Not blocking: the models train on the other videos. "
            "To fix: read the failed check of each listed video, change the data root's settings "
            "(`settings/process_videos.yaml`) or the video, run process_videos for it again, then "
            "re-materialize training_dataset.",
        )
    ],
    description="All labelled pairs of all videos, split by painting (deterministic), one folder per content "
    "version: the manifest for the mask generator and renderer, LLaVA conversation JSON for the text generator. "
    "Videos whose latest per-video check failed are left out and listed (`left_out_videos`).",
)
def training_dataset(
    context: dg.AssetExecutionContext, config: DatasetConfig, storage: StorageResource
) -> dg.MaterializeResult:
    videos, left_out = usable_videos(context.instance, storage.root)
    if left_out:
        context.log.warning(
            f"{len(left_out)} video(s) left out, a blocking per-video check failed on their latest run: "
            f"{left_out_text(left_out)}; see the check {LEFT_OUT_CHECK}"
        )
    named_out = sorted(set(config.validation_paintings) & set(left_out))
    if named_out:
        raise ValueError(
            f"validation_paintings {named_out} failed a blocking per-video check ({left_out_text(left_out)}); "
            "process them again so that their checks pass, or name other validation paintings"
        )
    if left_out and not videos:
        raise ValueError(
            f"every labelled video failed a blocking per-video check on its latest run: {left_out_text(left_out)}; "
            "fix them (see each check's description) and run process_videos for them again"
        )
    # the index of per-video versions is refreshed from the files hashed here: the schedule's ticks agree
    (manifest, pending), version = versioned_manifest(
        storage.root, videos, config.val_fraction, config.validation_paintings
    )
    if pending:
        context.log.warning(
            f"{len(pending)} pending pair(s) left out, no label yet ({', '.join(pending[:5])}"
            f"{' …' if len(pending) > 5 else ''}); see the every_pair_labelled check of instruction_labels"
        )
    folder = storage.layout.dataset_version_dir(version)
    if folder.is_dir():
        context.log.info(f"dataset version {version} already written at {folder}; reusing it")
    else:
        with atomic_dir(folder) as tmp:
            write_parquet(manifest, tmp / "manifest.parquet")
            train = manifest[manifest["split"] == "train"]
            build_conversation_json(train, tmp / "text_generator" / "train")
            val = manifest[manifest["split"] == "val"]
            if len(val):
                build_conversation_json(val, tmp / "text_generator" / "val")
    latest = {
        "version": version,
        "manifest": str(folder / "manifest.parquet"),
        "conversations": str(folder / "text_generator" / "train" / "llava_json.json"),
    }
    with atomic_path(storage.layout.latest_dataset_path) as tmp:
        tmp.write_text(json.dumps(latest, indent=2))
    splits = (
        manifest.groupby("split")["painting"]
        .agg(["nunique", "size"])
        .rename(columns={"nunique": "paintings", "size": "pairs"})
    )
    left_out_table = pd.DataFrame(
        [{"video_id": video, "failed_checks": ", ".join(checks)} for video, checks in sorted(left_out.items())],
        columns=["video_id", "failed_checks"],
    )
    return dg.MaterializeResult(
        data_version=dg.DataVersion(version),
        check_results=[
            dg.AssetCheckResult(
                check_name=LEFT_OUT_CHECK,
                passed=not left_out,
                metadata={"videos_left_out": len(left_out)},
                description=f"left out: {left_out_text(left_out)}" if left_out else "every labelled video is in",
            )
        ],
        metadata={
            "path": dg.MetadataValue.path(str(folder)),
            "version": version,
            "paintings": int(manifest["painting"].nunique()),
            "pairs": len(manifest),
            "videos_left_out": len(left_out),
            "left_out_videos": table_metadata(left_out_table.astype(str)),
            "pending_pairs_left_out": len(pending),
            "splits": table_metadata(splits.reset_index()),
            "val_rule": "named (validation_paintings)"
            if config.validation_paintings
            else f"val_fraction {config.val_fraction:g}",
            "val_paintings": ", ".join(sorted(manifest.loc[manifest["split"] == "val", "painting"].unique())),
            "most_frequent_labels": table_metadata(most_frequent(pd.DataFrame({"text": manifest["text"]}))),
        },
    )
