"""Frame sampling: sample times, counts and pixels on a studio video; bad files raise VideoError."""

from __future__ import annotations

import tracemalloc
from fractions import Fraction
from pathlib import Path

import av
import numpy as np
import pytest

from training.data.frames import SampledFrame, iter_sampled_frames
from training.data.probe import VideoError
from training.data.studio import Studio, StudioConfig, generate_video

CONFIG = StudioConfig(duration_s=7.0, size=(320, 240), fps=10)
SEED = 131
FRAME_MS = 1000 // CONFIG.fps


@pytest.fixture(scope="module")
def studio_video(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Studio]:
    out = tmp_path_factory.mktemp("frames")
    video = generate_video(out, "frames-test", SEED, CONFIG)
    return video.video_path, Studio("frames-test", SEED, CONFIG)


def psnr(a: np.ndarray, b: np.ndarray) -> float:
    mse = np.mean((a.astype(np.float64) - b.astype(np.float64)) ** 2)
    return float(10 * np.log10(255**2 / max(mse, 1e-12)))


def expected_times(n_frames: int, every_s: float, start_s: float = 0.0) -> list[int]:
    """First frame time at or after each sample time, each frame once (the sampler's contract)."""
    times = [i * FRAME_MS for i in range(n_frames)]
    out: list[int] = []
    k = 0
    while True:
        target = round((start_s + k * every_s) * 1000, 6)
        later = [t for t in times if t >= target - 1e-6]
        if not later:
            return out
        if not out or later[0] != out[-1]:
            out.append(later[0])
        k += 1


@pytest.mark.parametrize("strategy", ["auto", "sequential", "seek"])
def test_samples_at_the_right_times_with_the_right_pixels(studio_video, strategy):
    path, studio = studio_video
    frames = list(iter_sampled_frames(path, every_s=1.0, strategy=strategy))
    assert len(frames) == 7  # 0 .. 6 s of a 7 s video (last frame at 6.9 s)
    for k, frame in enumerate(frames):
        assert isinstance(frame, SampledFrame)
        assert abs(frame.t_ms - 1000 * k) < FRAME_MS
        assert frame.image.dtype == np.uint8 and frame.image.shape == (240, 320, 3)
        index = round(frame.t_ms * CONFIG.fps / 1000)
        assert psnr(frame.image, studio.render(index)) > 28
    # neighbouring frames differ (hand, paint, noise), so matching pixels pin down the exact frame
    assert psnr(frames[3].image, studio.render(round(frames[3].t_ms * CONFIG.fps / 1000) + 1)) < psnr(
        frames[3].image, studio.render(round(frames[3].t_ms * CONFIG.fps / 1000))
    )


@pytest.mark.parametrize(("every_s", "start_s"), [(0.75, 0.0), (1.3, 0.45), (2.5, 1.0), (0.03, 6.5)])
def test_strategies_agree_with_the_contract(studio_video, every_s, start_s):
    path, _ = studio_video
    want = expected_times(CONFIG.n_frames, every_s, start_s)
    got = {s: list(iter_sampled_frames(path, every_s, start_s, strategy=s)) for s in ("auto", "sequential", "seek")}
    for frames in got.values():
        assert [f.t_ms for f in frames] == want
    for a, b in zip(got["sequential"], got["seek"], strict=True):
        assert np.array_equal(a.image, b.image)


def test_interval_shorter_than_a_frame_yields_every_frame_once(studio_video):
    path, _ = studio_video
    times = [f.t_ms for f in iter_sampled_frames(path, every_s=0.04)]
    assert times == [i * FRAME_MS for i in range(CONFIG.n_frames)]


def test_start_after_the_end_yields_nothing(studio_video):
    path, _ = studio_video
    assert list(iter_sampled_frames(path, every_s=1.0, start_s=30.0)) == []


def test_memory_does_not_grow_with_the_video(studio_video):
    path, _ = studio_video
    frame_bytes = 320 * 240 * 3
    tracemalloc.start()
    try:
        count = 0
        for _frame in iter_sampled_frames(path, every_s=0.1, strategy="sequential"):
            count += 1
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert count == CONFIG.n_frames
    assert peak < 6 * frame_bytes  # holding the frames would take 70x


@pytest.mark.parametrize("every_s", [0.0, -1.0, float("nan")])
def test_bad_interval_is_rejected(studio_video, every_s):
    path, _ = studio_video
    with pytest.raises(ValueError, match="every_s"):
        next(iter_sampled_frames(path, every_s))


def test_missing_and_garbage_files_name_the_file(tmp_path: Path):
    with pytest.raises(VideoError, match=r"nothere\.mp4"):
        next(iter_sampled_frames(tmp_path / "nothere.mp4", 1.0))
    garbage = tmp_path / "garbage.mp4"
    garbage.write_bytes(b"definitely not a video" * 50)
    with pytest.raises(VideoError, match=r"garbage\.mp4.*(Re-encode|remove)"):
        next(iter_sampled_frames(garbage, 1.0))


