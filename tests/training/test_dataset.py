"""The training dataset's split and version, on hand-made per-video tables."""

from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from training.data.images import write_image
from training.dataset import build_manifest, dataset_version, labelled_videos, validation_paintings


def test_split_is_by_painting_deterministic_and_stable_when_videos_are_added() -> None:
    ids = [f"video-{k}" for k in range(10)]
    held = validation_paintings(ids, 0.2)
    assert len(held) == 2 and held == validation_paintings(list(reversed(ids)), 0.2)
    assert validation_paintings(["a"], 0.5) == set()  # one painting: all training
    assert len(validation_paintings(["a", "b"], 0.9)) == 1  # always keep one for training
    more = validation_paintings([*ids, "video-10", "video-11"], 0.2)
    assert held <= more or len(more) == len(held)  # a new video may join the held-out set, never reshuffle it
    with pytest.raises(ValueError, match="val_fraction"):
        validation_paintings(ids, 1.0)


def write_video_tables(root: Path, video: str, texts: list[str | None], shade: int = 10) -> None:
    folder = root / "files" / video
    folder.mkdir(parents=True)
    rows, masks = [], []
    for k, _ in enumerate(texts):
        paths = {}
        for name in ("prev", "next", "target", "mt", "md", "mt_mask", "md_mask"):
            paths[name] = str(write_image(folder / f"{k}_{name}.png", np.full((8, 8, 3), shade + k, np.uint8)))
        rows.append(
            {
                "pair_index": k,
                "prev_t_ms": k * 1000,
                "next_t_ms": (k + 1) * 1000,
                "prev_path": paths["prev"],
                "next_path": paths["next"],
                "target_path": paths["target"],
                "dt_s": 1.0,
            }
        )
        masks.append({"pair_index": k, **{f"{n}_path": paths[n] for n in ("mt", "md", "mt_mask", "md_mask")}})
    for asset, frame in (("frame_pairs", rows), ("difference_masks", masks)):
        (root / asset).mkdir(parents=True, exist_ok=True)
        pd.DataFrame(frame).to_parquet(root / asset / f"{video}.parquet")
    labels = pd.DataFrame(
        {"pair_index": range(len(texts)), "pair_id": [f"{video}/{k:03d}" for k in range(len(texts))], "text": texts}
    )
    (root / "instruction_labels").mkdir(parents=True, exist_ok=True)
    labels.to_parquet(root / "instruction_labels" / f"{video}.parquet")


def test_manifest_version_follows_content(tmp_path: Path) -> None:
    for k in range(5):
        write_video_tables(tmp_path, f"v{k}", ["sky", "trees"], shade=10 * k)
    videos = labelled_videos(tmp_path)
    manifest = build_manifest(tmp_path, videos, val_fraction=0.4).table
    assert len(manifest) == 10 and manifest.groupby("painting")["split"].nunique().max() == 1
    assert set(manifest.loc[manifest["split"] == "val", "painting"]) == validation_paintings(videos, 0.4)
    version = dataset_version(manifest)
    assert version == dataset_version(build_manifest(tmp_path, videos, val_fraction=0.4).table)
    # one mask file changes -> new version
    write_image(Path(manifest["mt_mask_path"].iloc[3]), np.zeros((8, 8, 3), np.uint8))
    assert dataset_version(manifest) != version


def test_pending_pairs_are_left_out_and_named(tmp_path: Path) -> None:
    write_video_tables(tmp_path, "v0", ["sky", None, " "])
    manifest, pending = build_manifest(tmp_path, ["v0"])
    assert manifest["pair_id"].tolist() == ["v0/000"] and pending == ["v0/001", "v0/002"]
    write_video_tables(tmp_path, "v1", [None, None], shade=50)
    with pytest.raises(ValueError, match="none of the 2 pairs of 1 video"):
        build_manifest(tmp_path, ["v1"])
    with pytest.raises(ValueError, match="every labelled pair belongs to a validation painting"):
        build_manifest(tmp_path, ["v0", "v1"], val_paintings=["v0"])
    with pytest.raises(ValueError, match="no video has instruction labels"):
        build_manifest(tmp_path / "empty", [])


def test_named_validation_paintings_replace_the_fraction_rule(tmp_path: Path) -> None:
    for k in range(4):
        write_video_tables(tmp_path, f"v{k}", ["sky"], shade=10 * k)
    videos = labelled_videos(tmp_path)
    manifest = build_manifest(tmp_path, videos, val_fraction=0.5, val_paintings=["v3"]).table
    assert set(manifest.loc[manifest["split"] == "val", "painting"]) == {"v3"}  # exactly the named, not half
    assert validation_paintings(videos, 0.0, ["v1", "v2"]) == {"v1", "v2"}
    with pytest.raises(ValueError, match=r"\['v9'\] are not labelled videos.*v0, v1, v2, v3"):
        build_manifest(tmp_path, videos, val_paintings=["v1", "v9"])
    with pytest.raises(ValueError, match="leave at least one for training"):
        validation_paintings(videos, 0.2, videos)
