"""The per-video writers the ingest, curate and annotate assets call: paths, contents, and all-or-nothing writes."""

import hashlib
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from tests.conftest import write_test_video
from training.data.frame_outputs import SURROUND_DIR, write_canvas_frames, write_sampled_frames
from training.data.images import read_gray, read_rgb, write_image
from training.data.keyframe_outputs import keyframe_name, write_imported_keyframes, write_keyframes
from training.data.keyframes import FrameDecision, KeyframeSelection
from training.data.pair_outputs import WHITE, write_difference_masks, write_frame_pairs
from training.data.probe import VideoError
from training.data.table_readers import LazyFrames
from training.data_root import DataRoot


def leftovers(folder: Path) -> list[str]:
    """What a staged write left beside its outputs (atomic_path / atomic_dir temporaries)."""
    return sorted(p.name for p in folder.iterdir() if p.name.startswith("."))


def test_sampled_frames_are_jpegs_at_their_times_with_their_hashes(tmp_path: Path):
    layout = DataRoot(tmp_path)
    video = write_test_video(tmp_path / "in.mp4", seconds=2.0)
    said = []
    written = write_sampled_frames(video, layout, "v", 0.5, progress=said.append)
    table = pd.read_parquet(layout.table_path("sampled_frames", "v"))
    assert written.table_path == layout.table_path("sampled_frames", "v")
    assert table["t_ms"].tolist() == [0, 500, 1000, 1500]
    assert table.to_dict("records") == written.rows
    folder = layout.images_dir("sampled_frames", "v")
    for row in written.rows:
        assert Path(row["path"]) == folder / f"{row['t_ms']:09d}.jpg"
        assert hashlib.sha1(Path(row["path"]).read_bytes()).hexdigest() == row["sha"]
    assert said == [] and leftovers(layout.asset_dir("sampled_frames")) == []

    # too few frames: an error naming the video, and the previous frames stay as they were
    with pytest.raises(VideoError, match=r"in\.mp4"):
        write_sampled_frames(video, layout, "v", 5.0)
    assert sorted(p.name for p in folder.iterdir()) == [f"{t:09d}.jpg" for t in (0, 500, 1000, 1500)]
    assert leftovers(layout.asset_dir("sampled_frames")) == []


def _frames(tmp_path: Path, count: int, size=(80, 60)) -> pd.DataFrame:
    rng = np.random.default_rng(0)
    (tmp_path / "src").mkdir(exist_ok=True)
    rows = []
    for i in range(count):
        path = write_image(tmp_path / "src" / f"{i}.jpg", rng.integers(0, 255, (size[1], size[0], 3), dtype=np.uint8))
        rows.append({"t_ms": i * 1000, "path": str(path)})
    return pd.DataFrame(rows)


QUAD = [[10.0, 10.0], [70.0, 12.0], [68.0, 50.0], [12.0, 48.0]]


def test_canvas_frames_are_rectified_with_surrounds_and_none_where_no_canvas(tmp_path: Path):
    layout = DataRoot(tmp_path / "data")
    frames = _frames(tmp_path, 3)
    geometry = pd.DataFrame({"t_ms": frames["t_ms"], "corners": [QUAD, None, QUAD]})
    written = write_canvas_frames(frames, geometry, layout, "v", 64, 0.12, 32)
    folder = layout.images_dir("canvas_frames", "v")
    assert written.table_path == layout.table_path("canvas_frames", "v")
    assert [r["path"] is None for r in written.rows] == [False, True, False]
    width, height = written.size
    assert max(written.size) == 64 and max(written.surround_size) == 32
    for row in (written.rows[0], written.rows[2]):
        assert Path(row["path"]).parent == folder
        assert Path(row["surround_path"]).parent == folder / SURROUND_DIR
        assert read_rgb(row["path"]).shape[:2] == (height, width)
        assert read_rgb(row["surround_path"]).shape[:2] == written.surround_size[::-1]
    table = pd.read_parquet(written.table_path)
    assert table.columns.tolist() == ["t_ms", "path", "surround_path", "surround_margin"]
    assert table["surround_margin"].tolist() == [0.12] * 3

    no_margin = write_canvas_frames(frames, geometry, layout, "v", 64, 0.0, 32)
    assert no_margin.surround_size is None and not (folder / SURROUND_DIR).exists()
    assert all(r["surround_path"] is None for r in no_margin.rows)

    with pytest.raises(ValueError, match=r"canvas_geometry/v\.parquet"):
        write_canvas_frames(frames, geometry.assign(corners=None), layout, "v", 64, 0.0, 32)


def _keyframes_table(tmp_path: Path) -> pd.DataFrame:
    frames = _frames(tmp_path, 3, size=(40, 30))
    return frames.assign(t_ms=[2000, 4000, 6000], is_target=[False, False, True])


