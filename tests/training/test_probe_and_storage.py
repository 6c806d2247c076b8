from pathlib import Path

import pandas as pd
import pytest

from tests.conftest import write_test_video
from training.data.previews import frame_strip, video_thumbnails
from training.data.probe import VideoError, probe_video
from training.data.storage import atomic_dir, atomic_path, write_parquet


def test_probe_reads_container_facts(tmp_path: Path):
    path = write_test_video(tmp_path / "v.mp4", seconds=3.0, fps=10, size=(96, 64))
    probe = probe_video(path)
    assert probe.codec == "h264"
    assert (probe.width, probe.height) == (96, 64)
    assert probe.fps == pytest.approx(10.0)
    assert probe.duration_s == pytest.approx(3.0, abs=0.15)
    assert len(probe.sha256) == 64


@pytest.mark.parametrize("content", [b"", b"not a video at all" * 100])
def test_corrupt_video_error_names_the_file_and_the_fix(tmp_path: Path, content: bytes):
    path = tmp_path / "broken.mp4"
    path.write_bytes(content)
    with pytest.raises(VideoError, match=r"broken\.mp4.*(Re-encode|Re-export|Remove|Remux)"):
        probe_video(path)


def test_truncated_video_is_rejected(tmp_path: Path):
    path = write_test_video(tmp_path / "v.mp4", seconds=2.0)
    data = path.read_bytes()
    path.write_bytes(data[: len(data) // 3])
    with pytest.raises(VideoError, match=r"v\.mp4"):
        probe_video(path)


def test_thumbnails_are_spread_over_the_video(tmp_path: Path):
    path = write_test_video(tmp_path / "v.mp4", seconds=4.0, fps=10)
    shots = video_thumbnails(path, count=4)
    times = [t for t, _ in shots]
    assert len(shots) == 4 and times == sorted(times)
    assert times[0] < 1.0 and times[-1] > 3.0
    # The red bar sweeps left to right, so its column moves right from shot to shot.
    columns = [int((image[:, :, 0].astype(int) - image[:, :, 1]).mean(axis=0).argmax()) for _, image in shots]
    assert columns == sorted(columns) and columns[0] < columns[-1]
    strip = frame_strip([image for _, image in shots], ["a", "b", "c", "d"], height=32)
    assert strip.shape[0] == 32 and strip.shape[1] == 4 * 48 + 3 * 2


def test_atomic_write_leaves_nothing_on_failure(tmp_path: Path):
    target = tmp_path / "out" / "table.parquet"
    with pytest.raises(RuntimeError), atomic_path(target) as tmp:
        tmp.write_bytes(b"half")
        raise RuntimeError("killed")
    assert not target.exists()
    assert list(target.parent.iterdir()) == []
    write_parquet(pd.DataFrame({"a": [1]}), target)
    assert pd.read_parquet(target)["a"].tolist() == [1]
    assert [p.name for p in target.parent.iterdir()] == ["table.parquet"]


def test_atomic_dir_replaces_whole_folders_or_nothing(tmp_path: Path):
    target = tmp_path / "frames"
    with atomic_dir(target) as tmp:
        (tmp / "a.jpg").write_bytes(b"1")
    assert [p.name for p in target.iterdir()] == ["a.jpg"]
    with pytest.raises(RuntimeError), atomic_dir(target) as tmp:
        (tmp / "b.jpg").write_bytes(b"2")
        raise RuntimeError("killed half way")
    assert [p.name for p in target.iterdir()] == ["a.jpg"]  # the old complete folder survives
    with atomic_dir(target) as tmp:
        (tmp / "c.jpg").write_bytes(b"3")
    assert [p.name for p in target.iterdir()] == ["c.jpg"]
    assert [p.name for p in tmp_path.iterdir()] == ["frames"]  # no temporary folders left