def test_truncated_file_names_the_file(studio_video, tmp_path: Path):
    path, _ = studio_video
    cut = tmp_path / "cut.mp4"
    cut.write_bytes(path.read_bytes()[: path.stat().st_size // 2])  # the index (moov) is at the end: lost
    with pytest.raises(VideoError, match=r"cut\.mp4"):
        list(iter_sampled_frames(cut, 1.0))


def remux_faststart(src: Path, dst: Path) -> Path:
    """Same packets with the index at the front, as web videos are: a cut file still opens."""
    with av.open(str(src)) as inp, av.open(str(dst), "w", options={"movflags": "faststart"}) as out:
        in_stream = inp.streams.video[0]
        out_stream = out.add_stream_from_template(in_stream)
        for packet in inp.demux(in_stream):
            if packet.dts is None:
                continue
            packet.stream = out_stream
            out.mux(packet)
    return dst


def test_file_cut_mid_stream_is_not_silently_shortened(studio_video, tmp_path: Path):
    path, _ = studio_video
    whole = remux_faststart(path, tmp_path / "whole.mp4")
    assert len(list(iter_sampled_frames(whole, 1.0))) == 7
    cut = tmp_path / "cut_fast.mp4"
    cut.write_bytes(whole.read_bytes()[: int(whole.stat().st_size * 0.6)])
    with pytest.raises(VideoError, match=r"cut_fast\.mp4.*(truncated|corrupt)"):
        list(iter_sampled_frames(cut, 1.0))


def test_corrupt_data_mid_stream_raises_instead_of_concealing(studio_video, tmp_path: Path):
    path, _ = studio_video
    data = bytearray(path.read_bytes())
    rng = np.random.default_rng(7)
    middle = len(data) // 2
    data[middle : middle + 4000] = rng.integers(0, 256, 4000, dtype=np.uint8).tobytes()
    broken = tmp_path / "broken.mp4"
    broken.write_bytes(bytes(data))
    with pytest.raises(VideoError, match=r"broken\.mp4.*decoding failed after \d+\.\d+ s"):
        list(iter_sampled_frames(broken, 0.5))


def test_timestamps_start_at_zero_for_streams_with_an_offset(tmp_path: Path):
    """Presentation times count from the stream's first frame even when the container starts later."""
    path = tmp_path / "offset.mp4"
    with av.open(str(path), "w") as container:
        stream = container.add_stream("libx264", rate=10)
        stream.width, stream.height, stream.pix_fmt = 64, 48, "yuv420p"
        stream.time_base = Fraction(1, 10)
        for i in range(30):
            frame = av.VideoFrame.from_ndarray(np.full((48, 64, 3), i * 8, np.uint8), format="rgb24")
            frame.pts = i + 15  # the stream starts at 1.5 s
            frame.time_base = Fraction(1, 10)
            container.mux(stream.encode(frame))
        container.mux(stream.encode(None))
    frames = list(iter_sampled_frames(path, every_s=1.0))
    assert [f.t_ms for f in frames] == [0, 1000, 2000]
    assert [int(f.image.mean() / 8 + 0.5) for f in frames] == [0, 10, 20]


def write_indexed_video(path: Path, n: int, keyint: int, fps: int = 10) -> Path:
    """Frame i shows a bright bar at column 4 * i: the decoded frame's index can be read back."""
    with av.open(str(path), "w") as container:
        stream = container.add_stream("libx264", rate=fps)
        stream.width, stream.height, stream.pix_fmt = 256, 64, "yuv420p"
        stream.options = {"x264-params": f"keyint={keyint}:min-keyint={keyint}:bframes=2"}
        for i in range(n):
            image = np.full((64, 256, 3), 40, np.uint8)
            image[:, 4 * i : 4 * i + 4] = 255
            container.mux(stream.encode(av.VideoFrame.from_ndarray(image, format="rgb24")))
        container.mux(stream.encode(None))
    return path


def shown_index(image: np.ndarray) -> int:
    return int(np.argmax(image[:, :, 0].mean(axis=0)) // 4)


@pytest.mark.parametrize("every_s", [0.5, 1.7, 3.0])
def test_seeking_over_short_keyframe_intervals_finds_the_same_frames(tmp_path: Path, every_s: float):
    path = write_indexed_video(tmp_path / "gop.mp4", n=60, keyint=8)
    want = [t // FRAME_MS for t in expected_times(60, every_s)]
    for strategy in ("auto", "sequential", "seek"):
        frames = list(iter_sampled_frames(path, every_s, strategy=strategy))
        assert [f.t_ms // FRAME_MS for f in frames] == want, strategy
        assert [shown_index(f.image) for f in frames] == want, strategy