def test_frame_pairs_start_from_a_white_canvas_at_the_targets_size(tmp_path: Path):
    layout = DataRoot(tmp_path / "data")
    kept = _keyframes_table(tmp_path)
    path, pairs = write_frame_pairs(kept, layout, "v")
    white = layout.images_dir("frame_pairs", "v") / WHITE
    assert path == layout.table_path("frame_pairs", "v") and pd.read_parquet(path).equals(pairs)
    assert (read_rgb(white) == 255).all() and read_rgb(white).shape == (30, 40, 3)
    assert pairs["prev_path"].tolist() == [str(white), *kept["path"].iloc[:2]]
    assert pairs["next_path"].tolist() == kept["path"].tolist()
    assert pairs["dt_s"].tolist() == [2.0, 2.0, 2.0]
    with pytest.raises(ValueError, match="no target"):
        write_frame_pairs(kept.assign(is_target=False), layout, "w")
    assert not layout.table_path("frame_pairs", "w").exists()


@dataclass
class _AbsDiff:
    """A distance backend stand-in: mean absolute channel difference in [0, 1]."""

    name: str = "abs-diff"
    threshold: float = 0.2
    stop_distance: float = 0.05

    def maps(self, a: np.ndarray, b: np.ndarray) -> np.ndarray:
        return np.abs(a.astype(np.float32) - b.astype(np.float32)).mean(axis=-1) / 255.0


def test_difference_masks_store_soft_maps_and_binary_masks_of_both_kinds(tmp_path: Path):
    layout = DataRoot(tmp_path / "data")
    _, pairs = write_frame_pairs(_keyframes_table(tmp_path), layout, "v")
    written = write_difference_masks(pairs, _AbsDiff(), layout, "v", batch_size=2, previews=2)
    folder = layout.images_dir("difference_masks", "v")
    table = pd.read_parquet(layout.table_path("difference_masks", "v"))
    assert written.table_path == layout.table_path("difference_masks", "v") and table.equals(written.table)
    assert table["pair_index"].tolist() == [0, 1, 2]
    assert set(table["backend"]) == {"abs-diff"} and set(table["threshold"]) == {0.2}
    assert len(written.previews) == 2 and written.previews[0].shape == (30, 40, 3)
    last = len(pairs) - 1
    for row in table.to_dict("records"):
        i = row["pair_index"]
        prev, nxt = read_rgb(pairs["prev_path"][i]), read_rgb(pairs["next_path"][i])
        expected = _AbsDiff().maps(nxt[None], prev[None])[0]
        soft = read_gray(row["mt_path"])
        assert np.abs(soft.astype(int) - np.rint(expected * 255).astype(int)).max() <= 1
        mask = read_gray(row["mt_mask_path"]) > 0
        assert row["mt_area"] == pytest.approx(mask.mean()) and (mask == (expected > 0.2)).mean() > 0.99
        assert Path(row["md_path"]) == folder / f"{i:03d}_md.png"
        if i == last:  # I_t is I_T in the last pair: M_t and M_d are the same map
            assert row["md_mean"] == pytest.approx(row["mt_mean"])


def test_keyframes_are_copied_under_the_papers_names_with_both_tables(tmp_path: Path):
    layout = DataRoot(tmp_path / "data")
    frames = _frames(tmp_path, 4)
    decisions = [
        FrameDecision(0, False, "occluded", "hand"),
        FrameDecision(1000, True, None),
        FrameDecision(2000, False, "unchanged"),
        FrameDecision(3000, True, None),
    ]
    selection = KeyframeSelection(decisions, target_t_ms=3000, completion_t_ms=3000, backend="temporal")
    kept, dropped, path_of = write_keyframes(layout, "v", LazyFrames(frames), selection)
    folder = layout.images_dir("keyframes", "v")
    assert kept["path"].tolist() == [str(folder / "1_0:01.jpg"), str(folder / "2_0:03.jpg")]
    assert kept["is_target"].tolist() == [False, True] and path_of[3000] == str(folder / "2_0:03.jpg")
    assert Path(kept["path"][0]).read_bytes() == Path(frames["path"][1]).read_bytes()  # copied, not re-encoded
    assert pd.read_parquet(layout.dropped_table_path("v")).to_dict("records") == [
        {"t_ms": 0, "reason": "occluded", "detail": "hand"},
        {"t_ms": 2000, "reason": "unchanged", "detail": ""},
    ]
    assert pd.read_parquet(layout.table_path("keyframes", "v")).equals(kept) and dropped["t_ms"].dtype == "int64"
    assert keyframe_name(12, 754_000) == "12_12:34.jpg"

    # already-curated frames replace the folder whole, under their own names, the last the target
    sources = [Path(p) for p in frames["path"][:2]]
    table = write_imported_keyframes(layout, "v", [(5000, sources[0]), (9000, sources[1])])
    assert sorted(p.name for p in folder.iterdir()) == ["0.jpg", "1.jpg"]
    assert pd.read_parquet(table)["is_target"].tolist() == [False, True]
    assert pd.read_parquet(layout.dropped_table_path("v")).empty
    assert leftovers(layout.asset_dir("keyframes")) == []
