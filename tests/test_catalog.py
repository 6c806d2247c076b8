from pathlib import Path

import pytest

from training.data.catalog import find_video, new_video_ids, scan_videos, video_id_for


def touch(path: Path) -> Path:
    path.write_bytes(b"x")
    return path


def test_video_id_sanitises_stems():
    assert video_id_for(Path("My Painting (2).MP4")) == "My_Painting_2"
    assert video_id_for(Path("a-b_c.mov")) == "a-b_c"
    with pytest.raises(ValueError, match="no usable characters"):
        video_id_for(Path("((.mp4"))


def test_scan_ignores_non_videos_hidden_files_and_reports_collisions(tmp_path: Path):
    touch(tmp_path / "one.mp4")
    touch(tmp_path / "two.webm")
    touch(tmp_path / "two.truth.json")
    touch(tmp_path / ".partial.mp4")
    touch(tmp_path / "o ne.mov")  # sanitises to o_ne: distinct
    touch(tmp_path / "o_ne.mkv")  # same id as "o ne.mov": skipped with a reason
    (tmp_path / "folder.mp4").mkdir()
    catalog = scan_videos(tmp_path)
    assert set(catalog.videos) == {"one", "two", "o_ne"}
    assert catalog.videos["o_ne"].name == "o ne.mov"
    assert list(catalog.skipped) == [tmp_path / "o_ne.mkv"]
    assert "rename" in catalog.skipped[tmp_path / "o_ne.mkv"]


def test_new_ids_are_exactly_the_unknown_ones(tmp_path: Path):
    for name in ("a.mp4", "b.mp4", "c.mp4"):
        touch(tmp_path / name)
    assert new_video_ids(scan_videos(tmp_path), {"a", "zzz"}) == ["b", "c"]


def test_missing_folder_is_empty_and_missing_video_explains(tmp_path: Path):
    assert scan_videos(tmp_path / "absent").videos == {}
    with pytest.raises(FileNotFoundError, match=r"'gone'.*delete the partition"):
        find_video(tmp_path, "gone")
