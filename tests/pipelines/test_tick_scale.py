"""The dataset version from stored per-video content versions: what the retraining schedule's tick reads."""

from pathlib import Path

import dagster as dg
import numpy as np
import pandas as pd
import pytest

import training.dataset as dataset
from pipelines.resources import StorageResource
from pipelines.schedules import retrain_schedule
from tests.training.test_dataset import write_video_tables
from training.data.images import write_image
from training.dataset import (
    build_manifest,
    dataset_version,
    indexed_dataset_version,
    labelled_videos,
    record_video_version,
    versioned_manifest,
)


def rewrite_labels(root: Path, video: str, texts: list[str | None]) -> None:
    path = root / "instruction_labels" / f"{video}.parquet"
    labels = pd.read_parquet(path).assign(text=texts)
    tmp = path.with_name(f".{path.name}.tmp")
    labels.to_parquet(tmp)
    tmp.replace(path)  # as write_parquet does: a new file renamed over the old one


def full_version(root: Path) -> str:
    return dataset_version(build_manifest(root, labelled_videos(root)).table)


def test_the_version_follows_one_videos_labels_and_matches_the_full_hash(tmp_path: Path) -> None:
    for k in range(4):
        write_video_tables(tmp_path, f"v{k}", ["sky", "trees"], shade=10 * k)
        record_video_version(tmp_path, f"v{k}")  # as instruction_labels does
    videos = labelled_videos(tmp_path)
    version = indexed_dataset_version(tmp_path, videos)
    assert version == full_version(tmp_path)
    # labels rewritten with the same texts: a new file, the same content, the same version
    rewrite_labels(tmp_path, "v2", ["sky", "trees"])
    assert indexed_dataset_version(tmp_path, videos) == version
    # one label of one video changed and not recorded yet (the table is newer than its entry): recomputed
    rewrite_labels(tmp_path, "v2", ["sky", "water"])
    changed = indexed_dataset_version(tmp_path, videos)
    assert changed != version and changed == full_version(tmp_path)
    # a pair labelled -> pending changes it too; the split settings are part of the version
    rewrite_labels(tmp_path, "v1", ["sky", None])
    assert indexed_dataset_version(tmp_path, videos) == full_version(tmp_path) != changed
    assert indexed_dataset_version(tmp_path, videos, val_paintings=["v0"]) == dataset_version(
        build_manifest(tmp_path, videos, val_paintings=["v0"]).table
    )
    # an image changed in place (its table not rewritten) is not seen by the tick; training_dataset hashes the
    # files (versioned_manifest) and stores what it found, so the next tick agrees with the dataset built
    before = indexed_dataset_version(tmp_path, videos)
    mask = Path(build_manifest(tmp_path, videos).table["mt_mask_path"].iloc[0])
    write_image(mask, np.full((8, 8, 3), 255, np.uint8))
    assert indexed_dataset_version(tmp_path, videos) == before
    _, built = versioned_manifest(tmp_path, videos)
    assert built == full_version(tmp_path) != before and indexed_dataset_version(tmp_path, videos) == built
    # no pair labelled at all: the same error as training_dataset's
    for video in videos:
        rewrite_labels(tmp_path, video, [None, None])
    with pytest.raises(ValueError, match="is labelled yet"):
        indexed_dataset_version(tmp_path, videos)


def test_the_schedules_tick_opens_no_videos_tables_or_images(tmp_path: Path, monkeypatch) -> None:
    for k in range(3):
        write_video_tables(tmp_path, f"v{k}", ["sky", "trees"], shade=10 * k)
        record_video_version(tmp_path, f"v{k}")
    expected = full_version(tmp_path)

    def no_reading(*args, **kwargs):
        raise AssertionError(f"the tick read a per-video file: {args}")

    monkeypatch.setattr(pd, "read_parquet", no_reading)  # the per-video tables
    monkeypatch.setattr(dataset, "content_version", no_reading)  # the images and masks
    resources = {"storage": StorageResource(data_root=str(tmp_path))}
    with dg.instance_for_test() as instance:
        request = retrain_schedule(dg.build_schedule_context(instance=instance, resources=resources))
    assert isinstance(request, dg.RunRequest)
    assert request.tags["inverse-painting/dataset_version"] == expected
