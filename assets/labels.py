"""[annotate] instruction labels: auto labels per pair, the people's correction store, and their merge."""

import hashlib
import warnings
from typing import Literal

import dagster as dg
import pandas as pd
from pydantic import Field

from assets.annotate import difference_masks, frame_pairs
from assets.metadata import table_metadata
from pipelines.partitions import videos_partitions
from pipelines.resources import StorageResource
from training.data.catalog import find_video
from training.data.storage import write_parquet
from training.dataset import record_video_version
from training.labels.auto import NO_LABELLER_FIX, make_pair_labeller, read_pair_tables
from training.labels.auto import auto_labels as label_pairs
from training.labels.llava import DEFAULT_LLAVA
from training.labels.merge import correction_rate, most_frequent, orphaned_corrections, unlabelled
from training.labels.merge import instruction_labels as merge_labels
from training.labels.store import latest_corrections, legacy_corrections, read_history

# observable_source_asset is marked beta; it is the Dagster construct for data written outside the pipeline
warnings.filterwarnings("ignore", message=".*observable_source_asset.*", category=dg.BetaWarning)


class AutoLabelsConfig(dg.Config):
    backend: Literal["auto", "llava", "synthetic", "nearest", "none"] = Field(
        default="auto",
        description="llava: LLaVA-1.5 answering p' (App. A.2); synthetic: the studio's truth labels; nearest: "
        "nearest neighbours of the corrected pairs; none: every pair pending for a person to label; auto: llava "
        "when its weights are local, else synthetic for studio videos, else nearest when corrections exist, else "
        "none.",
    )
    llava_model: str = Field(default=DEFAULT_LLAVA, description="Hub id or local directory of the LLaVA model.")
    device: str = Field(default="auto", description="auto (cuda when available), cpu or cuda[:n].")
    batch_size: int = Field(default=8, ge=1, description="Pairs per LLaVA generate call.")


@dg.asset(
    partitions_def=videos_partitions,
    group_name="annotate",
    kinds={"parquet"},
    deps=[frame_pairs, difference_masks],
    description="One answer to p' per pair (App. A.2) with its backend, model id, prompt hash and time.",
)
def auto_labels(
    context: dg.AssetExecutionContext, config: AutoLabelsConfig, storage: StorageResource
) -> dg.MaterializeResult:
    video_id = context.partition_key
    pairs, masks = read_pair_tables(storage.root, video_id)
    try:
        video_path = find_video(storage.videos_dir, video_id)
    except FileNotFoundError:
        video_path = None  # imported curated keyframes have no video file
    with warnings.catch_warnings(record=True) as caught:  # e.g. a foreign <stem>.truth.json, ignored
        warnings.simplefilter("always", UserWarning)
        labeller = make_pair_labeller(
            config.backend,
            video_path,
            storage.root,
            llava_model=config.llava_model,
            device=config.device,
            batch_size=config.batch_size,
        )
    for warning in caught:
        context.log.warning(str(warning.message))
    context.log.info(f"label backend: {labeller.backend} ({labeller.model_id})")
    table = label_pairs(video_id, pairs, masks, labeller)
    path = write_parquet(table, storage.table_path("auto_labels", video_id))
    pending = int(table["text"].isna().sum())
    if pending:
        context.log.warning(f"{video_id}: {pending} of {len(table)} pairs are pending (no label); {NO_LABELLER_FIX}")
    return dg.MaterializeResult(
        metadata={
            "path": dg.MetadataValue.path(str(path)),
            "backend": labeller.backend,
            "model_id": labeller.model_id,
            "prompt_hash": labeller.prompt_hash,
            "answered": len(table) - pending,
            "pending": pending,
            "labels": table_metadata(table[["pair_index", "text"]]),
        }
    )


