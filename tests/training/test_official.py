"""Importer of the paper's released layout: names, detection of the root, order, validation."""

from __future__ import annotations

import json
from pathlib import Path

import cv2
import numpy as np
import pytest

from training.data.catalog import id_for_name
from training.data.official_release import OfficialSequence, parse_frame_name, read_official_layout

NAMES = ["1_0:15", "2_0:40", "3_0:53", "10_3:21"]  # index 10 > 3 also checks numeric, not text, order


def make_sequence(folder: Path, names: list[str], order: dict | None = None, ext: str = ".jpg") -> Path:
    """A fake rgb/<name>/ folder: tiny images whose pixel value encodes their position in ``names``."""
    folder.mkdir(parents=True, exist_ok=True)
    for k, name in enumerate(names):
        cv2.imwrite(str(folder / f"{name}{ext}"), np.full((4, 6, 3), 10 * k, np.uint8))
    if order is not None:
        (folder / "last_aligned_frame_inv.json").write_text(json.dumps(order))
    return folder


@pytest.mark.parametrize(
    ("name", "expected"),
    [
        ("10_3:21", (10, 201_000)),
        ("10_3:21.jpg", (10, 201_000)),
        ("2_0:40.PNG", (2, 40_000)),
        ("7_75:04", (7, 4_504_000)),  # minutes above 59 in m:ss
        ("3_1:02:03.jpg", (3, 3_723_000)),  # h:mm:ss
        ("0_0:00", (0, 0)),
    ],
)
def test_parse_frame_name(name: str, expected: tuple[int, int]) -> None:
    assert parse_frame_name(name) == expected


@pytest.mark.parametrize(
    "name", ["white_10_3:21", "10_3:61", "10_1:60:00", "10-3:21", "10_321", "x_3:21", "10_3:21:0:0"]
)
def test_parse_frame_name_rejects(name: str) -> None:
    with pytest.raises(ValueError, match=r"10_3:21|below 60"):
        parse_frame_name(name)


def test_reads_json_order_with_target_last_from_each_kind_of_root(tmp_path: Path) -> None:
    order = {"10_3:21": ["1_0:15", "2_0:40", "3_0:53"]}
    folder = make_sequence(tmp_path / "train" / "rgb" / "my painting", NAMES, order)
    for root in (tmp_path / "train", tmp_path / "train" / "rgb", folder):
        (seq,) = read_official_layout(root)
        assert isinstance(seq, OfficialSequence)
        assert seq.name == "my_painting"
        assert [t for t, _ in seq.keyframes] == [15_000, 40_000, 53_000, 201_000]
        assert [p.name for _, p in seq.keyframes] == ["1_0:15.jpg", "2_0:40.jpg", "3_0:53.jpg", "10_3:21.jpg"]
        assert seq.target == folder / "10_3:21.jpg"
        assert seq.keyframes[-1][1] == seq.target


def test_without_json_orders_by_index_and_reads_several_sequences(tmp_path: Path) -> None:
    make_sequence(tmp_path / "rgb" / "b", ["12_2:00", "3_0:30", "7_1:10"], ext=".png")
    make_sequence(tmp_path / "rgb" / "a", ["1_0:05", "2_0:09"])
    (tmp_path / "rgb" / "b" / "notes.txt").write_text("ignored")
    seqs = read_official_layout(tmp_path)
    assert [s.name for s in seqs] == ["a", "b"]
    assert [p.name for _, p in seqs[1].keyframes] == ["3_0:30.png", "7_1:10.png", "12_2:00.png"]
    assert seqs[1].target.name == "12_2:00.png"


def test_missing_file_listed_in_json_names_it(tmp_path: Path) -> None:
    folder = make_sequence(tmp_path / "rgb" / "p", NAMES, {"10_3:21": ["1_0:15", "2_0:40", "4_0:59", "3_0:53"]})
    with pytest.raises(ValueError, match=r"4_0:59.*no \.jpg/\.png file"):
        read_official_layout(folder)


def test_file_not_listed_in_json_is_an_error(tmp_path: Path) -> None:
    folder = make_sequence(tmp_path / "p", NAMES, {"10_3:21": ["1_0:15", "3_0:53"]})
    with pytest.raises(ValueError, match=r"2_0:40\.jpg.*not listed"):
        read_official_layout(folder)


def test_times_not_increasing_names_the_file(tmp_path: Path) -> None:
    folder = make_sequence(tmp_path / "p", NAMES, {"10_3:21": ["2_0:40", "1_0:15", "3_0:53"]})
    with pytest.raises(ValueError, match=r"1_0:15\.jpg.*not after"):
        read_official_layout(folder)
    folder = make_sequence(tmp_path / "q", ["1_0:15", "2_0:10"])  # by index, time goes back
    with pytest.raises(ValueError, match=r"2_0:10\.jpg.*not after"):
        read_official_layout(folder)


def test_target_before_other_frames_is_rejected(tmp_path: Path) -> None:
    folder = make_sequence(tmp_path / "p", NAMES, {"1_0:15": ["2_0:40", "3_0:53", "10_3:21"]})
    with pytest.raises(ValueError, match=r"2_0:40|1_0:15"):
        read_official_layout(folder)


def test_duplicate_index_names_both_files(tmp_path: Path) -> None:
    folder = make_sequence(tmp_path / "p", ["1_0:15", "2_0:40", "2_0:41"])
    with pytest.raises(ValueError, match=r"2_0:4[01]\.jpg.*index 2.*2_0:4[01]\.jpg"):
        read_official_layout(folder)


def test_same_frame_twice_with_two_extensions(tmp_path: Path) -> None:
    folder = make_sequence(tmp_path / "p", ["1_0:15"])
    make_sequence(folder, ["1_0:15"], ext=".png")
    with pytest.raises(ValueError, match="two files for keyframe '1_0:15'"):
        read_official_layout(folder)


def test_bad_json_and_empty_roots(tmp_path: Path) -> None:
    folder = make_sequence(tmp_path / "p", NAMES)
    (folder / "last_aligned_frame_inv.json").write_text('{"10_3:21": ["1_0:15"], "3_0:53": []}')
    with pytest.raises(ValueError, match="expected one entry"):
        read_official_layout(folder)
    (folder / "last_aligned_frame_inv.json").write_text("{not json")
    with pytest.raises(ValueError, match="not valid JSON"):
        read_official_layout(folder)
    split = tmp_path / "sample" / "train" / "rgb"
    make_sequence(split / "x", NAMES)
    with pytest.raises(ValueError, match=r"split folders \['train'\]"):
        read_official_layout(tmp_path / "sample")
    with pytest.raises(ValueError, match="not a folder"):
        read_official_layout(tmp_path / "nowhere")


def test_names_that_sanitise_to_the_same_id_are_rejected(tmp_path: Path) -> None:
    make_sequence(tmp_path / "rgb" / "a b", NAMES[:2])
    make_sequence(tmp_path / "rgb" / "a_b", NAMES[:2])
    with pytest.raises(ValueError, match="'a_b' is also the id"):
        read_official_layout(tmp_path)


def test_folder_names_without_ascii_letters_get_the_ids_curate_gives_videos(tmp_path: Path) -> None:
    make_sequence(tmp_path / "rgb" / "ééé", NAMES[:2])
    make_sequence(tmp_path / "rgb" / "日本", NAMES[:2])
    names = [seq.name for seq in read_official_layout(tmp_path)]
    assert sorted(names) == sorted([id_for_name("ééé"), id_for_name("日本")])
    assert "eee" in names and any(name.startswith("video_") and len(name) == 14 for name in names)
