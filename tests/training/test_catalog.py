import re
from pathlib import Path

import pytest

from training.data.catalog import MAX_ID_LENGTH, find_video, new_video_ids, scan_videos, video_id_for


def touch(path: Path) -> Path:
    path.write_bytes(b"x")
    return path


def test_video_id_sanitises_stems():
    assert video_id_for(Path("My Painting (2).MP4")) == "My_Painting_2"
    assert video_id_for(Path("a-b_c.mov")) == "a-b_c"


@pytest.mark.parametrize(
    ("name", "expected"),
    [
        # ids are partition keys: an ASCII name keeps exactly the id it always had
        ("My Painting (2).MP4", "My_Painting_2"),
        ("a-b_c.mov", "a-b_c"),
        ("__x__.mp4", "x"),
        ("a.b c.mp4", "a_b_c"),
        # other names are transliterated (accents dropped; NFC and NFD spellings alike), else hashed
        ("ééé.mp4", "eee"),
        ("e\u0301e\u0301e\u0301.mp4", "eee"),
        ("Café au lait.mov", "Cafe_au_lait"),
        ("Ölbild – Ärger.mkv", "Olbild_Arger"),
        ("ｆｕｌｌｗｉｄｔｈ.mp4", "fullwidth"),
    ],
)
def test_video_ids_are_stable_and_non_ascii_names_are_transliterated(name: str, expected: str):
    assert video_id_for(Path(name)) == expected


def test_names_with_nothing_usable_get_a_stable_hashed_id():
    first = video_id_for(Path("日本.mp4"))
    assert re.fullmatch(r"video_[0-9a-f]{8}", first)
    assert video_id_for(Path("/elsewhere/日本.mov")) == first  # the name decides, not the folder or extension
    assert video_id_for(Path("中国.mp4")) != first
    assert re.fullmatch(r"video_[0-9a-f]{8}", video_id_for(Path("((.mp4")))


def test_overlong_names_are_cut_to_a_writable_id_and_stay_apart():
    one, two = (video_id_for(Path(f"{'x' * 300}{end}.mp4")) for end in "ab")
    assert len(one) <= MAX_ID_LENGTH and one != two
    assert re.fullmatch(r"x+_[0-9a-f]{8}", one)
    assert video_id_for(Path(f"{'y' * MAX_ID_LENGTH}.mp4")) == "y" * MAX_ID_LENGTH  # at the cap: unchanged


def test_scan_ignores_non_videos_hidden_files_and_reports_collisions(tmp_path: Path):
    touch(tmp_path / "one.mp4")
    touch(tmp_path / "two.webm")
    touch(tmp_path / "two.truth.json")
    touch(tmp_path / ".partial.mp4")
    touch(tmp_path / "o ne.mov")  # sanitises to o_ne: distinct
    touch(tmp_path / "o_ne.mkv")  # same id as "o ne.mov": skipped with a reason
    touch(tmp_path / "ééé.mp4")  # transliterated: a partition like any other
    (tmp_path / "folder.mp4").mkdir()
    catalog = scan_videos(tmp_path)
    assert set(catalog.videos) == {"one", "two", "o_ne", "eee"}
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