@dg.observable_source_asset(
    group_name="annotate",
    description="Manual corrections of instruction labels: an append-only history written only by "
    "`inverse-painting labels import` (Label Studio export or CSV), never by a pipeline run.",
)
def label_corrections(storage: StorageResource) -> dg.ObserveResult:
    store = storage.layout.corrections_dir
    history = read_history(store)
    latest = latest_corrections(store)
    legacy = legacy_corrections(store)
    # the version changes with every import, so the UI marks instruction_labels stale after one
    version = hashlib.sha256(pd.util.hash_pandas_object(history, index=False).values.tobytes()).hexdigest()[:16]
    return dg.ObserveResult(
        data_version=dg.DataVersion(version),
        metadata={
            "imports": int(history["seq"].nunique()) if len(history) else 0,
            "corrected_pairs": len(latest),
            # written before corrections recorded frame times: never applied, see instruction_labels
            "legacy_corrections": len(legacy),
        },
    )


@dg.asset(
    partitions_def=videos_partitions,
    group_name="annotate",
    kinds={"parquet"},
    deps=[frame_pairs, auto_labels, label_corrections],
    check_specs=[
        dg.AssetCheckSpec(
            "every_pair_labelled",
            asset="instruction_labels",
            description="Every pair has a text instruction (a correction or an auto label). A warning, not "
            "blocking: pending pairs are left out of training_dataset, the rest of the video is used. To fix: "
            "`inverse-painting labels export --csv`, fill the `correction` column, `labels import` it, then "
            "re-materialize instruction_labels (or set auto_labels' backend to llava / nearest).",
        )
    ],
    description="The text instruction per pair: the latest correction of the pair's frames (video + frame "
    "times) if any, else the auto label (`source`). Corrections of frames no pair covers now (re-curated) are "
    "reported as orphaned, kept in the history, and never applied to another pair.",
)
def instruction_labels(context: dg.AssetExecutionContext, storage: StorageResource) -> dg.MaterializeResult:
    video_id = context.partition_key
    auto = pd.read_parquet(storage.table_path("auto_labels", video_id))
    pairs = pd.read_parquet(storage.table_path("frame_pairs", video_id)).assign(video_id=video_id)
    store = storage.layout.corrections_dir
    corrections = latest_corrections(store)
    labels = merge_labels(auto, corrections, pairs)
    orphans = orphaned_corrections(corrections, legacy_corrections(store), pairs, videos={video_id})
    path = write_parquet(labels, storage.table_path("instruction_labels", video_id))
    missing = unlabelled(labels)
    # The video's content version, stored for the retraining schedule (which must not read 10 000 videos' files
    # per tick) and given to Dagster as this partition's data version.
    try:
        content = record_video_version(storage.root, video_id).version or "unlabelled"
    except ValueError as exc:  # tables out of step: training_dataset reports it; the schedule skips until fixed
        context.log.warning(f"{video_id}: no content version recorded: {exc}")
        content = None
    if len(orphans):
        context.log.warning(
            f"{video_id}: {len(orphans)} correction(s) match no current pair and are not applied (kept in the "
            f"history); e.g. {orphans['pair_id'].iloc[0]}: {orphans['reason'].iloc[0]}"
        )
    return dg.MaterializeResult(
        data_version=dg.DataVersion(content) if content else None,
        metadata={
            "path": dg.MetadataValue.path(str(path)),
            "content_version": content or "unknown (tables out of step)",
            "pairs": len(labels),
            "correction_rate": correction_rate(labels),
            "most_frequent": table_metadata(most_frequent(labels)),
            "orphaned_corrections": len(orphans),
            **(
                {
                    "orphaned": table_metadata(
                        orphans.head(100)[["pair_id", "text", "corrected_at", "reason"]].astype(str)
                    )
                }
                if len(orphans)
                else {}
            ),
        },
        check_results=[
            dg.AssetCheckResult(
                check_name="every_pair_labelled",
                passed=not missing,
                # pending pairs are left out of the dataset, the video's other pairs are fine: not an error
                severity=dg.AssetCheckSeverity.WARN,
                metadata={"unlabelled": len(missing)},
                description=(
                    "every pair has a label"
                    if not missing
                    else f"{len(missing)} of {len(labels)} pair(s) are pending ({', '.join(missing[:5])}"
                    f"{' …' if len(missing) > 5 else ''}): the auto backend gave no answer and nobody corrected "
                    f"them; training_dataset leaves them out. To fix: {NO_LABELLER_FIX}; then re-materialize "
                    "instruction_labels."
                ),
            )
        ],
    )
