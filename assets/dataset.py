"""[dataset] training_dataset: every labelled pair of every video, split by painting, versioned by content."""

import json

import dagster as dg
import pandas as pd
from pydantic import Field

from assets.annotate import difference_masks, frame_pairs
from assets.labels import instruction_labels
from assets.metadata import table_metadata
from pipelines.resources import StorageResource
from training.data.storage import atomic_dir, atomic_path, write_parquet
from training.dataset import build_manifest, dataset_version, labelled_videos
from training.labels.conversation import build_conversation_json
from training.labels.merge import most_frequent

LATEST = "latest.json"


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
    path = storage.asset_dir("training_dataset") / LATEST
    if not path.is_file():
        raise FileNotFoundError(f"{path}: no training dataset yet; materialize training_dataset first")
    return json.loads(path.read_text())


@dg.asset(
    group_name="dataset",
    kinds={"parquet"},
    deps=[frame_pairs, difference_masks, instruction_labels],
    description="All labelled pairs of all videos, split by painting (deterministic), one folder per content "
    "version: the manifest for the mask generator and renderer, LLaVA conversation JSON for the text generator.",
)
def training_dataset(
    context: dg.AssetExecutionContext, config: DatasetConfig, storage: StorageResource
) -> dg.MaterializeResult:
    videos = labelled_videos(storage.root)
    manifest, pending = build_manifest(storage.root, videos, config.val_fraction, config.validation_paintings)
    if pending:
        context.log.warning(
            f"{len(pending)} pending pair(s) left out, no label yet ({', '.join(pending[:5])}"
            f"{' …' if len(pending) > 5 else ''}); see the every_pair_labelled check of instruction_labels"
        )
    version = dataset_version(manifest)
    folder = storage.asset_dir("training_dataset") / version
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
    with atomic_path(storage.asset_dir("training_dataset") / LATEST) as tmp:
        tmp.write_text(json.dumps(latest, indent=2))
    splits = (
        manifest.groupby("split")["painting"]
        .agg(["nunique", "size"])
        .rename(columns={"nunique": "paintings", "size": "pairs"})
    )
    return dg.MaterializeResult(
        data_version=dg.DataVersion(version),
        metadata={
            "path": dg.MetadataValue.path(str(folder)),
            "version": version,
            "paintings": int(manifest["painting"].nunique()),
            "pairs": len(manifest),
            "pending_pairs_left_out": len(pending),
            "splits": table_metadata(splits.reset_index()),
            "val_rule": "named (validation_paintings)"
            if config.validation_paintings
            else f"val_fraction {config.val_fraction:g}",
            "val_paintings": ", ".join(sorted(manifest.loc[manifest["split"] == "val", "painting"].unique())),
            "most_frequent_labels": table_metadata(most_frequent(pd.DataFrame({"text": manifest["text"]}))),
        },
    )
